"""A fake Telegram Bot API: getMe, getUpdates (long polling), sendMessage, webhooks, and the
inline keyboards' side: answerCallbackQuery, editMessageReplyMarkup."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7_000_000_001
BOT_USERNAME = "NorthwindAirBot"


@dataclass
class FakeTelegram:
    """State of the fake: queued updates, what the bot sent, injected failures."""

    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    confirmed: int = 0  # updates below this id were confirmed by an offset
    # Each entry: seconds of retry_after the next sendMessage gets (a 429).
    flood_waits: list[int] = field(default_factory=list)
    redeliver: int = 0  # deliver each update this many extra times, ignoring offsets
    answered: list[dict[str, Any]] = field(default_factory=list)  # answerCallbackQuery calls
    edited: list[dict[str, Any]] = field(default_factory=list)  # editMessageReplyMarkup calls

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        # As in Telegram, a message id counts within its chat: two chats have the same ids.
        self._message_ids: dict[int, Iterator[int]] = {}
        self._changed = asyncio.Condition()
        self._deliveries: dict[int, int] = {}

    # -------------------------------------------------------------- updates
    async def push(self, update: dict[str, Any]) -> int:
        """Queues an update (an update_id is added when missing)."""
        update.setdefault("update_id", next(self._ids))
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
        return int(update["update_id"])

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def message_update(
        self,
        text: str | None,
        chat_id: int = 42,
        user_id: int = 42,
        chat_type: str = "private",
        username: str = "jane_doe",
        **extra: Any,
    ) -> dict[str, Any]:
        """An update carrying a message, as Telegram sends it."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": user_id, "is_bot": False, "first_name": "Jane", "username": username},
        }
        if chat_type != "private":
            message["chat"]["title"] = "Travel friends"
        if text is not None:
            message["text"] = text
        message.update(extra)
        return {"message": message}

    def tap_update(
        self,
        data: Any,
        message_id: int,
        chat_id: int = 42,
        user_id: int = 42,
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """An update carrying a tap on a button of the bot's message ``message_id``."""
        return {
            "callback_query": {
                "id": f"q{next(self._ids)}",
                "from": {"id": user_id, "is_bot": False, "first_name": "Jane"},
                "chat_instance": f"ci{chat_id}",
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": chat_type},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Northwind"},
                    "text": "How did we do?",
                },
                "data": data,
            }
        }

    async def tap(self, data: Any, message_id: int, **kwargs: Any) -> int:
        """A customer taps a button; returns the update id."""
        return await self.push(self.tap_update(data, message_id, **kwargs))

    async def say(self, text: str, **kwargs: Any) -> int:
        """A customer writes ``text``; returns the update id."""
        return await self.push(self.message_update(text, **kwargs))

    async def wait_for_reply(self, chat_id: int, count: int, timeout: float) -> dict[str, Any]:
        """Waits until the bot has sent ``count`` messages to ``chat_id``; returns the last."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.replies_to(chat_id)) >= count), timeout
            )
        return [m for m in self.sent if int(m["chat_id"]) == chat_id][count - 1]

    def replies_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.sent if int(m["chat_id"]) == chat_id]

    # ------------------------------------------------------------------ API
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        self.calls.append(method)
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return await handler(params)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _api_getMe(self, _params: dict[str, Any]) -> web.Response:
        return self._ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Northwind",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        if offset:
            self.confirmed = max(self.confirmed, offset)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                ready = self._deliverable(offset)
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    break
        for update in ready:
            self._deliveries[update["update_id"]] = self._deliveries.get(update["update_id"], 0) + 1
        return self._ok(ready)

    def _deliverable(self, offset: int) -> list[dict[str, Any]]:
        if self.redeliver:
            return [
                u for u in self.updates if self._deliveries.get(u["update_id"], 0) <= self.redeliver
            ]
        return [u for u in self.updates if u["update_id"] >= max(offset, self.confirmed)]

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        if self.flood_waits:
            wait = self.flood_waits.pop(0)
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                },
                status=429,
            )
        message_id = self._next_message_id(int(params["chat_id"]))
        reply_to = params.get("reply_to_message_id")
        if params.get("reply_parameters"):
            parameters = params["reply_parameters"]
            if isinstance(parameters, str):
                parameters = json.loads(parameters)
            reply_to = parameters.get("message_id")
        record = {
            "chat_id": int(params["chat_id"]),
            "text": params["text"],
            "reply_to_message_id": reply_to,
            "message_id": message_id,
            "reply_markup": _json(params.get("reply_markup")),
            "at": time.monotonic(),
        }
        self.sent.append(record)
        async with self._changed:
            self._changed.notify_all()
        return self._ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Northwind"},
                "text": params["text"],
            }
        )

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        self.answered.append(params)
        async with self._changed:
            self._changed.notify_all()
        return self._ok(True)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        self.edited.append({**params, "reply_markup": _json(params.get("reply_markup"))})
        return self._ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        return self._ok(True)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {}
        return self._ok(True)


def _json(value: Any) -> Any:
    """A parameter python-telegram-bot sends as JSON text in a form (a reply markup)."""
    return json.loads(value) if isinstance(value, str) else value
