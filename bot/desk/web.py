"""The agents' web desk: the queue and the tickets in a browser, served by the gateway.

The same operations as the Slack desk, on the same tickets, through the same
:class:`~bot.desk.operations.CareDesk`: claim, reply, internal note, priority,
resolve, hand back, correct the bot. One owner holds either way, because a
claim is one conditional update of the ticket whoever makes it; a web agent's
id is their account name (lowercase, so never a Slack user id).

Routes (all behind the agents' login, :mod:`bot.desk.agents`)::

    GET  /desk                               the page (desk.html, desk.js)
    GET  /desk/api/queue                     open and claimed tickets
    GET  /desk/api/tickets/{id}              the card, the conversation, the notes
    GET  /desk/api/tickets/{id}/relabel      messages the bot classified, intents
    POST /desk/api/tickets/{id}/{operation}  claim, reply, note, priority, resolve,
                                             hand_back, relabel (JSON body)

The page polls the queue and the open ticket every 2 seconds rather than
holding a server-sent event stream: each poll is one short read of the store,
which every gateway process can answer (nothing needs to tell the process an
agent is connected to what another process stored), and it passes any proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import conint, validator
from sqlalchemy import select

from bot.contract import MAX_TEXT_CHARS, reason_label
from bot.conversation.handover import recent
from bot.conversation.waiting import GIVEN_BACK
from bot.desk.agents import Agent, Login, add_login_routes, agent_of
from bot.desk.cards import (
    PRIORITIES,
    TicketView,
    customer_label,
    shown_slots,
    status_words,
    ticket_actions,
    wait_ended,
    wait_words,
    waited,
)
from bot.desk.operations import CareDesk, Outcome, Refused
from bot.desk.ports import PlainMarkup
from bot.edge import PageId, Refusal, Strict, read_json, validated
from bot.settings import DeskSettings
from bot.store.models import AuditEvent, Ticket
from bot.store.records import utcnow
from bot.text import clean_text

logger = logging.getLogger(__name__)
T = TypeVar("T")

PAGE = Path(__file__).with_name("desk.html")
SCRIPT = Path(__file__).with_name("desk.js")
PREFIX = "/desk"
MAX_TEXT = MAX_TEXT_CHARS
SHOWN_MESSAGES = 200
# What agents did on a ticket, shown beside the conversation (refusals are only audited).
ACTIVITY = {
    "claimed": "claimed it",
    "internal_note": "note",
    "priority": "set the priority",
    "resolved": "resolved it",
    "handed_back": "handed it back to the bot",
    GIVEN_BACK: "gave it back to the bot: no one took it in time",
    "sla_breached": "past the service level",
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Only our own script; no framing (a click on "Claim" is not for another site).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# The page's id for one reply, so a resent POST is sent to the customer once.
ReplyKey = PageId
# Activity of the gateway's own loop, not of an agent (bot/conversation/waiting.py, the
# service levels): its actor is named as it is.
NOT_BY_AGENTS = frozenset({GIVEN_BACK, "sla_breached"})


def agent_name(agent: str) -> str:
    """An agent as the web desk names them everywhere ("@alice"): the page's header (who
    is logged in), the queue, the ticket's header, the conversation, the activity, and the
    operations' answers (whose :class:`~bot.desk.ports.PlainMarkup` this is)."""
    return PlainMarkup().mention(agent)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    value = clean_text(value).strip()
    if not value or len(value) > MAX_TEXT:
        raise ValueError(f"must be 1-{MAX_TEXT} characters")
    return value


class Reply(Strict):
    text: str
    key: ReplyKey
    _clean = validator("text", pre=True, allow_reuse=True)(_text)


class Note(Strict):
    text: str
    _clean = validator("text", pre=True, allow_reuse=True)(_text)


class PriorityChange(Strict):
    priority: str

    @validator("priority")
    def _known(cls, value: str) -> str:
        if value not in PRIORITIES:
            raise ValueError(f"must be one of {', '.join(PRIORITIES)}")
        return value


class Relabel(Strict):
    message_id: conint(strict=True, ge=1, le=2**63 - 1)  # type: ignore[valid-type]
    intent: str


class WebDesk:
    """The desk's routes; finds the gateway's CareDesk once the gateway has started."""

    def __init__(
        self,
        care: Callable[[], CareDesk],
        wake: Callable[[], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._care_factory = care
        self._care: CareDesk | None = None
        self.wake = wake
        self.clock = clock

    @property
    def care(self) -> CareDesk:
        if self._care is None:
            self._care = self._care_factory()
        return self._care

    # ----------------------------------------------------------------- pages
    async def page(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        html = PAGE.read_text(encoding="utf-8")
        html = html.replace("{{csrf}}", escape(agent.csrf))
        html = html.replace("{{agent}}", escape(agent_name(agent.name)))
        return web.Response(text=html, content_type="text/html", headers=PAGE_HEADERS)

    async def script(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(SCRIPT, headers={"Cache-Control": "no-store"})

    # ----------------------------------------------------------------- reads
    async def queue(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        views = await asyncio.to_thread(self.care.queue)
        now = self.clock()
        return web.json_response(
            {"agent": agent.name, "tickets": [_summary(v, now) for v in views]}
        )

    async def ticket(self, request: web.Request) -> web.Response:
        agent, ticket_id = _agent(request), _ticket_id(request)
        view = await _found(self.care.view, ticket_id)
        conversation, activity = await asyncio.to_thread(self._history, ticket_id)
        return web.json_response(
            {
                "ticket": _card(view, self.clock(), agent.name),
                "conversation": conversation,
                "activity": activity,
            }
        )

    def _history(self, ticket_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ticket's conversation (the latest messages) and what agents did on it."""
        with self.care.sessions() as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None  # view() found it; tickets are never deleted
            messages = recent(session, ticket.conversation_id, SHOWN_MESSAGES)
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.ticket_id == ticket_id, AuditEvent.action.in_(list(ACTIVITY)))
                .order_by(AuditEvent.id)
            ).all()
            conversation = [
                {
                    "id": m.id,
                    "author": m.author.value,
                    "text": m.text or f"[{m.kind}]",
                    "at": _iso(m.created_at),
                    "agent": m.agent_id,
                    "agent_name": agent_name(m.agent_id) if m.agent_id else None,
                }
                for m in messages
            ]
            activity = [
                {
                    "id": e.id,
                    "actor": e.actor,
                    "who": e.actor if e.action in NOT_BY_AGENTS else agent_name(e.actor),
                    "action": ACTIVITY[e.action],
                    "text": (e.details or {}).get("text")
                    or (e.details or {}).get("priority")
                    or "",
                    "at": _iso(e.at),
                }
                for e in events
            ]
        return conversation, activity

    async def relabel_choices(self, request: web.Request) -> web.Response:
        choices = await _found(self.care.relabel_choices, _ticket_id(request))
        intents = await asyncio.to_thread(self.care.review.known_intents)
        return web.json_response(
            {
                "messages": [
                    {"id": m.message_id, "label": m.label(), "intent": m.intent} for m in choices
                ],
                "intents": intents,
            }
        )

    # ------------------------------------------------------------ operations
    async def operate(self, request: web.Request) -> web.Response:
        agent, ticket_id = _agent(request), _ticket_id(request)
        operation = request.match_info["operation"]
        care = self.care
        body = await read_json(request) if request.can_read_body else {}
        work: Callable[[], Awaitable[Outcome]]
        if operation == "claim":
            work = _thread(care.claim, ticket_id, agent.name)
        elif operation == "reply":
            reply = validated(Reply, body)
            event = f"web:{agent.name}:{reply.key}"
            work = _thread(care.reply, ticket_id, agent.name, reply.text, event)
        elif operation == "note":
            work = _thread(care.note, ticket_id, agent.name, validated(Note, body).text)
        elif operation == "priority":
            level = validated(PriorityChange, body).priority
            work = _thread(care.set_priority, ticket_id, agent.name, level)
        elif operation == "resolve":
            work = _thread(care.resolve, ticket_id, agent.name)
        elif operation == "hand_back":

            def work() -> Awaitable[Outcome]:
                return care.hand_back(ticket_id, agent.name)

        elif operation == "relabel":
            relabel = validated(Relabel, body)
            work = _thread(care.relabel, ticket_id, agent.name, relabel.message_id, relabel.intent)
        else:
            raise Refusal(404, f"no operation {operation!r}")
        try:
            outcome = await work()
        except Refused as refusal:
            why = str(refusal)
            await asyncio.to_thread(care.refuse, agent.name, operation, ticket_id, why)
            return web.json_response({"error": why}, status=409)
        self.wake()
        return web.json_response({"message": outcome.message})


async def _found(read: Callable[[int], T], ticket_id: int) -> T:
    """What ``read`` finds for the ticket; 404 when there is no such ticket."""
    try:
        return await asyncio.to_thread(read, ticket_id)
    except Refused as refusal:
        raise Refusal(404, str(refusal)) from None


def _thread(fn: Callable[..., Outcome], *args: Any) -> Callable[[], Awaitable[Outcome]]:
    return lambda: asyncio.to_thread(fn, *args)


def _agent(request: web.Request) -> Agent:
    agent = agent_of(request)
    if agent is None:  # the login middleware lets nobody through without one
        raise web.HTTPUnauthorized()
    return agent


def _ticket_id(request: web.Request) -> int:
    return int(request.match_info["ticket"])  # the route takes 1-18 digits only


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds") + "Z"  # sorts the log in the page


def _summary(view: TicketView, now: datetime) -> dict[str, Any]:
    last = next((t for t in reversed(view.transcript) if t["author"] == "customer"), None)
    return {
        "id": view.ticket_id,
        "reason": reason_label(view.reason),
        "priority": view.priority,
        "status": view.status,
        "agent": view.agent_id,
        "agent_name": agent_name(view.agent_id) if view.agent_id else None,
        "state": status_words(view, agent_name),
        "channel": view.channel,
        "customer": customer_label(view),
        # Until now while no one has the ticket; until an agent took it (or it closed).
        "waited": waited(view.created_at, wait_ended(view) or now),
        "wait": wait_words(view, now),
        "last": (last or {}).get("text") or "",
    }


def _card(view: TicketView, now: datetime, agent: str) -> dict[str, Any]:
    """The card's content, as the Slack card shows it (bot/desk/cards.py), and the
    operations ``agent`` may do on the ticket (the page shows only their buttons)."""
    return {
        **_summary(view, now),
        "actions": list(ticket_actions(view, agent)),
        "created_at": _iso(view.created_at),
        "visibility": view.visibility,
        "link": view.link,
        "request": list(view.request),
        "understood": [
            {
                "text": turn.get("text") or "",
                "intent": turn.get("intent"),
                "confidence": turn.get("confidence"),
            }
            for turn in view.understood
        ],
        "slots": shown_slots(view),
        "transcript": view.transcript,
        "earlier": [
            {"id": t["id"], "reason": reason_label(t["reason"]), "status": t["status"]}
            for t in view.earlier_tickets
        ],
        "error": view.error,
        "priorities": PRIORITIES,
    }


def add_web_desk(
    app: web.Application,
    settings: DeskSettings | None,
    care: Callable[[], CareDesk],
    wake: Callable[[], None],
) -> WebDesk | None:
    """The desk's routes and its login, when agents are configured (None: the desk is off)."""
    if settings is None:
        logger.info("desk: the web desk is off (no DESK_AGENTS)")
        return None
    logger.info("desk: the web desk at %s for %d agents", PREFIX, len(settings.agents))
    desk = WebDesk(care, wake)
    add_login_routes(app, Login(settings), protected=(PREFIX,))
    ticket = PREFIX + r"/api/tickets/{ticket:\d{1,18}}"
    app.router.add_get(PREFIX, desk.page)
    app.router.add_get(PREFIX + "/desk.js", desk.script)
    app.router.add_get(PREFIX + "/api/queue", desk.queue)
    app.router.add_get(ticket, desk.ticket)
    app.router.add_get(ticket + "/relabel", desk.relabel_choices)
    app.router.add_post(ticket + "/{operation:[a-z_]{1,16}}", desk.operate)
    return desk
