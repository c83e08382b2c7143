"""The review inbox as a local web page, for trainers who would rather click.

``python -m bot.review serve`` serves it on 127.0.0.1. The page is one static
file (``page.html``) that talks to a small JSON API:

* ``GET /api/inbox``: pending items in near-duplicate groups, the intents and
  entities a trainer can choose from;
* ``POST /api/items/{id}/approve`` with ``{"intent": ..., "text": ...}``;
* ``POST /api/items/{id}/discard``;
* ``POST /api/collect``: looks for new items in the stored conversations.

Changes need a JSON body and, when the browser sends an Origin, the page's
own: another site open in the trainer's browser cannot post a form here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.review.inbox import Decision, ReviewError, ReviewInbox

PAGE = Path(__file__).with_name("page.html")
MAX_BODY = 64 * 1024
INBOX: web.AppKey[ReviewInbox] = web.AppKey("inbox", ReviewInbox)
TRAINER: web.AppKey[str] = web.AppKey("trainer", str)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def same_origin_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuses state changes that a page on another origin could have sent."""
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin and origin.split("://", 1)[-1] != request.host:
            return _error(403, "cross-origin request refused")
        if request.content_type != "application/json":
            return _error(415, "send JSON (Content-Type: application/json)")
    return await handler(request)


async def page(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})


async def inbox_state(request: web.Request) -> web.Response:
    inbox = request.app[INBOX]

    def read() -> dict[str, Any]:
        return {
            "groups": [g.as_json() for g in inbox.groups()],
            "intents": inbox.known_intents(),
            "entities": sorted(inbox.entities),
        }

    return web.json_response(await asyncio.to_thread(read))


async def collect(request: web.Request) -> web.Response:
    added = await asyncio.to_thread(request.app[INBOX].collect)
    return web.json_response({"added": added})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _item_id(request: web.Request) -> int:
    try:
        return int(request.match_info["item_id"])
    except ValueError:
        raise web.HTTPNotFound() from None


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise web.HTTPBadRequest(text=f"{key} must be a string")


async def _decide(request: web.Request, decide: Callable[[], Decision]) -> web.Response:
    try:
        decision = await asyncio.to_thread(decide)
    except ReviewError as refused:
        return _error(409 if "already" in str(refused) else 400, str(refused))
    return web.json_response(decision.__dict__)


async def approve(request: web.Request) -> web.Response:
    item_id, body = _item_id(request), await _body(request)
    intent, text = _optional_text(body, "intent"), _optional_text(body, "text")
    inbox, trainer = request.app[INBOX], request.app[TRAINER]
    return await _decide(request, lambda: inbox.approve(item_id, trainer, intent, text))


async def discard(request: web.Request) -> web.Response:
    item_id = _item_id(request)
    await _body(request)
    inbox, trainer = request.app[INBOX], request.app[TRAINER]
    return await _decide(request, lambda: inbox.discard(item_id, trainer))


def create_app(inbox: ReviewInbox, trainer: str) -> web.Application:
    """The page and its API, deciding as ``trainer``."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[same_origin_json])
    app[INBOX], app[TRAINER] = inbox, trainer
    app.router.add_get("/", page)
    app.router.add_get("/api/inbox", inbox_state)
    app.router.add_post("/api/collect", collect)
    app.router.add_post(r"/api/items/{item_id}/approve", approve)
    app.router.add_post(r"/api/items/{item_id}/discard", discard)
    return app
