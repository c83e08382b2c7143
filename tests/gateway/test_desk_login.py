"""Agents' login (bot/desk/agents.py): a real aiohttp app on loopback, a real client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from bot.desk.agents import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Login,
    add_login_routes,
    agent_of,
)
from bot.desk.passwords import hash_password, verify_password
from bot.run import desk_notice
from bot.settings import ConfigError, DeskSettings, Secret, load_settings
from tests.conftest import PROJECT_ROOT, free_port
from tests.gateway.bot_run import stop
from tests.gateway.conftest import eventually, serve

PASSWORD = "correct horse battery"


async def secret_page(request: web.Request) -> web.Response:
    agent = agent_of(request)
    assert agent is not None  # the middleware let nobody else in
    return web.Response(text=f"hello {agent.name}")


async def secret_action(request: web.Request) -> web.Response:
    return web.json_response({"done": True})


@pytest_asyncio.fixture
async def site() -> AsyncIterator[str]:
    app = web.Application()
    settings = DeskSettings({"alice": Secret(hash_password(PASSWORD))})
    add_login_routes(app, Login(settings), protected=("/desk",))
    add_login_routes(app, Login(settings), protected=("/dashboard",))  # another page, later
    app.router.add_get("/desk", secret_page)
    app.router.add_post("/desk/api/act", secret_action)
    app.router.add_get("/dashboard/data", secret_page)
    app.router.add_get("/public", lambda _r: _ok())
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _ok() -> web.Response:
    return web.Response(text="anyone")


def client() -> aiohttp.ClientSession:
    # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(http: aiohttp.ClientSession, url: str, password: str = PASSWORD) -> int:
    """Logs in as the page does; the status of the form's answer."""
    return (await _log_in(http, url, password)).status


async def _log_in(
    http: aiohttp.ClientSession, url: str, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    form = await (await http.get(f"{url}/desk/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    response = await http.post(
        f"{url}/desk/login",
        data={"csrf": token.group(1), "name": "alice", "password": password, "next": "/desk"},
        headers={"Origin": url},
        allow_redirects=False,
    )
    return response


def test_passwords_are_hashed_with_a_salt_and_checked() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and PASSWORD not in first
    assert verify_password(first, PASSWORD) and verify_password(second, PASSWORD)
    assert not verify_password(first, PASSWORD + "!")
    assert not verify_password("scrypt:not:a:hash", PASSWORD)


def test_accounts_come_from_desk_agents() -> None:
    hashed = hash_password(PASSWORD)
    settings = load_settings({"DESK_AGENTS": f"alice={hashed}, bob.k={hashed}"}, dotenv=None)
    assert settings.desk is not None
    assert sorted(settings.desk.agents) == ["alice", "bob.k"]
    assert PASSWORD not in repr(settings.desk) and hashed not in repr(settings.desk)
    assert load_settings({}, dotenv=None).desk is None
    for bad in ("alice", f"Alice={hashed}", "alice=plaintext-password", f"alice={hashed},"):
        with pytest.raises(ConfigError, match="DESK_AGENTS"):
            load_settings({"DESK_AGENTS": bad}, dotenv=None)
    with pytest.raises(ConfigError, match="DESK_SESSION_SECRET"):
        load_settings({"DESK_AGENTS": f"a={hashed}", "DESK_SESSION_SECRET": "short"}, dotenv=None)


def test_the_hash_command_prints_a_hash_the_settings_take() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.desk.agents", "hash"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = done.stdout.strip()
    assert verify_password(hashed, PASSWORD)
    assert load_settings({"DESK_AGENTS": f"carol={hashed}"}, dotenv=None).desk is not None


async def test_nothing_protected_without_a_login(site: str) -> None:
    async with client() as http:
        page = await http.get(
            f"{site}/desk", headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert page.status == 303 and page.headers["Location"].startswith("/desk/login?next=")
        for method, path in [
            ("GET", "/desk"),
            ("POST", "/desk/api/act"),
            ("GET", "/dashboard/data"),
            ("GET", "/desk/api/nothing-here"),
        ]:
            response = await http.request(method, f"{site}{path}", allow_redirects=False)
            assert response.status == 401, (method, path)
        assert (await http.get(f"{site}/public")).status == 200


async def test_an_agent_logs_in_acts_and_logs_out(site: str) -> None:
    async with client() as http:
        answer = await _log_in(http, site)
        assert answer.status == 303
        cookie = answer.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert (await (await http.get(f"{site}/desk")).text()) == "hello alice"
        assert (await http.get(f"{site}/dashboard/data")).status == 200
        # A POST needs the session's CSRF token, which only the session knows.
        refused = await http.post(f"{site}/desk/api/act", headers={"Origin": site})
        assert refused.status == 403
        session = http.cookie_jar.filter_cookies(site)[SESSION_COOKIE].value  # type: ignore[arg-type]
        token = _token_of(session)
        done = await http.post(
            f"{site}/desk/api/act", headers={"Origin": site, "X-CSRF-Token": token}
        )
        assert done.status == 200
        # The right token from another site's page is still refused.
        forged = await http.post(
            f"{site}/desk/api/act",
            headers={"Origin": "http://evil.example", "X-CSRF-Token": token},
        )
        assert forged.status == 403
        out = await http.post(
            f"{site}/desk/logout",
            data={"csrf": token},
            headers={"Origin": site},
            allow_redirects=False,
        )
        assert out.status == 303
        assert (await http.get(f"{site}/desk", allow_redirects=False)).status == 401
    # The old cookie, kept by someone, no longer works after logging out.
    async with client() as thief:
        thief.cookie_jar.update_cookies({SESSION_COOKIE: session})
        assert (await thief.get(f"{site}/desk", allow_redirects=False)).status == 401


def _token_of(cookie: str) -> str:
    """The CSRF token inside a session cookie (its payload is signed, not secret)."""
    from itsdangerous import URLSafeTimedSerializer

    payload = URLSafeTimedSerializer("unused", salt="desk").loads_unsafe(cookie, salt="session")[1]
    return str(payload["csrf"])


async def test_a_forged_or_tampered_session_is_refused(site: str) -> None:
    async with client() as http:
        assert await log_in(http, site) == 303
        session = http.cookie_jar.filter_cookies(site)[SESSION_COOKIE].value  # type: ignore[arg-type]
    tampered = session.replace("alice", "bobby") if "alice" in session else session[:-3] + "AAA"
    for cookie in (tampered, "garbage", session[:-3] + "AAA"):
        async with client() as http:
            http.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
            assert (await http.get(f"{site}/desk", allow_redirects=False)).status == 401


def test_a_session_signed_by_us_but_of_another_shape_is_nobody() -> None:
    """Only our key signs sessions, yet what it signed is read as data, not trusted as a
    shape: a list of pairs with no names for keys made pydantic raise TypeError (a 500 on
    every desk page, found by tests/gateway/test_fuzz_desk.py)."""
    login = Login(DeskSettings({"alice": Secret(hash_password(PASSWORD))}))
    alice = login.session_for("alice")
    assert login.agent(alice) is not None
    for payload in ([[None, None]], [[1, 2]], [["agent", "alice"]], [], "alice", 7, None):
        cookie = login.serializer.dumps(payload, salt="session")
        assert login.agent(cookie) is None, payload
        login.end(cookie)  # nobody's session: nothing to end, and no error
    assert login.agent(alice) is not None


async def test_login_needs_its_form_token_and_this_site(site: str) -> None:
    async with client() as http:
        no_form = await http.post(
            f"{site}/desk/login",
            data={"csrf": "made-up", "name": "alice", "password": PASSWORD},
            allow_redirects=False,
        )
        assert no_form.status == 403
        page = await http.get(f"{site}/desk/login")
        assert page.headers["X-Frame-Options"] == "DENY"
        form = await page.text()
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        elsewhere = await http.post(
            f"{site}/desk/login",
            data={"csrf": token, "name": "alice", "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
            allow_redirects=False,
        )
        assert elsewhere.status == 403
        assert http.cookie_jar.filter_cookies(site).get(SESSION_COOKIE) is None  # type: ignore[arg-type]
        assert http.cookie_jar.filter_cookies(site).get(LOGIN_COOKIE) is not None  # type: ignore[arg-type]


async def test_wrong_passwords_are_limited(site: str) -> None:
    async with client() as http:
        for _ in range(5):
            assert await log_in(http, site, "wrong password") == 401
        # Now even the right password waits: guessing is slowed to 5 tries in 5 minutes.
        assert await log_in(http, site) == 429
        assert (await http.get(f"{site}/desk", allow_redirects=False)).status == 401


async def test_after_login_only_a_path_on_this_site(site: str) -> None:
    async with client() as http:
        form = await (await http.get(f"{site}/desk/login?next=//evil.example/x")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        response = await http.post(
            f"{site}/desk/login",
            data={"csrf": token, "name": "alice", "password": PASSWORD, "next": "//evil.example"},
            headers={"Origin": site},
            allow_redirects=False,
        )
        assert response.status == 303 and response.headers["Location"] == "/desk"


def test_add_puts_an_agent_into_the_env_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dotenv = tmp_path / ".env"
    dotenv.write_text("# mine\nGATEWAY_PORT=8001\n", encoding="utf-8")
    env = {**os.environ, "GATEWAY_DOTENV": str(dotenv)}
    for name, password in [("alice", PASSWORD), ("bob", "bobs password"), ("alice", "new one!")]:
        subprocess.run(
            [sys.executable, "-m", "bot.desk.agents", "add", name],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    lines = dotenv.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["# mine", "GATEWAY_PORT=8001"] and len(lines) == 3
    desk = load_settings({}, dotenv=dotenv).desk
    assert desk is not None and sorted(desk.agents) == ["alice", "bob"]
    assert verify_password(desk.agents["alice"].reveal(), "new one!")  # replaced, not added
    refused = subprocess.run(
        [sys.executable, "-m", "bot.desk.agents", "add", "Not A Name"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode == 2 and "lowercase" in refused.stderr


async def test_the_gateway_process_serves_the_desk_behind_its_login(
    tmp_path, fake_assistant
) -> None:  # type: ignore[no-untyped-def]
    """What ``make run`` starts (``python -m bot.gateway``) with an agent in .env."""
    _assistant, rasa_url = fake_assistant
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DESK_AGENTS=alice={hash_password(PASSWORD)}\n", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DOTENV": str(dotenv),
        "CARE_DATABASE_URL": f"sqlite:///{tmp_path / 'care.db'}",
        "RASA_URL": rasa_url,
        "ACTION_SERVER_URL": rasa_url,
        "GATEWAY_PORT": str(port),
    }
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.gateway"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with client() as http:

            async def up() -> bool:
                assert process.poll() is None, "the gateway stopped"
                try:
                    return (await http.get(f"{url}/healthz")).status == 200
                except aiohttp.ClientError:
                    return False

            # A Python process's start: tens of seconds on a loaded machine.
            await eventually(up, timeout=120)
            assert (await http.get(f"{url}/desk/api/queue")).status == 401
            assert await log_in(http, url) == 303
            queue = await http.get(f"{url}/desk/api/queue")
            assert queue.status == 200 and (await queue.json())["tickets"] == []
    finally:
        assert await stop(process, timeout=15), "the gateway did not stop in 15 s"
    assert desk_notice(port, {"GATEWAY_DOTENV": str(dotenv)}) == (
        f"Agents' web desk: {url}/desk  (agents: alice)"
    )
    assert "bot.desk.agents add NAME" in desk_notice(port, {"GATEWAY_DOTENV": ""})
