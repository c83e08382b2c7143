"""The dashboard: a page for the care team and its JSON API, served by the gateway.

Never public: every route first asks ``guard`` (the agents' login, see
:func:`bot.analytics.dashboard.agents_only`), which refuses with 401 (or sends
a browser to the login page). The charts are drawn by Chart.js 4.6.2, served
from ``static/`` (the page loads nothing from elsewhere: its Content Security
Policy says so).

    GET /dashboard                     the page
    GET /dashboard/api/report?since=2026-11-01&until=2026-11-08&channel=twitter&demo=0
    GET /dashboard/static/<file>       Chart.js, the page's script
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from bot.analytics.metrics import Window
from bot.analytics.parts import DEFAULT_PARTS, report
from bot.analytics.report import as_dict
from bot.desk.agents import agent_of, refuse_nobody
from bot.store.db import READ_ONLY
from bot.store.models import Conversation

PREFIX = "/dashboard"
HERE = Path(__file__).parent
STATIC = {
    "chart.umd.min.js": HERE / "static" / "chart.umd.min.js",
    "dashboard.js": HERE / "static" / "dashboard.js",
}
CHANNELS = ("telegram", "twitter", "webchat")
#: The longest window a request may ask for (a year and a day: a leap year's worth).
LONGEST = timedelta(days=367)
DEFAULT_DAYS = 30
#: The days a window may name: far from the ends of the calendar, where the report's
#: day arithmetic (the default window, the follow-up time after ``until``) overflows.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

#: Refuses a request from anyone but a logged-in agent (raises an HTTP error).
Guard = Callable[[web.Request], None]


def agents_only(request: web.Request) -> None:
    """The agents' login (bot/desk/agents.py) as a guard: a page asks for the login, anything
    else is 401. With no accounts configured nobody gets in."""
    if agent_of(request) is None:
        refuse_nobody(request)


def add_dashboard(
    app: web.Application,
    engine: Callable[[], Engine],
    guard: Guard,
    threshold: float,
    parts: int = DEFAULT_PARTS,
) -> None:
    """Adds the dashboard's routes; ``engine`` gives the store once the app has started;
    a report counts its turns on ``parts`` connections (bot/analytics/parts.py)."""

    async def page(request: web.Request) -> web.StreamResponse:
        guard(request)
        return web.FileResponse(HERE / "dashboard.html", headers=_headers("text/html"))

    async def static(request: web.Request) -> web.StreamResponse:
        guard(request)
        found = STATIC.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.FileResponse(found, headers=_headers("text/javascript"))

    async def api(request: web.Request) -> web.StreamResponse:
        guard(request)
        window = _window(request)
        store = engine().execution_options(**{READ_ONLY: True})
        chosen = "demo" in request.query  # else: the demo month while nothing is real
        data = await asyncio.to_thread(_figures, store, window, threshold, chosen, parts)
        return web.json_response(data, headers={"Cache-Control": "no-store"})

    app.router.add_get(PREFIX, page)
    app.router.add_get(f"{PREFIX}/api/report", api)
    app.router.add_get(f"{PREFIX}/static/{{name}}", static)


def _headers(kind: str) -> dict[str, str]:
    return {
        "Content-Type": f"{kind}; charset=utf-8",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def _window(request: web.Request) -> Window:
    """The query's window; 400 with the reason for anything a page would not send."""
    query = request.query
    today = datetime.utcnow().date() + timedelta(days=1)
    until = _day(query.get("until"), "until", today)
    since = _day(query.get("since"), "since", until - timedelta(days=DEFAULT_DAYS))
    if since >= until:
        raise web.HTTPBadRequest(text="since must be before until")
    if until - since > LONGEST:
        raise web.HTTPBadRequest(text="at most 367 days at a time")
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise web.HTTPBadRequest(text=f"channel: one of {', '.join(CHANNELS)}")
    if query.get("demo", "") not in ("", "0", "1"):
        raise web.HTTPBadRequest(text="demo: 0 or 1")
    return Window(
        datetime.combine(since, datetime.min.time()),
        datetime.combine(until, datetime.min.time()),
        channel,
        demo=query.get("demo") == "1",
    )


def _day(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: a date, YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        # Day arithmetic near year 1 or 9999 overflows (OverflowError: a 500).
        raise web.HTTPBadRequest(text=f"{name}: a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def _figures(
    store: Engine, window: Window, threshold: float, chosen: bool, parts: int
) -> dict[str, object]:
    with store.connect() as connection:
        demo_only = _only_demo(connection)
    if demo_only and not chosen:
        # A store with nothing but the seeded month (make run's first start).
        window = Window(window.since, window.until, window.channel, demo=True)
    data = as_dict(report(store, window, threshold, parts))
    data["only_demo_data"] = demo_only
    return data


def _only_demo(connection: Connection) -> bool:
    """Whether the store has demo conversations and no real ones."""
    kinds = set(connection.execute(select(Conversation.demo).distinct()).scalars())
    return kinds == {True}
