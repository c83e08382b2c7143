"""A fake Slack Web API (and Socket Mode endpoint) on loopback, for the real slack-bolt app."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TEAM = "T0CARE"
BOT_USER = "U0BOT"


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers for ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{stamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class FakeSlack:
    """Records every Web API call; answers like Slack for the methods the desk uses."""

    token: str
    members: list[str] = field(default_factory=list)  # the agents' group / channel
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        return app

    # --------------------------------------------------------------- queries
    def called(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def posts(self, thread_ts: str | None = None) -> list[dict[str, Any]]:
        posts = self.called("chat.postMessage")
        if thread_ts is not None:
            posts = [p for p in posts if p.get("thread_ts") == thread_ts]
        return posts

    # ------------------------------------------------------------------ API
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if request.content_type == "application/json":
            return dict(await request.json())
        params: dict[str, Any] = dict(await request.post())
        params.update(dict(request.query))
        for key in ("blocks", "view", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        if method != "apps.connections.open" and auth != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        self.calls.append((method, params))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": True})
        return web.json_response(handler(params, request))

    def _auth_test(self, _params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        return {"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT", "team": "Care"}

    def _chat_postMessage(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        ts = f"{1700000000 + next(self._ts)}.000100"
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": ts,
            "message": {"ts": ts, "text": params.get("text", "")},
        }

    def _chat_update(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}

    def _chat_postEphemeral(self, _params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}

    def _usergroups_users_list(
        self, _params: dict[str, Any], _request: web.Request
    ) -> dict[str, Any]:
        return {"ok": True, "users": list(self.members)}

    def _conversations_members(
        self, _params: dict[str, Any], _request: web.Request
    ) -> dict[str, Any]:
        return {"ok": True, "members": list(self.members), "response_metadata": {"next_cursor": ""}}

    def _views_open(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V1", **(params.get("view") or {})}}

    def _apps_connections_open(
        self, _params: dict[str, Any], request: web.Request
    ) -> dict[str, Any]:
        host = request.host
        return {"ok": True, "url": f"ws://{host}/socket"}

    # ----------------------------------------------------------- Socket Mode
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": "A0"},
            }
        )
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return socket

    async def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Sends an envelope over Socket Mode; returns its id (acks land in socket_acks)."""
        envelope_id = f"env-{next(self._ts)}"
        await self.connected.wait()
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return envelope_id


def form_body(payload: dict[str, Any]) -> str:
    """An interactivity request body, as Slack posts it."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
