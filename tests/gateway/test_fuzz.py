"""A fuzz battery against a running gateway: no 5xx, still alive, still answering once.

The gateway runs as its own process (``python -m bot.gateway``), with the web
chat, Telegram in webhook mode and the Slack desk in HTTP mode, against the
fake platforms. Hypothesis sends it malformed requests, four kinds of them,
each as its own test on each store:

* the web chat: posts (JSON of any shape and depth, odd text, raw bytes),
  reply polls (odd query strings) and rating taps;
* the Telegram webhook: updates (messages, and taps on a rating's button)
  mutated field by field, with the right secret, some without;
* the Slack events endpoint, signed: events, clicks, modal submissions and
  slash commands mutated field by field, signed with the signing secret;
* the Slack events endpoint, unsigned: any body with missing, malformed or
  forged signature headers (each must be 401).

Every answer must be below 500. After each battery the process must still
run, must have logged no traceback, and a good web chat message and a good
Telegram update must each be answered, exactly once.

The agents' web desk and the dashboard have 4 more, against the same process
(tests/gateway/test_fuzz_desk.py).

Time: ``GATEWAY_FUZZ_SECONDS`` (default 60) is the whole battery's budget,
shared by its 8 batteries (4 here, 4 in test_fuzz_desk.py) on the 2 stores, so
about 3.75 seconds of requests each in CI. A longer hunt::

    GATEWAY_FUZZ_SECONDS=1800 .venv/bin/python -m pytest \
        tests/gateway/test_fuzz.py tests/gateway/test_fuzz_desk.py

Hypothesis keeps no example database (``database=None``): every run draws
afresh, and nothing is written into the repository.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import PROJECT_ROOT, free_port
from tests.fakes.assistant import FakeAssistant
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.gateway.bot_run import stop
from tests.gateway.conftest import (
    AGENTS,
    ESCALATIONS,
    SLACK_SECRET,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    eventually,
)
from tests.gateway.web_agent import agent_hashes

pytestmark = pytest.mark.slow

BUDGET = float(os.environ.get("GATEWAY_FUZZ_SECONDS", "60"))
# 4 kinds here, 4 against the agents' web desk and the dashboard (tests/gateway/test_fuzz_desk.py)
KINDS, STORES = 8, 2
SECONDS = BUDGET / (KINDS * STORES)
WEBHOOK_SECRET = "fuzz-webhook-Secret_1"
DESK_SECRET = "fuzz-desk-session-secret-0123456789"
EXAMPLES_PER_RUN = 25


# ------------------------------------------------------------- the gateway


@dataclass
class Stack:
    """The gateway process and the fake platforms it talks to."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    assistant: FakeAssistant
    telegram: FakeTelegram
    slack: FakeSlack

    def alive(self) -> bool:
        return self.process.poll() is None


@pytest_asyncio.fixture
async def stack(
    tmp_path: Path, database_url: str, fake_assistant, fake_telegram, fake_slack
) -> AsyncIterator[Stack]:
    assistant, rasa_url = fake_assistant
    telegram, telegram_api = fake_telegram
    slack, slack_api = fake_slack
    port = free_port()
    log = tmp_path / "gateway.log"
    env = {
        **os.environ,
        "GATEWAY_DOTENV": "",
        "CARE_DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKER_ID": "gw-fuzz",
        "RASA_URL": rasa_url,
        "ACTION_SERVER_URL": rasa_url,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_URL": telegram_api,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": "https://example.test/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_PER_CHAT_INTERVAL": "0",
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_ESCALATION_CHANNEL": ESCALATIONS,
        "SLACK_MODE": "http",
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack_api,
        # The agents' web desk and the dashboard behind its login (tests/gateway/test_fuzz_desk.py)
        "DESK_AGENTS": ",".join(f"{name}={hashed}" for name, hashed in agent_hashes().items()),
        "DESK_SESSION_SECRET": DESK_SECRET,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.gateway"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Stack(port, process, log, assistant, telegram, slack)
    try:
        await eventually(
            lambda: not running.alive() or _status(port, "GET", "/healthz") == 200,
            timeout=60,
            interval=0.2,
        )
        assert running.alive(), log.read_text()
        await eventually(lambda: telegram.webhook)  # Telegram is on: the webhook is set
        yield running
    finally:
        await stop(process)


def _status(port: int, method: str, path: str) -> int | None:
    try:
        return request(port, method, path).status
    except OSError:
        return None


@dataclass
class Answer:
    status: int
    body: bytes
    cookies: dict[str, str]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, bytes | str] | None = None,
) -> Answer:
    """One request with the standard library, which sends header bytes as they are."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        cookies = SimpleCookie()
        for line in response.headers.get_all("Set-Cookie") or []:
            cookies.load(line)
        return Answer(response.status, response.read(), {k: m.value for k, m in cookies.items()})
    finally:
        connection.close()


def fuzz(test: Callable[[], None], seconds: float = SECONDS) -> int:
    """Runs the Hypothesis test again and again, each run new examples, for ``seconds``;
    returns how many runs there were (a failure raises with its smallest example)."""
    deadline = time.monotonic() + seconds
    runs = 0
    while runs == 0 or time.monotonic() < deadline:
        test()
        runs += 1
    return runs


FUZZ = settings(
    max_examples=EXAMPLES_PER_RUN,
    database=None,  # nothing written into the repository; every run draws afresh
    deadline=None,  # an answer may wait for the store
    phases=[Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


async def say_on_web(stack: Stack, session: str, text: str) -> None:
    """A good web chat message, as the page sends it (accepted: 202)."""
    posted = await asyncio.to_thread(
        request,
        stack.port,
        "POST",
        "/webchat/api/messages",
        json.dumps({"session": session, "id": uuid.uuid4().hex, "text": text}).encode(),
        {"Content-Type": "application/json"},
    )
    assert posted.status == 202


async def still_answers(stack: Stack) -> None:
    """Alive, no traceback logged, and a good message on each channel answered once."""
    assert stack.alive(), stack.log.read_text()[-3000:]
    logged = stack.log.read_text(errors="replace")
    assert "Traceback" not in logged, logged[logged.find("Traceback") - 500 :][:4000]
    assert "Error handling request" not in logged, logged[-3000:]
    session, text = uuid.uuid4().hex, f"is NW{uuid.uuid4().int % 9000 + 1} on time?"
    await say_on_web(stack, session, text)

    def web_replies() -> list[str]:
        answer = request(stack.port, "GET", f"/webchat/api/messages?session={session}")
        return [m["text"] for m in json.loads(answer.body)["messages"]]

    await eventually(lambda: web_replies(), timeout=15)
    chat = 10**12 + uuid.uuid4().int % 10**9
    update = {"update_id": 10**9 + chat % 10**8, **stack.telegram.message_update(text, chat, chat)}
    sent = await asyncio.to_thread(
        request,
        stack.port,
        "POST",
        "/telegram/webhook",
        json.dumps(update).encode(),
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
    )
    assert sent.status == 200
    await eventually(lambda: stack.telegram.replies_to(chat), timeout=15)
    await asyncio.sleep(1.0)  # anything answered twice would show by now
    assert web_replies() == [f"echo: {text}"]
    assert stack.telegram.replies_to(chat) == [f"echo: {text}"]
    assert stack.assistant.texts().count(text) == 2  # once per channel


# --------------------------------------------------------------- strategies

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "\udfff x",
        "e\u0301",
        "\u202e",
        "\U0010ffff",
        f"@{BOT_USERNAME}",
        "@NorthwindAir",
        "&amp;&lt;",
        "human",
        "explode",
        "garbled",
        "silent",
        "x" * 4097,
        "y" * 70_000,
        "1" * 5000,
    ]
)
TEXT = st.one_of(ODD_TEXT, st.text(st.characters(exclude_categories=()), max_size=60))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**52, 2**53, 2**63, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
DEEP = st.integers(min_value=20, max_value=3000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n])
)
RAW = st.one_of(
    st.binary(max_size=200),
    DEEP.map(str.encode),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"{", b"null", b"[]", b"NaN", b"1e999", b'{"a": Infinity}']),
)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with up to four of its values (at any depth) replaced by anything."""
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        places = list(_places(value))
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        if draw(st.booleans()):
            container[key] = draw(JSON)
        elif isinstance(container, dict):
            del container[key]
        else:
            container[key] = draw(SCALARS)
    return value


def _places(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield value, key
            yield from _places(inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield value, index
            yield from _places(inner)


def encoded(value: Any) -> bytes:
    """JSON as a client might send it: lone surrogates escaped, other text as UTF-8."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------ battery


async def test_the_web_chat_never_answers_5xx(stack: Stack) -> None:
    page_id = st.one_of(st.just(uuid.uuid4().hex), TEXT, NUMBERS)
    post = mutated({"session": uuid.uuid4().hex, "id": uuid.uuid4().hex, "text": "hi"})
    bodies = st.one_of(
        post.map(encoded),
        st.fixed_dictionaries({"session": page_id, "id": page_id, "text": TEXT}).map(encoded),
        RAW,
    )
    content_types = st.sampled_from(
        ["application/json", "text/plain", "", "application/json; charset=latin-1"]
    )
    polls = st.dictionaries(
        st.sampled_from(["session", "after", "x"]),
        st.one_of(st.just(uuid.uuid4().hex), TEXT, NUMBERS.map(str)),
        max_size=3,
    )
    taps = st.one_of(
        mutated({"session": uuid.uuid4().hex, "rating": 1, "score": 5}).map(encoded), RAW
    )

    @FUZZ
    @given(body=bodies, content_type=content_types, poll=polls, tap=taps)
    def web_chat(body: bytes, content_type: str, poll: dict[str, str], tap: bytes) -> None:
        answer = request(
            stack.port, "POST", "/webchat/api/messages", body, {"Content-Type": content_type}
        )
        assert answer.status < 500, (answer.status, answer.body[:300])
        answer = request(
            stack.port, "POST", "/webchat/api/ratings", tap, {"Content-Type": content_type}
        )
        assert answer.status < 500, (answer.status, answer.body[:300])
        query = urllib.parse.urlencode(poll, errors="surrogatepass", encoding="utf-8")
        answer = request(stack.port, "GET", f"/webchat/api/messages?{query}")
        assert answer.status < 500, (answer.status, answer.body[:300])

    await asyncio.to_thread(fuzz, web_chat)
    await still_answers(stack)


async def test_the_telegram_webhook_never_answers_5xx(stack: Stack) -> None:
    private = stack.telegram.message_update("is NW881 late?", chat_id=4242, user_id=4242)
    group = stack.telegram.message_update(
        f"@{BOT_USERNAME} hi", chat_id=-4242, user_id=4243, chat_type="supergroup"
    )
    group["message"]["reply_to_message"] = copy.deepcopy(private["message"])
    tap = stack.telegram.tap_update("rate:1:5", message_id=1, chat_id=4242, user_id=4242)
    updates = st.one_of(
        mutated({"update_id": 1, **private}),
        mutated({"update_id": 2, **group}),
        mutated({"update_id": 3, **tap}),
    )
    secrets = st.sampled_from([WEBHOOK_SECRET] * 8 + ["", "wrong", "fuzz-webhook-Secret_"])

    @FUZZ
    @given(
        update=updates,
        update_id=st.integers(min_value=3, max_value=2**31),
        raw=st.one_of(st.none(), RAW),
        secret=secrets,
    )
    def telegram(update: Any, update_id: int, raw: bytes | None, secret: str) -> None:
        if isinstance(update, dict) and "update_id" in update:
            update["update_id"] = (
                update_id if isinstance(update["update_id"], int) else update["update_id"]
            )
        body = raw if raw is not None else encoded(update)
        answer = request(
            stack.port,
            "POST",
            "/telegram/webhook",
            body,
            {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        )
        assert answer.status < 500, (answer.status, answer.body[:300])
        if secret != WEBHOOK_SECRET:
            assert answer.status == 403

    await asyncio.to_thread(fuzz, telegram)
    await still_answers(stack)


def _signed(body: bytes, secret: str = SLACK_SECRET, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


SLACK_EVENT = {
    "type": "event_callback",
    "team_id": "T0CARE",
    "api_app_id": "A0",
    "event_id": "Ev0FUZZ",
    "event_time": 1700000000,
    "event": {
        "type": "message",
        "channel": ESCALATIONS,
        "user": AGENTS[0],
        "text": "Hi, I'm on it",
        "ts": "1700000000.000200",
        "thread_ts": "1700000001.000100",
        "channel_type": "channel",
    },
}
SLACK_CLICK = {
    "type": "block_actions",
    "team": {"id": "T0CARE"},
    "user": {"id": AGENTS[0]},
    "api_app_id": "A0",
    "trigger_id": "t",
    "channel": {"id": ESCALATIONS},
    "container": {"type": "message"},
    "actions": [{"action_id": "claim", "block_id": "b", "type": "button", "value": "1"}],
}
SLACK_MODAL = {
    "type": "view_submission",
    "team": {"id": "T0CARE"},
    "user": {"id": AGENTS[0]},
    "trigger_id": "t",
    "view": {
        "id": "V1",
        "type": "modal",
        "callback_id": "internal_note",
        "private_metadata": "1",
        "state": {"values": {"note": {"text": {"type": "plain_text_input", "value": "vip"}}}},
    },
}
SLACK_COMMAND = {
    "token": "legacy",
    "team_id": "T0CARE",
    "channel_id": ESCALATIONS,
    "user_id": AGENTS[0],
    "command": "/care-queue",
    "text": "",
    "trigger_id": "t",
}
ACTIONS = st.sampled_from(["claim", "resolve", "hand_back", "note", "relabel", "priority", "x"])


@st.composite
def slack_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["event", "click", "modal", "command", "raw"]))
    if kind == "event":
        return encoded(draw(mutated(SLACK_EVENT))), "application/json"
    if kind == "click":
        click = copy.deepcopy(SLACK_CLICK)
        click["actions"][0]["action_id"] = draw(ACTIONS)
        click["actions"][0]["value"] = draw(st.one_of(st.sampled_from(["1", "2", "999"]), TEXT))
        if draw(st.booleans()):
            click["actions"][0]["selected_option"] = {
                "value": draw(st.sampled_from(["1:high", "1:x", "2:urgent"]) | TEXT)
            }
        payload = draw(mutated(click))
        return _form({"payload": encoded(payload).decode("utf-8", "surrogatepass")}), _FORM
    if kind == "modal":
        modal = copy.deepcopy(SLACK_MODAL)
        modal["view"]["callback_id"] = draw(st.sampled_from(["internal_note", "relabel", "x"]))
        payload = draw(mutated(modal))
        return _form({"payload": encoded(payload).decode("utf-8", "surrogatepass")}), _FORM
    if kind == "command":
        command = draw(mutated(SLACK_COMMAND))
        fields = command if isinstance(command, dict) else {"x": command}
        return _form(
            {str(k): json.dumps(v) if not isinstance(v, str) else v for k, v in fields.items()}
        ), _FORM
    return draw(RAW), draw(st.sampled_from(["application/json", _FORM, "text/plain"]))


_FORM = "application/x-www-form-urlencoded"


def _form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields, errors="surrogatepass").encode()


async def test_the_slack_endpoint_signed_never_answers_5xx(stack: Stack) -> None:
    @FUZZ
    @given(request_body=slack_bodies())
    def signed(request_body: tuple[bytes, str]) -> None:
        body, content_type = request_body
        answer = request(
            stack.port,
            "POST",
            "/slack/events",
            body,
            {"Content-Type": content_type, **_signed(body)},
        )
        assert answer.status < 500, (answer.status, answer.body[:300], body[:300])

    await asyncio.to_thread(fuzz, signed)
    await still_answers(stack)


async def test_the_slack_endpoint_unsigned_always_answers_401(stack: Stack) -> None:
    header_values = st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"", b"abc", b"12.5", b"-5", b"9" * 40, "١٢٣".encode(), b"v0=abc"]),
        st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
    )

    @FUZZ
    @given(
        request_body=slack_bodies(),
        stamp=st.one_of(st.none(), header_values),
        signature=st.one_of(st.none(), header_values),
        forged=st.sampled_from(["none", "wrong-secret", "stale"]),
    )
    def unsigned(
        request_body: tuple[bytes, str], stamp: bytes | None, signature: bytes | None, forged: str
    ) -> None:
        body, content_type = request_body
        headers: dict[str, bytes | str] = {"Content-Type": content_type}
        if forged == "wrong-secret":
            headers.update(_signed(body, secret="not-the-secret"))
        elif forged == "stale":
            headers.update(_signed(body, stamp=str(int(time.time()) - 3600)))
        if stamp is not None:
            headers["X-Slack-Request-Timestamp"] = stamp.replace(b"\r", b"").replace(b"\n", b"")
        if signature is not None:
            headers["X-Slack-Signature"] = signature.replace(b"\r", b"").replace(b"\n", b"")
        answer = request(stack.port, "POST", "/slack/events", body, headers)
        assert answer.status < 500, (answer.status, answer.body[:300])
        assert answer.status in (400, 401), (answer.status, answer.body[:300])

    await asyncio.to_thread(fuzz, unsigned)
    await still_answers(stack)
