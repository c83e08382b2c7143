"""The fuzz battery (tests/gateway/test_fuzz.py) against the agents' web desk and the dashboard.

The same gateway process, the same rules: every answer below 500, and after
each battery the process alive, no traceback logged, a good message answered
once. Four batteries, each on both stores:

* the login form (``POST /desk/login``), unauthenticated: odd fields, raw
  bodies, wrong content types, absent or forged form tokens, foreign origins.
  It never sets a session cookie;
* every desk route (GET and POST) without a valid session: no cookie, a forged
  one, one signed with another key, an expired one, a validly signed one whose
  content is not a session. Always 401 (303 for a page), never 200;
* every desk route with a logged-in session and its CSRF token: odd JSON bodies
  for every operation, unknown and real ticket ids, unknown operations. 2xx or
  4xx; a POST with a wrong token or from another origin is 403;
* the dashboard's JSON API, logged in, with odd dates, channels and flags.

The time budget is the battery's, shared with test_fuzz.py (``KINDS``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from bot.desk.agents import LOGIN_COOKIE, SESSION_COOKIE, SESSION_HOURS
from tests.gateway.conftest import eventually
from tests.gateway.test_fuzz import (
    DESK_SECRET,
    FUZZ,
    JSON,
    NUMBERS,
    RAW,
    TEXT,
    Answer,
    Stack,
    encoded,
    fuzz,
    mutated,
    request,
    say_on_web,
    stack,
    still_answers,
)
from tests.gateway.web_agent import PASSWORDS

__all__ = ["stack"]  # the gateway fixture, shared with test_fuzz.py

OPERATIONS = ["claim", "reply", "note", "priority", "resolve", "hand_back", "relabel"]
BODIES = {
    "reply": {"text": "on it", "key": "k" * 16},
    "note": {"text": "vip"},
    "priority": {"priority": "high"},
    "relabel": {"message_id": 1, "intent": "flight_status"},
}
_FORM = "application/x-www-form-urlencoded"


def _form(fields: dict[str, Any]) -> bytes:
    return urllib.parse.urlencode(
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()},
        errors="surrogatepass",
    ).encode()


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


class _Old(TimestampSigner):
    """Signs as if it were a day ago: a session past its hours."""

    def get_timestamp(self) -> int:
        return int(time.time()) - (SESSION_HOURS + 12) * 3600


def _serializer(secret: str, signer: type[TimestampSigner] = TimestampSigner) -> Any:
    # As bot/desk/agents.py; lone surrogates escaped (\ud800) rather than unencodable.
    return URLSafeTimedSerializer(
        secret, salt="desk", signer=signer, serializer_kwargs={"ensure_ascii": True}
    )


def log_in(port: int, name: str = "alice") -> tuple[str, str]:
    """Logs in as the page does: the session cookie and its CSRF token."""
    form = request(port, "GET", "/desk/login")
    token = re.search(rb'name="csrf" value="([^"]+)"', form.body)
    assert token and LOGIN_COOKIE in form.cookies
    answer = request(
        port,
        "POST",
        "/desk/login",
        _form({"csrf": token.group(1).decode(), "name": name, "password": PASSWORDS[name]}),
        {
            "Content-Type": _FORM,
            "Origin": f"http://127.0.0.1:{port}",
            "Cookie": _cookie_header({LOGIN_COOKIE: form.cookies[LOGIN_COOKIE]}),
        },
    )
    assert answer.status == 303 and SESSION_COOKIE in answer.cookies, answer
    session = answer.cookies[SESSION_COOKIE]
    page = request(port, "GET", "/desk", headers={"Cookie": f"{SESSION_COOKIE}={session}"})
    found = re.search(rb'<meta name="csrf" content="([^"]+)">', page.body)
    assert page.status == 200 and found, page.status
    return session, found.group(1).decode()


# --------------------------------------------------------------- strategies

TICKET_IDS = st.one_of(
    st.integers(min_value=0, max_value=10**18 - 1).map(str),
    st.sampled_from(["1", "2", "3", "0", "00001", "999999999999999999"]),
)
DESK_PATHS = st.one_of(
    st.sampled_from(["/desk", "/desk/desk.js", "/desk/api/queue", "/desk/api/", "/desk/x"]),
    TICKET_IDS.map(lambda t: f"/desk/api/tickets/{t}"),
    TICKET_IDS.map(lambda t: f"/desk/api/tickets/{t}/relabel"),
    st.tuples(TICKET_IDS, st.sampled_from([*OPERATIONS, "x", "delete", "a_b"])).map(
        lambda p: f"/desk/api/tickets/{p[0]}/{p[1]}"
    ),
    st.sampled_from(["/dashboard", "/dashboard/api/report", "/dashboard/static/dashboard.js"]),
)


@st.composite
def operation_bodies(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """An operation and its body: the page's own, mutated, or anything."""
    operation = draw(st.sampled_from([*OPERATIONS, "x"]))
    base = BODIES.get(operation, {})
    kind = draw(st.sampled_from(["mutated", "fields", "raw"]))
    if kind == "mutated":
        body = encoded(draw(mutated(base)))
    elif kind == "fields":
        values = st.one_of(TEXT, NUMBERS, JSON)
        body = encoded(draw(st.dictionaries(st.sampled_from([*base, "x"]), values, max_size=3)))
    else:
        body = draw(RAW)
    content_type = draw(st.sampled_from(["application/json", "text/plain", _FORM, ""]))
    return operation, body, content_type


def cookies(real: str) -> st.SearchStrategy[str | None]:
    """Session cookies that are not a session: absent, garbage, forged, expired, odd content."""
    payload = st.one_of(
        JSON,
        st.fixed_dictionaries({"agent": st.sampled_from(["alice", "mallory"]) | JSON}),
        st.fixed_dictionaries({"agent": st.just("alice"), "sid": JSON}),
    )
    return st.one_of(
        st.none(),
        # Below aiohttp's 8 KiB header limit (past it the parser answers 400, before us).
        TEXT.filter(lambda t: len(t) < 4000).map(
            lambda t: t.encode("utf-8", "replace").decode("ascii", "replace")
        ),
        st.just(real[:-2] + ("AA" if not real.endswith("AA") else "BB")),
        payload.map(lambda p: _serializer("not-the-secret-" * 3).dumps(p, salt="session")),
        payload.map(lambda p: _serializer(DESK_SECRET, _Old).dumps(p, salt="session")),
        st.just(_serializer(DESK_SECRET, _Old).dumps({"agent": "alice"}, salt="session")),
        payload.map(lambda p: _serializer(DESK_SECRET).dumps(p, salt="other")),
        # Signed with the real key, now, but no session (no agent, no token: an older cookie)
        payload.map(lambda p: _serializer(DESK_SECRET).dumps(p, salt="session")),
    )


def _safe_header(value: str) -> str:
    return "".join(c for c in value if c.isprintable() and c.isascii() and c not in ";,")


# ------------------------------------------------------------------ battery


async def test_the_login_form_never_answers_5xx(stack: Stack) -> None:
    fields = st.dictionaries(
        st.sampled_from(["csrf", "name", "password", "next", "x"]),
        st.one_of(TEXT, NUMBERS, JSON, st.sampled_from(["alice", "//evil.test", "/desk"])),
        max_size=5,
    )
    bodies = st.one_of(fields.map(_form), fields.map(encoded), RAW)
    origins = st.sampled_from([None, "same", "http://evil.test", "null", ""])
    login_cookies = st.sampled_from(["none", "fresh", "forged"])

    @FUZZ
    @given(
        body=bodies,
        content_type=st.sampled_from([_FORM, "application/json", "multipart/form-data", ""]),
        origin=origins,
        with_cookie=login_cookies,
    )
    def login(body: bytes, content_type: str, origin: str | None, with_cookie: str) -> None:
        headers: dict[str, bytes | str] = {"Content-Type": content_type}
        if origin is not None:
            headers["Origin"] = f"http://127.0.0.1:{stack.port}" if origin == "same" else origin
        if with_cookie != "none":
            fresh = request(stack.port, "GET", "/desk/login").cookies[LOGIN_COOKIE]
            token = fresh if with_cookie == "fresh" else "forged-" + uuid.uuid4().hex
            headers["Cookie"] = f"{LOGIN_COOKIE}={token}"
        answer = request(stack.port, "POST", "/desk/login", body, headers)
        assert answer.status < 500, (answer.status, answer.body[:300], body[:300])
        assert SESSION_COOKIE not in answer.cookies, (answer.status, body[:300])

    await asyncio.to_thread(fuzz, login)
    await still_answers(stack)
    await asyncio.to_thread(log_in, stack.port, "bob")  # another agent still gets in


async def test_the_desk_without_a_session_never_answers_200(stack: Stack) -> None:
    real, csrf = await asyncio.to_thread(log_in, stack.port)

    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST"]),
        path=DESK_PATHS,
        cookie=cookies(real),
        body=operation_bodies(),
        accept=st.sampled_from(["", "text/html", "application/json"]),
        token=st.sampled_from([None, csrf, "forged"]),
    )
    def anonymous(
        method: str,
        path: str,
        cookie: str | None,
        body: tuple[str, bytes, str],
        accept: str,
        token: str | None,
    ) -> None:
        _, content, content_type = body
        headers: dict[str, bytes | str] = {"Content-Type": content_type, "Accept": accept}
        if cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={_safe_header(cookie)}"
        if token is not None:
            headers["X-CSRF-Token"] = token
        answer = request(stack.port, method, path, content if method == "POST" else None, headers)
        assert answer.status < 500, (answer.status, answer.body[:300], cookie)
        refused = (303, 401, 403)
        if method == "POST" and path.startswith("/dashboard"):
            # GET-only routes outside the login middleware (the dashboard guards in its
            # handlers): aiohttp's 405 comes first, and shows nothing.
            refused = (*refused, 405)
        assert answer.status in refused, (answer.status, method, path, cookie)

    await asyncio.to_thread(fuzz, anonymous)
    await still_answers(stack)


async def _a_ticket(stack: Stack, session: str) -> int:
    """A web chat customer asks for a person: the desk's ticket (a real id to fuzz)."""
    await say_on_web(stack, uuid.uuid4().hex, "a human please")

    def queued() -> list[int]:
        answer = request(
            stack.port, "GET", "/desk/api/queue", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
        )
        return [t["id"] for t in json.loads(answer.body)["tickets"]]

    return (await eventually(queued, timeout=15))[0]


async def test_the_desk_logged_in_never_answers_5xx(stack: Stack) -> None:
    session, csrf = await asyncio.to_thread(log_in, stack.port)
    ticket = await _a_ticket(stack, session)
    ticket_ids = st.one_of(st.just(str(ticket)), TICKET_IDS)
    same = f"http://127.0.0.1:{stack.port}"

    @FUZZ
    @given(
        ticket_id=ticket_ids,
        body=operation_bodies(),
        read=st.sampled_from(["", "/relabel", "queue"]),
        token=st.sampled_from([csrf] * 6 + [None, "", "forged", csrf + "x"]),
        origin=st.sampled_from([None] * 3 + [same] * 3 + ["http://evil.test", "null"]),
    )
    def agent(
        ticket_id: str,
        body: tuple[str, bytes, str],
        read: str,
        token: str | None,
        origin: str | None,
    ) -> None:
        operation, content, content_type = body
        headers: dict[str, bytes | str] = {
            "Content-Type": content_type,
            "Cookie": f"{SESSION_COOKIE}={session}",
        }
        if token is not None:
            headers["X-CSRF-Token"] = token
        if origin is not None:
            headers["Origin"] = origin
        path = f"/desk/api/tickets/{ticket_id}/{operation}"
        answer = request(stack.port, "POST", path, content, headers)
        assert answer.status < 500, (answer.status, answer.body[:300], path, content[:300])
        if token != csrf or origin not in (None, same):
            assert answer.status == 403, (answer.status, answer.body[:300])
        shown = "/desk/api/queue" if read == "queue" else f"/desk/api/tickets/{ticket_id}{read}"
        answer = request(
            stack.port, "GET", shown, headers={"Cookie": f"{SESSION_COOKIE}={session}"}
        )
        assert answer.status < 500, (answer.status, answer.body[:300], shown)
        _json_or_refused(answer)

    await asyncio.to_thread(fuzz, agent)
    await still_answers(stack)


def _json_or_refused(answer: Answer) -> None:
    """A read answers JSON (200) or refuses (404 for a ticket that is not there)."""
    if answer.status == 200:
        assert isinstance(json.loads(answer.body), dict)
    else:
        assert answer.status == 404, (answer.status, answer.body[:300])


async def test_the_dashboard_api_never_answers_5xx(stack: Stack) -> None:
    session, _ = await asyncio.to_thread(log_in, stack.port)
    days = st.one_of(
        st.dates().map(str),
        st.sampled_from(["2026-02-30", "2026-13-01", "0000-01-01", "9999-12-31", "20261101"]),
        st.sampled_from(["2026-11-01T00:00", "2026-W45", "today", "-1"]),
        TEXT,
        NUMBERS.map(str),
    )
    params = st.fixed_dictionaries(
        {},
        optional={
            "since": days,
            "until": days,
            "channel": st.sampled_from(["telegram", "twitter", "webchat", "slack", ""]) | TEXT,
            "demo": st.sampled_from(["0", "1", "", "true", "2"]) | TEXT,
            "x": TEXT,
        },
    )

    @FUZZ
    @given(query=params, repeated=st.booleans())
    def dashboard(query: dict[str, str], repeated: bool) -> None:
        encoded_query = urllib.parse.urlencode(query, errors="surrogatepass", encoding="utf-8")
        if repeated and query:
            encoded_query += "&" + encoded_query  # each parameter twice
        path = f"/dashboard/api/report?{encoded_query}"
        answer = request(stack.port, "GET", path, headers={"Cookie": f"{SESSION_COOKIE}={session}"})
        assert answer.status < 500, (answer.status, answer.body[:300], path)
        if answer.status == 200:
            assert isinstance(json.loads(answer.body), dict)
        else:
            assert answer.status == 400, (answer.status, answer.body[:300], path)

    await asyncio.to_thread(fuzz, dashboard)
    await still_answers(stack)
