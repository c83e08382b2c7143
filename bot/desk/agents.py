"""Agents' accounts and login, for the web desk and any other page for agents only.

Accounts come from the configuration (``DESK_AGENTS=alice=HASH,bob=HASH``, see
:class:`bot.settings.DeskSettings`); ``python -m bot.desk.agents hash`` asks
for a password and prints its hash, ``python -m bot.desk.agents add NAME``
writes it into ``.env`` too. The API, for the web desk and the
dashboard alike::

    login = Login(settings.desk)                       # the accounts, the cookie key
    add_login_routes(app, login, protected=("/desk", "/dashboard"))
    # (the gateway's web desk calls it for /desk; called again, it only guards more)
    ...
    agent = agent_of(request)          # the Agent behind a request (None: nobody)
    check_csrf(request)                # every state-changing request, raises 403

``add_login_routes`` serves ``GET/POST /desk/login`` and ``POST /desk/logout``
and installs a middleware in front of every path under ``protected``: without
a valid session an HTML page answers 303 to the login page, anything else 401;
every POST there must carry the session's CSRF token (header ``X-CSRF-Token``
or form field ``csrf``) and, when the browser sends one, an ``Origin`` of this
host. The login form has its own token in a short-lived signed cookie (a
forged login would sign a victim into an attacker's account).

The session is a signed cookie (itsdangerous: HMAC-SHA1 over the agent's name,
a session id, the CSRF token and the time), HttpOnly, SameSite=Strict, Secure
when the request came over TLS, good for :data:`SESSION_HOURS`. Logging out
forgets the session id in this process.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import hmac
import logging
import os
import re
import secrets
import sys
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import StrictStr, ValidationError

from bot.brand import PROJECT_ROOT
from bot.desk.passwords import hash_password, verify_password
from bot.edge import Strict, read_form
from bot.settings import DeskSettings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "care_desk"
LOGIN_COOKIE = "care_desk_login"
SESSION_HOURS = 12
LOGIN_PATH = "/desk/login"
LOGOUT_PATH = "/desk/logout"
# Wrong passwords: this many per client address or per account name in the window,
# then 429 until the oldest leaves it.
FAILURES_ALLOWED = 5
FAILURE_WINDOW = 300.0
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Agent:
    """A logged-in agent: their name is their id in tickets and the audit trail."""

    name: str
    csrf: str


class Session(Strict):
    """What a session cookie carries (signed: only its shape can be wrong, never its origin)."""

    agent: StrictStr
    sid: StrictStr
    csrf: StrictStr


@functools.cache
def _nobody() -> str:
    """Checked when the name is unknown, so that it takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


class FailedLogins:
    """Recent wrong passwords per client address and per account name."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW) -> None:
        self.allowed = allowed
        self.window = window
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def wait(self, keys: list[str], now: float) -> float:
        """Seconds until another try is allowed (0: now)."""
        longest = 0.0
        for key in keys:
            times = self._seen.get(key)
            while times and now - times[0] > self.window:
                times.popleft()
            if times is not None and len(times) >= self.allowed:
                longest = max(longest, self.window - (now - times[0]))
            if times is not None and not times:
                del self._seen[key]
        return longest

    def failed(self, keys: list[str], now: float) -> None:
        if len(self._seen) > MAX_TRACKED:  # many names or addresses: forget the old ones
            for key in [k for k, times in self._seen.items() if now - times[-1] > self.window]:
                del self._seen[key]
        for key in keys:
            self._seen[key].append(now)


class Login:
    """The accounts, the cookie key, and who is logged in."""

    def __init__(self, settings: DeskSettings, clock: Callable[[], float] = time.time) -> None:
        self.accounts = {name: hashed.reveal() for name, hashed in settings.agents.items()}
        key = settings.session_secret.reveal() if settings.session_secret else None
        # Without a configured key, sessions end when the gateway restarts (and several
        # gateway processes behind one address need DESK_SESSION_SECRET to share them).
        self.serializer = URLSafeTimedSerializer(key or secrets.token_urlsafe(32), salt="desk")
        self.failures = FailedLogins()
        self.clock = clock
        self._ended: dict[str, float] = {}

    async def check(self, name: str, password: str) -> bool:
        """Whether the name and password are an account's; in a thread (scrypt is slow)."""
        stored = self.accounts.get(name)
        matches = await asyncio.to_thread(verify_password, stored or _nobody(), password)
        return matches and stored is not None

    def session_for(self, name: str) -> str:
        """A new session's cookie value."""
        return self.serializer.dumps(
            {"agent": name, "sid": secrets.token_urlsafe(16), "csrf": secrets.token_urlsafe(24)},
            salt="session",
        )

    def agent(self, cookie: str | None) -> Agent | None:
        """The agent a session cookie belongs to, if it is valid, current and theirs."""
        data = self._load(cookie)
        if data is None or data.agent not in self.accounts or data.sid in self._ended:
            return None
        return Agent(data.agent, data.csrf)

    def end(self, cookie: str | None) -> None:
        data = self._load(cookie)
        if data is not None:
            now = self.clock()
            # Ended sessions are remembered until they would have expired anyway.
            self._ended = {sid: until for sid, until in self._ended.items() if until > now}
            self._ended[data.sid] = now + SESSION_HOURS * 3600

    def _load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, salt="session", max_age=SESSION_HOURS * 3600)
            if not isinstance(data, dict):
                # pydantic would make a dict of a list of pairs, and raise TypeError on one
                # whose keys are not names ([[null, null]]): a 500, where it is nobody.
                return None
            return Session.parse_obj(data)
        except (BadSignature, ValidationError):
            # Signed by us but not a session (an older version's cookie): nobody.
            return None


LOGIN = web.AppKey("desk_login", Login)
_AGENT_KEY = "desk_agent"


def agent_of(request: web.Request) -> Agent | None:
    """The logged-in agent behind a request, or None."""
    known = request.get(_AGENT_KEY)
    if isinstance(known, Agent):
        return known
    login = request.app.get(LOGIN)
    return login.agent(request.cookies.get(SESSION_COOKIE)) if login else None


def _same_origin(request: web.Request) -> bool:
    """An ``Origin`` (or, without it, a ``Referer``) naming another host is a forgery."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        return True  # not sent by a browser page; the CSRF token still has to match
    return urlsplit(source).netloc == request.host


def check_csrf(request: web.Request, agent: Agent, form_token: str | None = None) -> None:
    """Refuses (403) a state-changing request without the session's token or from elsewhere."""
    token = request.headers.get("X-CSRF-Token") or form_token or ""
    if not _same_origin(request) or not hmac.compare_digest(token.encode(), agent.csrf.encode()):
        raise web.HTTPForbidden(text="The page is out of date or from another site: reload it.")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def refuse_nobody(request: web.Request) -> NoReturn:
    """The answer to a request without a logged-in agent: a page asks for the login,
    anything else is 401."""
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(request.path_qs)}")
    raise web.HTTPUnauthorized(text="Log in first.")


def require_agent(protected: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: nothing under ``protected`` without a session; CSRF checked on POSTs."""
    public = {LOGIN_PATH}

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not _under(request.path, protected) or request.path in public:
            return await handler(request)
        agent = agent_of(request)
        if agent is None:
            refuse_nobody(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.path != LOGOUT_PATH:
            check_csrf(request, agent)
        request[_AGENT_KEY] = agent
        return await handler(request)

    return middleware


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Care desk: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.3rem 0;box-sizing:border-box}}
input,button{{padding:.5rem;font:inherit}}.error{{color:#a00}}</style></head>
<body><h1>Care desk</h1>{error}
<form method="post" action="{action}">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="next" value="{next}">
<label for="name">Name</label><input id="name" name="name" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button></form></body></html>"""


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme) after logging in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/desk"


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


async def login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    page = LOGIN_PAGE.format(
        error=f'<p class="error" role="alert">{escape(error)}</p>' if error else "",
        action=LOGIN_PATH,
        token=token,
        next=escape(_safe_next(request.query.get("next"))),
    )
    response = web.Response(text=page, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"  # no login form inside another site
    _cookie(response, request, LOGIN_COOKIE, token)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """Checks the form; a session cookie and a redirect, or the form again."""
    state = request.app[LOGIN]
    form = await read_form(request)
    token, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    matches = hmac.compare_digest(token.encode(), expected.encode())
    if not (_same_origin(request) and expected and matches):
        raise web.HTTPForbidden(text="The login form is out of date or from another site.")
    name = str(form.get("name", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    keys = [f"ip:{request.remote}", f"name:{name}"]
    wait = state.failures.wait(keys, state.clock())
    if wait > 0:
        response = await login_page(request, "Too many wrong passwords: wait a few minutes.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if not await state.check(name, password):
        state.failures.failed(keys, state.clock())
        logger.info("desk: a wrong name or password from %s", request.remote)
        return await login_page(request, "Wrong name or password.", 401)
    logger.info("desk: %s logged in", name)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    _cookie(response, request, SESSION_COOKIE, state.session_for(name))
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the session (its token must match: nobody else can log an agent out)."""
    agent = agent_of(request)
    if agent is not None:
        form = await read_form(request)
        check_csrf(request, agent, str(form.get("csrf", "")))
        request.app[LOGIN].end(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther(LOGIN_PATH)
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def add_login_routes(
    app: web.Application, login_state: Login, protected: tuple[str, ...] = ("/desk",)
) -> None:
    """The login and logout routes, and the middleware that guards ``protected``.

    Called again (another page for agents), it only guards more prefixes: the login
    routes and the accounts stay those of the first call."""
    if LOGIN not in app:
        app[LOGIN] = login_state
        app.router.add_get(LOGIN_PATH, login_page)
        app.router.add_post(LOGIN_PATH, login)
        app.router.add_post(LOGOUT_PATH, logout)
    app.middlewares.append(require_agent(protected))


def add_to_dotenv(path: Path, name: str, hashed: str) -> None:
    """Adds (or replaces) ``name`` in the ``DESK_AGENTS`` line of a .env file."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entry = f"{name}={hashed}"
    for index, line in enumerate(lines):
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "DESK_AGENTS":
            others = [
                e for e in value.split(",") if e.strip() and e.strip().partition("=")[0] != name
            ]
            lines[index] = "DESK_AGENTS=" + ",".join([*others, entry])
            break
    else:
        lines.append(f"DESK_AGENTS={entry}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        print("The two passwords differ.", file=sys.stderr)
        return None
    return password


USAGE = """usage: python -m bot.desk.agents hash       prints a password's hash for DESK_AGENTS
       python -m bot.desk.agents add NAME   adds an agent to .env (or GATEWAY_DOTENV)"""


def main(argv: list[str] | None = None) -> int:
    """``hash``: asks for a password, prints its hash; ``add NAME``: into .env as well."""
    args = sys.argv[1:] if argv is None else argv
    adding = len(args) == 2 and args[0] == "add"
    if args != ["hash"] and not adding:
        print(USAGE, file=sys.stderr)
        return 2
    if adding and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,31}", args[1]):
        print("A name is lowercase letters, digits, '.', '_' or '-' (32 at most).", file=sys.stderr)
        return 2
    password = _read_password()
    if password is None:
        return 1
    if len(password) < 8:
        print("Use at least 8 characters.", file=sys.stderr)
        return 1
    hashed = hash_password(password)
    if not adding:
        print(hashed)
        return 0
    dotenv = Path(os.environ.get("GATEWAY_DOTENV") or PROJECT_ROOT / ".env")
    add_to_dotenv(dotenv, args[1], hashed)
    print(f"{args[1]} can log in at /desk once the gateway (re)starts (added to {dotenv}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
