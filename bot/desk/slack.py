"""The agents' desk in Slack, with slack-bolt: cards, buttons, thread replies, notes, queue.

Socket Mode by default (no public URL); HTTP mode (``/slack/events``) with
Slack's request signing, which Bolt verifies before any listener runs. Every
listener does its work (one short transaction) before the acknowledgement goes
back, so a click or a thread reply is never acknowledged and then lost; Slack
retries of the same event are recognised by its ``event_id``. What waits for
Rasa (the bot's greeting after "Hand back") runs after the acknowledgement,
as a Bolt lazy listener: Rasa may take its 10 s timeout, Slack waits 3 s.

Messages to Slack (cards, card updates, customer messages in threads, service
level notices) go through the gateway's durable outbox like replies to
customers do; this class is also that outbox's sender for Slack. Service levels
are checked by the gateway's one loop over tickets (bot/gateway.py), whatever
desks are on; a breach's notice comes here through the outbox.

Just over 400 lines: one Bolt listener per desk action, each a few lines, read
together; the card and every other piece of Slack markup are in cards.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot.brand import Brand
from bot.desk import cards, slack_requests
from bot.desk.cards import card_blocks, card_text, note_modal, queue_text, relabel_modal
from bot.desk.operations import CareDesk, Outcome, Refused, handed_back
from bot.messages import CANNOT_TELL, NOT_SENT, OutboundReply, SendError, SentLookup
from bot.settings import SlackSettings
from bot.store.models import Message, Ticket
from bot.store.records import utcnow
from bot.text import clean_text

logger = logging.getLogger(__name__)

MEMBERS_TTL = 60.0
CANNOT_CHECK = (
    "Sorry, I can't check the care team's members right now; please try again in a minute."
)
# Where "Hand back" leaves the assistant's id of the conversation for its lazy half.
HANDED_BACK_TO = "northwind_handed_back_to"
NOT_AN_AGENT = (
    "Sorry, only members of the care team can work on tickets. "
    "Ask a care team lead to add you if you should be."
)


class SlackDesk:
    """Slack as the agents' desk; also the outbox's sender for channel ``slack``."""

    name = "slack"

    def __init__(
        self,
        settings: SlackSettings,
        desk: CareDesk,
        wake: Callable[[], None],
        brand: Brand,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.desk = desk
        self.wake = wake
        self.brand = brand
        self.clock = clock
        self.client = AsyncWebClient(token=settings.bot_token.reveal(), base_url=settings.api_url)
        self.app = AsyncApp(
            token=settings.bot_token.reveal(),
            signing_secret=settings.signing_secret.reveal() if settings.signing_secret else None,
            client=self.client,
            process_before_response=True,
            request_verification_enabled=settings.mode == "http",
        )
        self._members: tuple[float, set[str]] = (0.0, set())
        self._socket: Any = None
        self.app.middleware(slack_requests.checked)  # Socket Mode envelopes, HTTP requests
        self._register()

    # ----------------------------------------------------- router hooks
    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.desk.ticket_opened(session, ticket, now)

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        self.desk.customer_wrote(session, ticket, message, now)

    def ticket_given_back(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.desk.ticket_given_back(session, ticket, now)

    # ------------------------------------------------------- life cycle
    async def start(self) -> None:
        if self.settings.mode == "socket":
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            assert self.settings.app_token is not None
            self._socket = AsyncSocketModeHandler(
                self.app,
                self.settings.app_token.reveal(),
                web_client=AsyncWebClient(base_url=self.settings.api_url),
            )
            await self._socket.connect_async()
        logger.info(
            "desk: Slack (%s mode), channel %s",
            self.settings.mode,
            self.settings.escalation_channel,
        )

    async def stop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()

    async def http_events(self, request: web.Request) -> web.StreamResponse:
        """HTTP mode: events, interactivity and slash commands, signed by Slack; the
        signature is checked before the body is read, its shape before Bolt reads it."""
        if self.settings.mode != "http":
            raise web.HTTPNotFound()
        assert self.settings.signing_secret is not None  # settings refuse HTTP mode without
        secret = self.settings.signing_secret.reveal()
        bolt_request = await slack_requests.bolt_request(request, secret, time.time())
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    # ---------------------------------------------------- authorisation
    async def is_agent(self, user: str) -> bool:
        """Members of the agents' user group, or of the escalation channel."""
        fetched, members = self._members
        if time.monotonic() - fetched > MEMBERS_TTL:
            if self.settings.agents_group:
                answer = await self.client.usergroups_users_list(
                    usergroup=self.settings.agents_group
                )
                members = set(answer.get("users") or [])
            else:
                answer = await self.client.conversations_members(
                    channel=self.settings.escalation_channel, limit=1000
                )
                members = set(answer.get("members") or [])
            self._members = (time.monotonic(), members)
        return user in members

    async def _tell(self, user: str, text: str, thread_ts: str | None = None) -> None:
        """An ephemeral message only ``user`` sees."""
        kwargs: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        with contextlib.suppress(SlackApiError):
            await self.client.chat_postEphemeral(
                channel=self.settings.escalation_channel, user=user, text=text, **kwargs
            )

    async def _as_agent(
        self,
        user: str,
        action: str,
        ticket_id: int | None,
        work: Callable[[], Awaitable[Outcome]],
        thread_ts: str | None = None,
    ) -> Outcome | None:
        """Runs an agent's action if they may; tells them the outcome or the refusal.
        Returns the outcome, None when refused."""
        try:
            allowed = await self.is_agent(user)
        except SlackApiError as error:
            # Fail closed: without the members list nobody may act.
            logger.warning("desk: cannot read the care team's members: %s", error)
            await self._tell(user, CANNOT_CHECK, thread_ts)
            return None
        if not allowed:
            await asyncio.to_thread(self.desk.refuse, user, action, ticket_id, "not an agent")
            await self._tell(user, NOT_AN_AGENT, thread_ts)
            return None
        try:
            outcome = await work()
        except Refused as refusal:
            await asyncio.to_thread(self.desk.refuse, user, action, ticket_id, str(refusal))
            await self._tell(user, str(refusal), thread_ts)
            return None
        self.wake()
        await self._tell(user, outcome.message, thread_ts)
        return outcome

    async def _may_open_modal(self, user: str, action: str, ticket_id: int) -> bool:
        """Whether ``user`` is an agent; refuses (and says so) otherwise."""
        if await self.is_agent(user):
            return True
        await asyncio.to_thread(self.desk.refuse, user, action, ticket_id, "not an agent")
        await self._tell(user, NOT_AN_AGENT)
        return False

    # -------------------------------------------------------- listeners
    def _register(self) -> None:
        app = self.app

        def sync(fn: Callable[..., Outcome], *args: Any) -> Callable[[], Awaitable[Outcome]]:
            return lambda: asyncio.to_thread(fn, *args)

        @app.action("claim")
        async def claim(ack: Any, body: dict[str, Any]) -> None:
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])
            await self._as_agent(user, "claim", ticket_id, sync(self.desk.claim, ticket_id, user))
            await ack()

        @app.action("resolve")
        async def resolve(ack: Any, body: dict[str, Any]) -> None:
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])
            await self._as_agent(
                user, "resolve", ticket_id, sync(self.desk.resolve, ticket_id, user)
            )
            await ack()

        async def hand_back(ack: Any, body: dict[str, Any], context: dict[str, Any]) -> None:
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])

            async def give_back() -> Outcome:
                context[HANDED_BACK_TO] = await asyncio.to_thread(
                    self.desk.give_back, ticket_id, user
                )
                return Outcome(handed_back(ticket_id))

            await self._as_agent(user, "hand_back", ticket_id, give_back)
            await ack()

        async def greet_again(body: dict[str, Any], context: dict[str, Any]) -> None:
            # After the acknowledgement, with a copy of the context (Bolt lazy listener).
            sender = context.get(HANDED_BACK_TO)
            if sender is None:  # refused: nothing was handed back
                return
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])
            unavailable = await self.desk.greet_again(ticket_id)
            self.wake()
            if unavailable:
                await self._tell(user, unavailable)

        app.action("hand_back")(ack=hand_back, lazy=[greet_again])

        @app.action("priority")
        async def priority(ack: Any, body: dict[str, Any]) -> None:
            user = body["user"]["id"]
            ticket, _, level = body["actions"][0]["selected_option"]["value"].partition(":")
            ticket_id = int(ticket)
            await self._as_agent(
                user, "priority", ticket_id, sync(self.desk.set_priority, ticket_id, user, level)
            )
            await ack()

        @app.action("note")
        async def note(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])
            if not await self._may_open_modal(user, "note", ticket_id):
                return
            await self.client.views_open(trigger_id=body["trigger_id"], view=note_modal(ticket_id))

        @app.action("relabel")
        async def relabel(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            user, ticket_id = body["user"]["id"], int(body["actions"][0]["value"])
            if not await self._may_open_modal(user, "relabel", ticket_id):
                return
            try:
                messages = await asyncio.to_thread(self.desk.relabel_choices, ticket_id)
            except Refused as refusal:
                await self._tell(user, str(refusal))
                return
            if not messages:
                await self._tell(user, "The bot has not classified any message of this ticket.")
                return
            intents = await asyncio.to_thread(self.desk.review.known_intents)
            view = relabel_modal(ticket_id, messages, intents)
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)

        @app.view("relabel")
        async def relabelled(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
            await ack()
            user, ticket_id = body["user"]["id"], int(view["private_metadata"])
            values = view["state"]["values"]
            message = (values["message"]["choice"].get("selected_option") or {}).get("value")
            intent = (values["intent"]["choice"].get("selected_option") or {}).get("value")
            if not (message and str(message).isdigit() and intent):
                await self._tell(user, "Choose a message and what it was about.")
                return
            work = sync(self.desk.relabel, ticket_id, user, int(message), str(intent))
            await self._as_agent(user, "relabel", ticket_id, work)

        @app.view("internal_note")
        async def note_written(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
            user = body["user"]["id"]
            ticket_id = int(view["private_metadata"])
            text = clean_text(view["state"]["values"]["note"]["text"].get("value") or "").strip()
            if not text:
                await ack(response_action="errors", errors={"note": "Write something first."})
                return
            await self._as_agent(
                user, "note", ticket_id, sync(self.desk.note, ticket_id, user, text)
            )
            await ack()

        @app.event("message")
        async def thread_message(body: dict[str, Any], event: dict[str, Any]) -> None:
            await self._thread_message(body, event)

        @app.command("/care-queue")
        async def queue(ack: Any, body: dict[str, Any]) -> None:
            user = body["user_id"]
            if not await self.is_agent(user):
                await asyncio.to_thread(self.desk.refuse, user, "queue", None, "not an agent")
                await ack(text=NOT_AN_AGENT)
                return
            views = await asyncio.to_thread(self.desk.queue)
            await ack(text=queue_text(views, self.clock()))

    async def _thread_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """An agent wrote in a ticket's thread: to the customer (or refused)."""
        if event.get("channel") != self.settings.escalation_channel:
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts or event.get("subtype") or event.get("bot_id"):
            return  # not a reply in a thread, or an edit, a join, our own post...
        # What the customer will read: Slack's markup undone, cleaned at this edge like
        # customers' own text.
        user, text = event.get("user"), clean_text(cards.plain_text(event.get("text") or ""))
        text = text.strip()
        if not user or not text:
            return
        ticket_id = await asyncio.to_thread(self.desk.ticket_for_thread, thread_ts)
        if ticket_id is None:
            return
        event_id = str(body.get("event_id") or f"{event.get('channel')}:{ts}")
        await self._as_agent(
            user,
            "reply",
            ticket_id,
            lambda: asyncio.to_thread(self.desk.reply, ticket_id, user, text, event_id),
            thread_ts=thread_ts,
        )

    # ----------------------------------------------------------- sender
    async def send(self, reply: OutboundReply) -> str:
        """Posts a desk item from the outbox: card, card update, thread message, notice."""
        payload = reply.extra
        ticket_id = int(payload["ticket_id"])
        kind = payload.get("kind")
        try:
            if kind in ("card", "update"):
                return await self._post_card(ticket_id, create=kind == "card")
            thread = await asyncio.to_thread(self._thread_of, ticket_id)
            if thread is None:
                raise SendError("the ticket's card is not posted yet", retry_after=2.0)
            answer = await self.client.chat_postMessage(
                channel=self.settings.escalation_channel,
                thread_ts=thread,
                text=payload["text"],
                reply_broadcast=kind == "notice",  # a service level breach: thread and channel
            )
            return str(answer["ts"])
        except SlackApiError as error:
            status = error.response.status_code
            if status == 429:
                retry = float(error.response.headers.get("Retry-After", "5"))
                raise SendError(f"Slack rate limit: {error}", retry_after=retry) from error
            raise SendError(
                f"Slack refused: {error.response.get('error')}", permanent=status < 500
            ) from error
        except (asyncio.TimeoutError, OSError) as error:
            raise SendError(f"Slack unreachable: {error}", maybe_sent=True) from error

    async def _post_card(self, ticket_id: int, create: bool) -> str:
        view = await asyncio.to_thread(self.desk.view, ticket_id)
        blocks, text = card_blocks(view, self.clock()), card_text(view)
        thread = await asyncio.to_thread(self._thread_of, ticket_id)
        if thread is not None:
            await self.client.chat_update(
                channel=self.settings.escalation_channel, ts=thread, blocks=blocks, text=text
            )
            return thread
        if not create:
            return "not-posted-yet"  # the card, when it goes out, shows the latest state
        answer = await self.client.chat_postMessage(
            channel=self.settings.escalation_channel, blocks=blocks, text=text
        )
        await asyncio.to_thread(self._set_thread, ticket_id, str(answer["ts"]))
        return str(answer["ts"])

    def _thread_of(self, ticket_id: int) -> str | None:
        with self.desk.sessions() as session:
            ticket = session.get(Ticket, ticket_id)
            return ticket.desk_thread if ticket else None

    def _set_thread(self, ticket_id: int, ts: str) -> None:
        with self.desk.sessions.begin() as session:
            ticket = session.get(Ticket, ticket_id)
            ticket.desk_channel = self.settings.escalation_channel
            ticket.desk_thread = ts

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        """Cards are posted once (a second attempt updates the first); threads cannot tell."""
        if reply.extra.get("kind") in ("card", "update"):
            return NOT_SENT
        return CANNOT_TELL
