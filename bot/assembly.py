"""How the gateway's parts are built: channels, intake, router, inbox, outbox and desks.

:func:`assemble` builds them in order, each complete when built; the gateway
(bot/gateway.py) runs them. The desks: Slack when configured (or a test's,
``desk_factory``), and the web desk when agents are (``DESK_AGENTS``); with
either, the router promises customers a person, and one :class:`CareDesk`
holds the operations both work through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bot.assistant import Assistant
from bot.brand import Brand
from bot.channels import twitter_limits
from bot.channels.telegram import TelegramChannel
from bot.channels.twitter import TwitterChannel
from bot.channels.webchat import WebchatChannel
from bot.conversation.csat import Ratings
from bot.conversation.handover import Desk
from bot.conversation.ingest import Accepted, Intake
from bot.conversation.turns import ConversationRouter
from bot.desk.operations import CareDesk
from bot.desk.ports import Trainers
from bot.desk.views import Links
from bot.inbox import Inbox
from bot.messages import Channel, Sender
from bot.outbox import Outbox
from bot.pace import Pace
from bot.settings import Settings
from bot.store.db import read_session_factory, session_factory


class RunningDesk(Channel, Desk, Protocol):
    """An agents' desk as the gateway runs it: told by the core, started with the app,
    and the sender of its own queued items (bot/desk/slack.py)."""


@dataclass(frozen=True)
class DeskParts:
    """What a desk is built from (see ``desk_factory`` in :func:`create_app`)."""

    settings: Settings
    sessions: sessionmaker
    assistant: Assistant
    brand: Brand
    #: Tells the outbox that the desk queued something.
    outbox_wake: Callable[[], None]
    #: Links to customers' posts, per channel (bot/desk/views.py).
    links: Links
    #: The trainers' review inbox, built when an agent first corrects the bot.
    review: Trainers
    #: The customers' satisfaction, asked once a ticket is resolved.
    ratings: Ratings | None = None


@dataclass
class Gateway:
    """The running parts, reachable from tests."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    http: aiohttp.ClientSession
    assistant: Assistant
    router: ConversationRouter
    intake: Intake
    inbox: Inbox
    outbox: Outbox
    channels: dict[str, Any]
    #: The agents' desks that are on ("slack", "web", or a test's): none, no person is
    #: promised (bot/conversation/turns.py).
    desks: list[str]
    #: The desk operations, when agents work in Slack or on the web desk (bot/desk/web.py
    #: uses them; the service-level loop checks their tickets).
    care: CareDesk | None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    metrics: web.AppRunner | None = None  # Prometheus /metrics, on its own port


#: Link makers of the platforms that have public posts (the desk shows them).
LINKS: Links = {"twitter": twitter_limits.post_link}
#: The channels whose adapters show one-tap rating buttons in a private conversation
#: (Twitter's have none: bot/conversation/csat.py).
RATED_CHANNELS = frozenset({WebchatChannel.name, TelegramChannel.name})


def assemble(
    settings: Settings,
    brand: Brand,
    engine: Engine,
    twitter_connector: aiohttp.BaseConnector | None,
    desk_factory: Callable[[DeskParts], RunningDesk] | None,
) -> Gateway:
    """Builds the parts in order, each complete when built (nothing is set afterwards).

    The one cycle, channels -> intake -> inbox -> outbox -> channels (a channel
    both reads and sends), is closed by ``wake`` below: the intake is built
    with it, and it reaches the inbox, built a few lines later.
    """
    sessions = session_factory(engine)
    reads = read_session_factory(engine)
    http = aiohttp.ClientSession()
    assistant = Assistant(
        settings.rasa_url,
        http,
        settings.rasa_timeout,
        settings.action_server_url,
        concurrency=settings.rasa_concurrency,
        startup_seconds=settings.rasa_startup_seconds,
    )

    def wake(accepted: Accepted) -> None:
        """Messages were stored: start on the conversations they leased to us; look for
        the others (a conversation another worker held may be free by now)."""
        inbox.take(accepted.leased)
        if accepted.unleased:
            inbox.wake()

    intake = Intake(
        sessions,
        wake,
        worker_id=settings.worker_id,
        lease_seconds=settings.lease_seconds,
        reads=reads,
    )
    ratings = Ratings(sessions, brand, RATED_CHANNELS)
    channels: dict[str, Channel] = {"webchat": WebchatChannel(intake, reads, ratings)}
    paces: dict[str, Pace] = {}
    if settings.telegram is not None:
        channels["telegram"] = TelegramChannel(settings.telegram, intake, brand, ratings)
        paces["telegram"] = Pace(settings.telegram.per_chat_interval)
    if settings.twitter is not None:
        channels["twitter"] = TwitterChannel(
            settings.twitter, intake, brand, connector=twitter_connector
        )
    senders: dict[str, Sender] = dict(channels.items())
    outbox_due = asyncio.Event()
    factory = desk_factory or (_slack_desk if settings.slack is not None else None)
    parts = DeskParts(
        settings, sessions, assistant, brand, outbox_due.set, LINKS, _LazyReview(sessions), ratings
    )
    running = factory(parts) if factory is not None else None
    desks: list[str] = []
    care: CareDesk | None = None
    if running is not None:
        assert running.name is not None  # a running desk sends its own items
        senders[running.name] = running
        channels["desk"] = running
        desks.append(running.name)
        care = _care_of_desk(running)
    if settings.desk is not None:
        desks.append("web")
        # The web desk alone queues nothing for Slack: it reads tickets from the store.
        care = care or CareDesk(
            sessions,
            assistant,
            brand,
            channel=None,
            review=parts.review,
            links=LINKS,
            ratings=ratings,
        )
    desk: Desk | None = running or care
    router = ConversationRouter(
        sessions,
        assistant,
        brand,
        desk=desk,
        worker_id=settings.worker_id,
        lease_seconds=settings.lease_seconds,
        reads=reads,
        assistant_wait_seconds=settings.rasa_wait_seconds,
        ratings=ratings,
    )
    outbox = Outbox(
        sessions, senders, settings.worker_id, paces=paces, reads=reads, wake=outbox_due
    )
    inbox = Inbox(
        router, sessions, settings.worker_id, settings.lease_seconds, on_handled=outbox.kick
    )
    return Gateway(
        settings,
        engine,
        sessions,
        http,
        assistant,
        router,
        intake,
        inbox,
        outbox,
        channels,
        desks,
        care,
    )


class _LazyReview:
    """The trainers' review inbox (bot/review/inbox.py), built on first use: it reads the
    training configuration, which the gateway does not need to run."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions
        self._inbox: Trainers | None = None

    def _built(self) -> Trainers:
        if self._inbox is None:
            from bot.review.inbox import ReviewInbox

            self._inbox = ReviewInbox(self.sessions)
        return self._inbox

    def known_intents(self) -> list[str]:
        return self._built().known_intents()

    def add_relabel(self, message_id: int, intent: str, agent: str) -> int:
        return self._built().add_relabel(message_id, intent, agent)


def _slack_desk(parts: DeskParts) -> RunningDesk:
    from bot.desk.cards import SlackMarkup
    from bot.desk.slack import SlackDesk

    assert parts.settings.slack is not None
    care = CareDesk(
        parts.sessions,
        parts.assistant,
        parts.brand,
        channel=SlackDesk.name,
        review=parts.review,
        markup=SlackMarkup(),
        links=parts.links,
        ratings=parts.ratings,
    )
    return SlackDesk(parts.settings.slack, care, parts.outbox_wake, parts.brand)


def _care_of_desk(desk: RunningDesk) -> CareDesk | None:
    """The operations behind a running desk (the Slack desk's), if it has them."""
    care = getattr(desk, "desk", None)
    return care if isinstance(care, CareDesk) else None
