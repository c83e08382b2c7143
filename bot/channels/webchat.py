"""A web chat on localhost, to try the bot without any platform credentials.

``GET /`` serves the page; the page posts messages to ``/webchat/api/messages``
and polls the same path for replies. A message carries an id made by the
page, so a resent POST is stored once.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.channels.base import CustomerRef, InboundMessage, OutboundReply
from bot.contract import Visibility
from bot.router import Accepted, ConversationRouter
from bot.store.models import Conversation, Direction, Message, OutboxItem, OutboxStatus

NAME = "webchat"
PAGE = Path(__file__).with_name("webchat.html")
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TEXT = 4096


def _bad(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


class WebchatChannel:
    """Routes of the web chat, and its sender (replies are read back by the page)."""

    name = NAME

    def __init__(
        self, router: ConversationRouter, sessions: sessionmaker, wake: Callable[[Accepted], None]
    ) -> None:
        self.router = router
        self.sessions = sessions
        self.wake = wake

    async def page(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def receive(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except web.HTTPException:
            raise  # 413 for a body over the size limit
        except ValueError:
            return _bad("body must be JSON")
        if not isinstance(body, dict):
            return _bad("body must be a JSON object")
        session_id, message_id, text = body.get("session"), body.get("id"), body.get("text")
        if not isinstance(session_id, str) or not _ID.match(session_id):
            return _bad("'session' must be 8-64 letters, digits, - or _")
        if not isinstance(message_id, str) or not _ID.match(message_id):
            return _bad("'id' must be 8-64 letters, digits, - or _")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return _bad(f"'text' must be 1-{MAX_TEXT} characters")
        inbound = InboundMessage(
            channel=NAME,
            platform_message_id=f"{session_id}:{message_id}",
            place=f"web:{session_id}",
            visibility=Visibility.PRIVATE,
            customer=CustomerRef(platform_user_id=session_id),
            text=text,
        )
        accepted = await self.router.accept([inbound])
        self.wake(accepted)
        return web.json_response({"accepted": True, "duplicate": not accepted.new_ids}, status=202)

    async def replies(self, request: web.Request) -> web.Response:
        session_id = request.query.get("session", "")
        if not _ID.match(session_id):
            return _bad("'session' must be 8-64 letters, digits, - or _")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _bad("'after' must be a number")
        rows = await asyncio.to_thread(self._replies, session_id, after)
        return web.json_response({"messages": rows})

    def _replies(self, session_id: str, after: int) -> list[dict[str, Any]]:
        with self.sessions() as session:  # a read-only session factory
            found = session.execute(
                select(Message.id, Message.text, Message.author, Message.created_at)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(OutboxItem, OutboxItem.message_id == Message.id)
                .where(
                    Conversation.channel == NAME,
                    Conversation.place == f"web:{session_id}",
                    Message.direction == Direction.OUT,
                    OutboxItem.status == OutboxStatus.SENT,
                    Message.id > after,
                )
                .order_by(Message.id)
            ).all()
        return [
            {"id": row.id, "text": row.text, "author": row.author.value, "at": _iso(row.created_at)}
            for row in found
        ]

    async def send(self, reply: OutboundReply) -> str:
        """Nothing to call: the page reads sent replies from the store."""
        return f"web-{uuid.uuid4().hex}"

    async def find_sent(self, reply: OutboundReply, after: datetime) -> str | bool | None:
        """A web chat reply is delivered by being marked sent: resending is harmless."""
        return None


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"
