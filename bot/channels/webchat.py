"""A web chat on localhost, to try the bot without any platform credentials.

``GET /`` serves the page; the page posts messages to ``/webchat/api/messages``
and polls the same path for replies. A message carries an id made by the
page, so a resent POST is stored once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ConstrainedStr, conint, validator
from sqlalchemy.orm import sessionmaker

from bot.contract import Visibility
from bot.conversation.ingest import Intake, StoreUnavailable
from bot.conversation.replies import sent_replies
from bot.edge import Refusal, Strict, read_json, validated
from bot.messages import NOT_SENT, CustomerRef, InboundMessage, OutboundReply, SentLookup
from bot.text import clean_text

NAME = "webchat"
PAGE = Path(__file__).with_name("webchat.html")
MAX_TEXT = 4096


class PageId(ConstrainedStr):
    """A session or message id made by the page: 8-64 letters, digits, - or _."""

    strict = True
    regex = r"^[A-Za-z0-9_-]{8,64}\Z"  # \Z: "$" would let a final newline through


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

    @validator("after", pre=True)
    def _digits(cls, value: Any) -> Any:
        # int() also reads "1_000", " 12 " and other scripts' digits: not from the page.
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number")
        return value


class WebchatChannel:
    """Routes of the web chat, and its sender (replies are read back by the page)."""

    name = NAME

    def __init__(self, intake: Intake, sessions: sessionmaker) -> None:
        self.intake = intake
        self.sessions = sessions

    async def page(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

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

    async def replies(self, request: web.Request) -> web.Response:
        poll = validated(Poll, dict(request.query))
        rows = await asyncio.to_thread(self._replies, poll.session, poll.after)
        return web.json_response({"messages": rows})

    def _replies(self, session_id: str, after: int) -> list[dict[str, Any]]:
        with self.sessions() as session:  # a read-only session factory
            found = sent_replies(session, NAME, f"web:{session_id}", after)
        return [
            {"id": row.id, "text": row.text, "author": row.author, "at": _iso(row.created_at)}
            for row in found
        ]

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


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"
