"""A web chat on localhost, to try the bot without any platform credentials.

``GET /`` serves the page; the page posts messages to ``/webchat/api/messages``
and polls the same path for replies. A message carries an id made by the
page, so a resent POST is stored once. With ``own=1`` the poll returns the
customer's own messages too (with the page's id as ``client_id``): a reloaded
page rebuilds both sides of the conversation from the store, which holds
them anyway, instead of keeping a second copy in the browser.

A satisfaction question (bot/conversation/csat.py) comes with its rating: its
id, the buttons' labels, and the score once tapped, so a reloaded page shows
the choice the store keeps. A tap posts to ``/webchat/api/ratings``.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import conint, validator
from sqlalchemy.orm import sessionmaker

from bot.contract import MAX_TEXT_CHARS, RATING_SCALE, Visibility
from bot.conversation.csat import Ratings, Recorded, Tap
from bot.conversation.ingest import Intake, StoreUnavailable
from bot.conversation.replies import SentReply, sent_replies
from bot.edge import PageId, Refusal, Strict, read_json, validated
from bot.messages import NOT_SENT, CustomerRef, InboundMessage, OutboundReply, SentLookup
from bot.text import clean_text

NAME = "webchat"
PAGE = Path(__file__).with_name("webchat.html")
# What the assistant reads (bot/contract.py); the page counts towards it as
# the customer types, and says so, rather than cutting a longer message.
MAX_TEXT = MAX_TEXT_CHARS


class Post(Strict):
    """A message the page sends."""

    session: PageId
    id: PageId
    text: str

    @validator("text", pre=True)
    def _cleaned(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        value = clean_text(value)
        if not value.strip() or len(value) > MAX_TEXT:
            raise ValueError(f"must be 1-{MAX_TEXT} characters")
        return value


class Poll(Strict):
    """The page asks for its conversation's replies after the last one it has."""

    session: PageId
    # Message ids are compared in SQL: nothing past a signed 64-bit integer.
    after: conint(ge=0, le=2**63 - 1) = 0  # type: ignore[valid-type]
    own: Literal["0", "1"] = "0"  # "1": the customer's messages too

    @validator("after", pre=True)
    def _digits(cls, value: Any) -> Any:
        # int() also reads "1_000", " 12 " and other scripts' digits: not from the page.
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number")
        return value


class RatingPost(Strict):
    """A tap on one of a satisfaction question's buttons."""

    session: PageId
    rating: conint(strict=True, ge=1, le=2**63 - 1)  # type: ignore[valid-type]
    score: conint(strict=True, ge=1, le=RATING_SCALE)  # type: ignore[valid-type]


class WebchatChannel:
    """Routes of the web chat, and its sender (replies are read back by the page)."""

    name = NAME

    def __init__(self, intake: Intake, sessions: sessionmaker, ratings: Ratings) -> None:
        self.intake = intake
        self.sessions = sessions
        self.ratings = ratings

    async def page(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=_page(), content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def receive(self, request: web.Request) -> web.Response:
        post = validated(Post, await read_json(request))
        inbound = InboundMessage(
            channel=NAME,
            platform_message_id=f"{post.session}:{post.id}",
            place=f"web:{post.session}",
            visibility=Visibility.PRIVATE,
            customer=CustomerRef(platform_user_id=post.session),
            text=post.text,
        )
        try:
            accepted = await self.intake.accept([inbound])
        except StoreUnavailable:
            raise Refusal(503, "the store is unavailable: try again shortly") from None
        if accepted.set_aside:
            raise Refusal(422, "this message could not be stored")
        return web.json_response({"accepted": True, "duplicate": not accepted.new_ids}, status=202)

    async def rate(self, request: web.Request) -> web.Response:
        """Records a tap: 200 with the score (again for the same tap), 409 with the score
        kept when another was recorded first, 404 for a rating not of this conversation."""
        post = validated(RatingPost, await read_json(request))
        tap = Tap(NAME, f"web:{post.session}", post.session, post.rating, post.score)
        try:
            outcome = await asyncio.to_thread(self.ratings.record, tap)
        except StoreUnavailable:
            raise Refusal(503, "the store is unavailable: try again shortly") from None
        if outcome.recorded is Recorded.UNKNOWN:
            raise Refusal(404, "no such rating in this conversation")
        answer = {"score": outcome.score, "thanks": self.ratings.thanks()}
        if outcome.recorded is Recorded.KEPT:
            return web.json_response({"error": "already rated", **answer}, status=409)
        return web.json_response(answer)

    async def replies(self, request: web.Request) -> web.Response:
        poll = validated(Poll, dict(request.query))
        rows = await asyncio.to_thread(self._messages, poll.session, poll.after, poll.own == "1")
        return web.json_response({"messages": rows})

    def _messages(self, session_id: str, after: int, own: bool) -> list[dict[str, Any]]:
        """Sent replies after message ``after``, and with ``own`` the customer's messages,
        in the order they were stored (one id sequence for both directions)."""
        with self.sessions() as session:  # a read-only session factory
            found = sent_replies(session, NAME, f"web:{session_id}", after, own=own)
        return [_shown(row, self.ratings.labels) for row in found]

    async def start(self) -> None:
        """Nothing to start: the page's requests come through the gateway's routes."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, reply: OutboundReply) -> str:
        """Nothing to call: the page reads sent replies from the store."""
        return f"web-{uuid.uuid4().hex}"

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        """A web chat reply is delivered by being marked sent: resending is harmless."""
        return NOT_SENT


def _shown(row: SentReply, labels: tuple[str, ...]) -> dict[str, Any]:
    """A message as the page shows it; a customer's carries the id the page gave it, a
    satisfaction question its rating."""
    shown: dict[str, Any] = {
        "id": row.id,
        "text": row.text,
        "author": row.author,
        "at": _iso(row.created_at),
    }
    if row.customer_message_id is not None:
        shown["client_id"] = row.customer_message_id.rpartition(":")[2]
    if row.rating_id is not None:
        shown["rating"] = {"id": row.rating_id, "score": row.rating_score, "labels": labels}
    return shown


@cache
def _page() -> str:
    """The page, with the length limit the gateway applies written in."""
    return PAGE.read_text(encoding="utf-8").replace("__MAX_TEXT__", str(MAX_TEXT))


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"
