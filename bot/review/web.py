"""The review inbox as a local web page, for trainers who would rather click.

``python -m bot.review serve`` serves it on 127.0.0.1. The page is one static
file (``page.html``) that talks to a small JSON API:

* ``GET /api/inbox?view=live|imported&page=N&intent=I&min_confidence=x&max_confidence=y``:
  a page of groups (live items in near-duplicate groups, each with the thread
  around it; imported posts in groups by meaning, in the review order, outliers
  apart; ``awaiting_model``: how many of them an import's model pass has not
  read yet, grouped by wording meanwhile), the intents and entities a trainer
  can choose from;
* ``POST /api/items/{id}/approve`` with ``{"intent": ..., "text": ...}``, and
  ``POST /api/items/{id}/discard`` (a live item); ``/api/posts/{id}/...`` the
  same for an imported post;
* ``POST /api/items/approve-many`` with ``{"ids": [...], "intent": ...}``: a
  live group at once; ``POST /api/groups/{id}/approve`` with ``{"intent": ...,
  "members": N, "shown": [ids]}`` and ``/api/groups/{id}/discard``: an imported
  group (its outliers left), refused if it is no longer the group the page showed
  (``members`` and ``shown``, when sent: the page always sends them);
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
from sqlalchemy.orm import Session

from bot.review.imported import Filters, ImportedInbox, Seen
from bot.review.inbox import ReviewError, ReviewInbox

PAGE = Path(__file__).with_name("page.html")
MAX_BODY = 64 * 1024
INBOX: web.AppKey[ReviewInbox] = web.AppKey("inbox", ReviewInbox)
TRAINER: web.AppKey[str] = web.AppKey("trainer", str)
IMPORTED: web.AppKey[ImportedInbox] = web.AppKey("imported", ImportedInbox)
PER_PAGE = 20


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


def _number(request: web.Request, key: str) -> float | None:
    raw = request.query.get(key) or None
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{key} must be a number") from None


def _live_page(
    inbox: ReviewInbox,
    session: Session,
    number: int,
    filters: Filters,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    groups = [
        g
        for g in inbox.groups(session)
        if (not filters.intent or _is_intent(g.items[0].proposed_intent, filters.intent))
        and _within(g.items[0].confidence, filters)
    ]
    shown = groups[number * per_page : (number + 1) * per_page]
    threads = inbox.threads((i for g in shown for i in g.items), session)
    return {
        "groups": [
            {
                **g.as_json(),
                "key": f"live-{g.items[0].id}",
                "members": len(g.items),
                "items": [{**i.as_json(), **threads[i.id]} for i in g.items],
                "hidden": 0,
                "outliers": [],
            }
            for g in shown
        ],
        "page": number,
        "pages": max(1, -(-len(groups) // per_page)),
        "total_groups": len(groups),
    }


def _is_intent(name: str | None, wanted: str) -> bool:
    """``name`` is ``wanted`` or one of its sub-intents (``product_question/wifi``)."""
    return bool(name) and (name == wanted or str(name).startswith(f"{wanted}/"))


def _within(confidence: float | None, filters: Filters) -> bool:
    if confidence is None:
        return filters.min_confidence is None and filters.max_confidence is None
    low, high = filters.min_confidence, filters.max_confidence
    return (low is None or confidence >= low) and (high is None or confidence <= high)


async def inbox_state(request: web.Request) -> web.Response:
    inbox, imported = request.app[INBOX], request.app[IMPORTED]
    view = request.query.get("view", "live")
    if view not in ("live", "imported"):
        return _error(400, "view must be live or imported")
    try:
        number = max(0, int(request.query.get("page") or 0))
    except ValueError:
        return _error(400, "page must be a number")
    filters = Filters(
        request.query.get("intent") or None,
        _number(request, "min_confidence"),
        _number(request, "max_confidence"),
    )

    def read() -> dict[str, Any]:
        # One read-only session for the whole page: one snapshot, and on SQLite no write
        # lock (a deciding trainer or the gateway's writers never wait for a page).
        with inbox.reads() as session:
            if view == "live":
                found = _live_page(inbox, session, number, filters)
            else:
                found = imported.page(number, filters, session=session)
                found["awaiting_model"] = imported.awaiting_model(session)
            counts = {"live": inbox.pending(session), "imported": imported.pending(session)}
        return {
            **found,
            "view": view,
            "counts": counts,
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


def _int_list(body: dict[str, Any], key: str) -> list[int]:
    value = body.get(key)
    if not isinstance(value, list) or not value or len(value) > 1000:
        raise web.HTTPBadRequest(text=f"{key} must be a list of 1 to 1000 ids")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise web.HTTPBadRequest(text=f"{key} must hold ids")
    return value


async def _decide(decide: Callable[[], Any]) -> web.Response:
    try:
        decision = await asyncio.to_thread(decide)
    except ReviewError as refused:
        return _error(409 if "already" in str(refused) else 400, str(refused))
    if isinstance(decision, list):
        return web.json_response([d.__dict__ for d in decision])
    return web.json_response(decision.__dict__)


async def approve(request: web.Request) -> web.Response:
    item_id, body = _item_id(request), await _body(request)
    intent, text = _optional_text(body, "intent"), _optional_text(body, "text")
    trainer = request.app[TRAINER]
    if request.match_info["kind"] == "posts":
        posts = request.app[IMPORTED]
        return await _decide(lambda: posts.approve(item_id, trainer, intent, text))
    inbox = request.app[INBOX]
    return await _decide(lambda: inbox.approve(item_id, trainer, intent, text))


async def discard(request: web.Request) -> web.Response:
    item_id = _item_id(request)
    await _body(request)
    trainer = request.app[TRAINER]
    if request.match_info["kind"] == "posts":
        posts = request.app[IMPORTED]
        return await _decide(lambda: posts.discard(item_id, trainer))
    inbox = request.app[INBOX]
    return await _decide(lambda: inbox.discard(item_id, trainer))


async def approve_many(request: web.Request) -> web.Response:
    """A live group at once: every listed item under one intent."""
    body = await _body(request)
    ids, intent = _int_list(body, "ids"), _optional_text(body, "intent")
    inbox, trainer = request.app[INBOX], request.app[TRAINER]
    return await _decide(lambda: [inbox.approve(i, trainer, intent) for i in ids])


async def decide_group(request: web.Request) -> web.Response:
    """An imported group at once (its outliers stay to be decided one by one)."""
    group_id, body = _item_id(request), await _body(request)
    posts, trainer = request.app[IMPORTED], request.app[TRAINER]
    seen = _seen(body)
    if request.match_info["action"] == "discard":
        return await _decide(lambda: posts.discard_group(group_id, trainer, seen))
    intent = _optional_text(body, "intent")
    if intent is None:
        return _error(400, "choose an intent for the group")
    return await _decide(lambda: posts.approve_group(group_id, trainer, intent, seen))


def _seen(body: dict[str, Any]) -> Seen | None:
    """The group as the page showed it, if the body says."""
    if "members" not in body and "shown" not in body:
        return None
    members = body.get("members")
    if not isinstance(members, int) or isinstance(members, bool) or members < 0:
        raise web.HTTPBadRequest(text="members must be a count")
    return Seen(members, tuple(_int_list(body, "shown")))


def create_app(
    inbox: ReviewInbox, trainer: str, imported: ImportedInbox | None = None
) -> web.Application:
    """The page and its API, deciding as ``trainer``."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[same_origin_json])
    app[INBOX], app[TRAINER] = inbox, trainer
    app[IMPORTED] = imported or ImportedInbox(inbox.sessions, inbox)
    app.router.add_get("/", page)
    app.router.add_get("/api/inbox", inbox_state)
    app.router.add_post("/api/collect", collect)
    app.router.add_post("/api/items/approve-many", approve_many)
    app.router.add_post(r"/api/{kind:items|posts}/{item_id}/approve", approve)
    app.router.add_post(r"/api/{kind:items|posts}/{item_id}/discard", discard)
    app.router.add_post(r"/api/groups/{item_id}/{action:approve|discard}", decide_group)
    return app
