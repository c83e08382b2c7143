"""The gateway process: channels in, the conversation router, the outbox out.

``python -m bot.gateway`` runs it with the settings from the environment and
``.env`` (see :mod:`bot.settings`); :func:`create_app` builds it for tests,
with clients pointed at local fake platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bot import logs
from bot.assistant import Assistant
from bot.brand import Brand, load_brand
from bot.channels import twitter_limits
from bot.channels.telegram import TelegramChannel
from bot.channels.twitter import TwitterChannel
from bot.channels.webchat import WebchatChannel
from bot.conversation import waiting
from bot.conversation.handover import Desk
from bot.conversation.ingest import Accepted, Intake
from bot.conversation.turns import ConversationRouter
from bot.desk.ports import Trainers
from bot.desk.views import Links
from bot.edge import refusals
from bot.inbox import Inbox
from bot.messages import Channel, Sender
from bot.outbox import Outbox
from bot.pace import Pace
from bot.settings import ConfigError, Settings, load_settings
from bot.store.db import make_engine, migrate, read_session_factory, session_factory

logger = logging.getLogger(__name__)
HEALTH_INTERVAL = 5.0
# How often customers waiting for a person are looked at (updates, the bot back).
WAITING_INTERVAL = 30.0
# While the assistant starts, messages wait for it: look often, so they go soon after.
STARTING_INTERVAL = 0.25


class RunningDesk(Desk, Channel, Protocol):
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
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


GATEWAY = web.AppKey("gateway", Gateway)
#: Link makers of the platforms that have public posts (the desk shows them).
LINKS: Links = {"twitter": twitter_limits.post_link}


def create_app(
    settings: Settings,
    *,
    brand: Brand | None = None,
    twitter_connector: aiohttp.BaseConnector | None = None,
    desk_factory: Callable[[DeskParts], RunningDesk] | None = None,
) -> web.Application:
    """The gateway as an aiohttp application; everything starts with the app.

    ``desk_factory`` builds the agents' desk (default: Slack, when configured).
    """
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[refusals])
    brand = brand or load_brand()

    async def start(app: web.Application) -> None:
        # Database work runs in threads; the default pool (cores + 4) is too
        # small when many conversations wait on the store at once.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="store")
        )
        # A store thread waiting for the GIL waits up to the switch interval
        # (5 ms by default) while the event loop runs; each message crosses
        # several times, so hand the GIL over sooner.
        sys.setswitchinterval(0.0005)
        engine = make_engine(settings.database_url)
        await asyncio.to_thread(migrate, engine)
        gateway = _assemble(settings, brand, engine, twitter_connector, desk_factory)
        app[GATEWAY] = gateway
        try:
            for channel in gateway.channels.values():
                await channel.start()
        except BaseException:
            # A channel refused to start (a credential refused): aiohttp skips the
            # clean-up of an app that did not start, so close what is open here.
            await stop(app)
            raise
        gateway.tasks = [
            asyncio.create_task(gateway.inbox.run(), name="inbox"),
            asyncio.create_task(gateway.outbox.run(), name="outbox"),
            asyncio.create_task(_watch_assistant(gateway.assistant), name="health"),
            asyncio.create_task(_follow_up_waiting(gateway, brand), name="waiting"),
        ]
        if gateway.router.desk is None:
            logger.warning(
                "gateway: no agents' desk (Slack or web desk) is configured: no one can take "
                "a handover, so the bot offers no person and says what customers can do"
            )
        logger.info(
            "gateway: channels %s; assistant %s", ", ".join(gateway.channels), settings.rasa_url
        )

    async def stop(app: web.Application) -> None:
        gateway = app.get(GATEWAY)
        if gateway is None:
            return
        for task in gateway.tasks:
            task.cancel()
        await asyncio.gather(*gateway.tasks, return_exceptions=True)
        await gateway.inbox.idle()
        await gateway.outbox.idle()
        for channel in gateway.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        await gateway.http.close()
        gateway.engine.dispose()

    async def health(request: web.Request) -> web.Response:
        gateway = request.app[GATEWAY]
        return web.json_response(
            {
                "status": "ok",
                "assistant": gateway.assistant.available,
                "channels": list(gateway.channels),
            }
        )

    app.on_startup.append(start)  # type: ignore[arg-type]
    app.on_cleanup.append(stop)  # type: ignore[arg-type]
    app.router.add_get("/healthz", health)
    # The router is frozen before start-up, when the channels do not exist
    # yet: routes are declared here and find their channel per request.
    for name, method, path, handler in ROUTES:
        app.router.add_route(method, path, _to_channel(name, handler))
    return app


# (channel, HTTP method, path, method of the channel object)
ROUTES = [
    ("webchat", "GET", "/", "page"),
    ("webchat", "POST", "/webchat/api/messages", "receive"),
    ("webchat", "GET", "/webchat/api/messages", "replies"),
    ("telegram", "POST", "/telegram/webhook", "webhook"),
    ("desk", "POST", "/slack/events", "http_events"),
]


def _to_channel(name: str, handler: str) -> Any:
    async def route(request: web.Request) -> web.StreamResponse:
        channel = request.app[GATEWAY].channels.get(name)
        if channel is None or not hasattr(channel, handler):
            raise web.HTTPNotFound()
        return await getattr(channel, handler)(request)

    return route


def _assemble(
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
    channels: dict[str, Channel] = {"webchat": WebchatChannel(intake, reads)}
    paces: dict[str, Pace] = {}
    if settings.telegram is not None:
        channels["telegram"] = TelegramChannel(settings.telegram, intake, brand)
        paces["telegram"] = Pace(settings.telegram.per_chat_interval)
    if settings.twitter is not None:
        channels["twitter"] = TwitterChannel(
            settings.twitter, intake, brand, connector=twitter_connector
        )
    senders: dict[str, Sender] = dict(channels.items())
    outbox_due = asyncio.Event()
    factory = desk_factory or (_slack_desk if settings.slack is not None else None)
    desk: RunningDesk | None = None
    if factory is not None:
        parts = DeskParts(
            settings, sessions, assistant, brand, outbox_due.set, LINKS, _LazyReview(sessions)
        )
        desk = factory(parts)
        senders[desk.name] = desk
        channels["desk"] = desk
    router = ConversationRouter(
        sessions,
        assistant,
        brand,
        desk=desk,
        worker_id=settings.worker_id,
        lease_seconds=settings.lease_seconds,
        reads=reads,
    )
    outbox = Outbox(
        sessions, senders, settings.worker_id, paces=paces, reads=reads, wake=outbox_due
    )
    inbox = Inbox(
        router, sessions, settings.worker_id, settings.lease_seconds, on_handled=outbox.kick
    )
    return Gateway(
        settings, engine, sessions, http, assistant, router, intake, inbox, outbox, channels
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
    from bot.desk.operations import CareDesk
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
    )
    return SlackDesk(parts.settings.slack, care, parts.outbox_wake, parts.brand)


async def _follow_up_waiting(gateway: Gateway, brand: Brand) -> None:
    """Customers waiting for a person get their update, or the bot back
    (bot/conversation/waiting.py)."""
    while True:
        await asyncio.sleep(WAITING_INTERVAL)
        try:
            queued = await asyncio.to_thread(
                waiting.follow_up_waiting, gateway.sessions, brand, gateway.router.clock()
            )
        except Exception:
            logger.exception("gateway: following up waiting customers failed")
            continue
        if queued:
            gateway.outbox.wake()


async def _watch_assistant(assistant: Assistant) -> None:
    while True:
        with contextlib.suppress(Exception):
            await assistant.check()
        await asyncio.sleep(STARTING_INTERVAL if assistant.starting else HEALTH_INTERVAL)


def main() -> None:
    """Command line entry point."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings)
    # In-flight requests get a few seconds to finish on shutdown (aiohttp waits a
    # minute by default); everything accepted is in the store by then anyway.
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=5.0,
        )
    except ConfigError as error:  # found at start-up (a platform refused a credential)
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
