"""Malformed requests to every HTTP entry point: a short 4xx reason, never a 500.

One test per class of 500 the issue found from outside (issue 14): text with
lone surrogates or NUL, JSON nested 1,000 levels deep, numbers past 64 bits,
wrong JSON types, Slack actions with a ticket value that is not a number or
names no ticket, a slash command without ``user_id``, an unsigned Slack body
that is not JSON, a timestamp header that is not a number. Each runs on
SQLite and on PostgreSQL, and ends with a good message still answered. The
fuzz battery found more at the agents' web desk and the dashboard: login forms
aiohttp's reader could not read, signed cookies that are not a session, dates
at the ends of the calendar.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import uuid
from typing import Any

import aiohttp
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from bot.desk.agents import LOGIN_COOKIE, SESSION_COOKIE
from bot.settings import DeskSettings, Secret
from bot.store.models import AuditEvent, Message
from tests.fakes.slack import form_body
from tests.gateway.conftest import (
    AGENTS,
    ESCALATIONS,
    SLACK_SECRET,
    RunningGateway,
    eventually,
    slack_settings,
    telegram_settings,
    telegram_webhook_settings,
)
from tests.gateway.web_agent import WebAgent, desk_settings

WEBHOOK_SECRET = "s3cret-Token_1"
DEEP = b"[" * 1000 + b"]" * 1000
DEEPER = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000


async def _post(
    http: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str = "application/json",
    **headers: str,
) -> tuple[int, str]:
    async with http.post(
        url, data=io.BytesIO(body), headers={"Content-Type": content_type, **headers}
    ) as response:
        return response.status, await response.text()


async def _web_replies(http: aiohttp.ClientSession, url: str, session: str) -> list[str]:
    async with http.get(f"{url}/webchat/api/messages", params={"session": session}) as r:
        assert r.status == 200
        return [m["text"] for m in (await r.json())["messages"]]


async def _still_answers(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    """A good web chat message is answered, once."""
    session = uuid.uuid4().hex
    status, _ = await _post(
        http,
        f"{gateway.url}/webchat/api/messages",
        json.dumps(
            {"session": session, "id": uuid.uuid4().hex, "text": "is NW405 on time?"}
        ).encode(),
    )
    assert status == 202
    assert await eventually(lambda: _web_replies(http, gateway.url, session)) == [
        "echo: is NW405 on time?"
    ]


# ----------------------------------------------------------------- web chat

# ----------------------------------------------------------------- web chat


async def test_web_chat_text_is_cleaned_of_lone_surrogates_and_nul_and_composed(
    fake_assistant, start_gateway, http
) -> None:
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    session = uuid.uuid4().hex
    # JSON escapes: a lone high surrogate, a NUL, and "é" as e + combining accent.
    text = r"bag \ud83d lost\u0000 in caf\u0065\u0301"
    body = f'{{"session": "{session}", "id": "{uuid.uuid4().hex}", "text": "{text}"}}'.encode()
    status, reason = await _post(http, f"{gateway.url}/webchat/api/messages", body)
    assert status == 202, reason
    answer = await eventually(lambda: _web_replies(http, gateway.url, session))
    assert answer == ["echo: bag \ufffd lost in café"]
    assert assistant.texts() == ["bag \ufffd lost in café"]


async def test_json_nested_deep_is_refused_by_the_web_chat(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    for body in (DEEP, DEEPER):
        status, reason = await _post(http, f"{gateway.url}/webchat/api/messages", body)
        assert status == 400 and "nested" in reason
    await _still_answers(http, gateway)


async def test_reply_positions_past_64_bits_or_not_numbers_are_refused(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    for after in (str(2**64), str(2**63), "-1", "9" * 5000, "1e3", "nan", "١٢", "1_0"):
        async with http.get(
            f"{gateway.url}/webchat/api/messages",
            params={"session": uuid.uuid4().hex, "after": after},
        ) as response:
            assert response.status == 400, after
            assert "after" in (await response.json())["error"]
    await _still_answers(http, gateway)


WRONG_WEB_CHAT_FIELDS: list[dict[str, Any]] = [
    {"text": {"a": 1}},
    {"text": ["hi"]},
    {"text": 12},
    {"session": 12345678},
    {"id": ["abcdefgh"]},
    {"session": "abcdefgh\n"},
    {"text": "\u0000\u0000"},
    {"text": 1e400},
]


async def test_wrong_json_types_in_the_web_chat_are_refused(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    for fields in WRONG_WEB_CHAT_FIELDS:
        body = {"session": uuid.uuid4().hex, "id": uuid.uuid4().hex, "text": "hi", **fields}
        status, _ = await _post(
            http, f"{gateway.url}/webchat/api/messages", json.dumps(body).encode()
        )
        assert status == 400, fields
    with gateway.parts.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 0
    await _still_answers(http, gateway)


# ----------------------------------------------------------------- Telegram


@pytest.fixture
async def webhook(fake_assistant, fake_telegram, start_gateway):  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    settings = telegram_webhook_settings(api, WEBHOOK_SECRET)
    gateway = await start_gateway(rasa_url, telegram=settings)
    return gateway, telegram


async def _webhook(http: aiohttp.ClientSession, gateway: RunningGateway, body: bytes) -> int:
    status, _ = await _post(
        http,
        f"{gateway.url}/telegram/webhook",
        body,
        **{"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
    )
    return status


async def test_telegram_text_is_cleaned_of_lone_surrogates_and_nul(webhook, http) -> None:
    gateway, telegram = webhook
    update = {"update_id": 5001, **telegram.message_update("x", chat_id=811, user_id=811)}
    body = json.dumps(update).replace('"text": "x"', '"text": "where is \\udc00my bag\\u0000"')
    assert await _webhook(http, gateway, body.encode()) == 200
    await eventually(lambda: telegram.replies_to(811))
    assert telegram.replies_to(811) == ["echo: where is \ufffdmy bag"]


WRONG_TELEGRAM_FIELDS: list[dict[str, Any]] = [
    {"text": {"a": 1}},
    {"text": ["is NW405 late?"]},
    {"from": {"id": 812, "is_bot": False, "first_name": "J", "username": ["j"]}},
    {"from": {"id": 2**70, "is_bot": False, "first_name": "J"}},
    {"chat": {"id": "812", "type": "private"}},
    {"message_id": 2**64},
    {"date": 2**64},
]


async def test_a_telegram_update_with_wrong_types_is_set_aside_not_a_500(webhook, http) -> None:
    gateway, telegram = webhook
    for number, change in enumerate(WRONG_TELEGRAM_FIELDS):
        update = {"update_id": 5100 + number, **telegram.message_update("hi", 812, 812)}
        update["message"].update(change)
        assert await _webhook(http, gateway, json.dumps(update).encode()) == 200, change
    good = {"update_id": 5200, **telegram.message_update("and now?", chat_id=813, user_id=813)}
    assert await _webhook(http, gateway, json.dumps(good).encode()) == 200
    await eventually(lambda: telegram.replies_to(813))
    assert telegram.replies_to(813) == ["echo: and now?"]
    assert not telegram.replies_to(812)


async def test_json_nested_deep_is_refused_by_the_telegram_webhook(webhook, http) -> None:
    gateway, _telegram = webhook
    for body in (DEEP, DEEPER):
        assert await _webhook(http, gateway, body) == 400


# -------------------------------------------------------------------- Slack


@pytest.fixture
async def desk(fake_assistant, fake_telegram, fake_slack, start_gateway):  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    gateway = await start_gateway(
        rasa_url, telegram=telegram_settings(api), slack=slack_settings(slack_api)
    )
    return gateway, telegram, slack


async def _to_slack(
    http: aiohttp.ClientSession,
    gateway: RunningGateway,
    body: bytes,
    content_type: str = "application/x-www-form-urlencoded",
    signed: bool = True,
    **headers: str,
) -> tuple[int, str]:
    signature: dict[str, str] = {}
    if signed:  # over the bytes as sent, which need not be text
        stamp = str(int(time.time()))
        digest = hmac.new(
            SLACK_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256
        ).hexdigest()
        signature = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
    return await _post(
        http, f"{gateway.url}/slack/events", body, content_type, **{**signature, **headers}
    )


def _click(action: str, value: Any, user: str = AGENTS[0]) -> bytes:
    element = {"action_id": action, "block_id": "b", "type": "button", "value": value}
    if action == "priority":
        element = {"action_id": action, "selected_option": {"value": value}}
    payload = {
        "type": "block_actions",
        "team": {"id": "T0CARE"},
        "user": {"id": user},
        "channel": {"id": ESCALATIONS},
        "trigger_id": "t",
        "actions": [element],
    }
    return form_body(payload).encode()


async def test_a_signed_action_with_a_ticket_value_that_is_not_a_ticket_number_is_refused(
    desk, http
) -> None:
    gateway, _telegram, slack = desk
    for value in ("abc", "", "12abc", "²", "0", str(2**31), str(2**64), None, 7, ["1"]):
        for action in ("claim", "relabel"):
            status, _ = await _to_slack(http, gateway, _click(action, value))
            assert status == 400, (action, value)
    for value in ("abc:high", ":high", f"{2**64}:high", "1:", "1:h!gh", None):
        status, _ = await _to_slack(http, gateway, _click("priority", value))
        assert status == 400, value
    assert not slack.called("chat.postEphemeral")


async def test_a_signed_action_naming_a_ticket_that_does_not_exist_is_refused_politely(
    desk, http
) -> None:
    gateway, _telegram, slack = desk
    for action in ("claim", "resolve"):
        status, _ = await _to_slack(http, gateway, _click(action, "999999"))
        assert status == 200
    told = [e["text"] for e in slack.called("chat.postEphemeral")]
    assert told == ["There is no ticket #999999."] * 2
    with gateway.parts.sessions() as db:
        refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "refused")).all()
        assert [(r.ticket_id, r.details["ticket"]) for r in refused] == [(None, 999999)] * 2
    # An outsider naming it is refused the same way, and recorded.
    status, _ = await _to_slack(http, gateway, _click("claim", "999999", user="U0OUTSIDER"))
    assert status == 200
    # A correction of the bot for it: the agent is told, no modal opens.
    status, _ = await _to_slack(http, gateway, _click("relabel", "999999"))
    assert status == 200
    assert slack.called("chat.postEphemeral")[-1]["text"] == "There is no ticket #999999."
    assert not slack.called("views.open")


async def test_a_slash_command_without_a_user_is_refused(desk, http) -> None:
    gateway, _telegram, _slack = desk
    body = b"command=%2Fcare-queue&text=&team_id=T0CARE&channel_id=C0ESCALATE"
    status, reason = await _to_slack(http, gateway, body)
    assert status == 400 and "user_id" in reason


async def test_an_unsigned_slack_body_is_refused_before_it_is_read(desk, http) -> None:
    gateway, _telegram, _slack = desk
    for body in (b"not json", b'{"type": "event_callback", "event": ', b"\xff\xfe{}", DEEP):
        status, _ = await _to_slack(http, gateway, body, "application/json", signed=False)
        assert status == 401, body[:20]


async def test_a_timestamp_header_that_is_not_a_number_is_401(desk, http) -> None:
    gateway, _telegram, _slack = desk
    body = b'{"type": "url_verification", "challenge": "x"}'
    for stamp in ("abc", "", "12.5", "١٢٣", "9" * 40, "-5"):
        status, _ = await _to_slack(
            http,
            gateway,
            body,
            "application/json",
            signed=False,
            **{"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=abc"},
        )
        assert status == 401, stamp


JSON, FORM = "application/json", "application/x-www-form-urlencoded"
WRONG_SLACK_BODIES: list[tuple[bytes, str]] = [
    (b"\xff\xfe{}", JSON),
    (b"[1, 2]", JSON),
    (b"not json", JSON),
    (DEEP, JSON),
    (b"payload=%5B1%5D", FORM),
    (b"payload=nope", FORM),
    (
        json.dumps(
            {
                "type": "event_callback",
                "event_id": "Ev1",
                "event": {"type": "message", "text": {"a": 1}, "user": AGENTS[0]},
            }
        ).encode(),
        JSON,
    ),
    (json.dumps({"type": "event_callback", "event_id": 5, "event": "x"}).encode(), JSON),
    (form_body({"type": "block_actions", "user": {"id": 5}, "actions": []}).encode(), FORM),
    (form_body({"type": "block_actions", "team": 5, "user": "U1"}).encode(), FORM),
    (
        form_body(
            {"type": "view_submission", "user": {"id": AGENTS[0]}, "view": {"state": 1}}
        ).encode(),
        FORM,
    ),
    (
        form_body(
            {
                "type": "view_submission",
                "user": {"id": AGENTS[0]},
                "view": {"callback_id": "internal_note", "private_metadata": "1", "state": {}},
            }
        ).encode(),
        FORM,
    ),
]


# Found by the fuzz battery: Bolt reads a modal's type, and a workflow step's parts.
WRONG_SLACK_BODIES += [
    (
        form_body(
            {
                "type": "view_submission",
                "user": {"id": AGENTS[0]},
                "view": {"callback_id": "internal_note", "private_metadata": "1", "state": {}},
            }
        ).encode(),
        FORM,
    ),
    (
        form_body(
            {
                "type": "view_closed",
                "user": {"id": AGENTS[0]},
                "view": {"callback_id": "x", "type": "workflow_step"},
            }
        ).encode(),
        FORM,
    ),
    (form_body({"type": "workflow_step_edit", "callback_id": "x"}).encode(), FORM),
    (json.dumps({"type": [], "event": {"type": "message"}}).encode(), JSON),
    (json.dumps({"team_id": "T0CARE", "event_id": "Ev1", "event": None}).encode(), JSON),
    (
        form_body({"type": "block_actions", "user": {"id": "U1"}, "response_urls": None}).encode(),
        FORM,
    ),
    (form_body({"user": {"id": "U1"}, "view": None}).encode(), FORM),
    (json.dumps({"team_id": "T0CARE", "event_id": "Ev1", "event": []}).encode(), JSON),
    (
        form_body(
            {
                "type": "block_actions",
                "user": {"id": "U1"},
                "actions": [{"action_id": "note", "value": "1"}],
            }
        ).encode(),
        FORM,
    ),
]


async def test_a_signed_slack_body_of_another_shape_is_refused(desk, http) -> None:
    gateway, _telegram, _slack = desk
    for body, content_type in WRONG_SLACK_BODIES:
        status, _ = await _to_slack(http, gateway, body, content_type)
        assert status == 400, body[:80]


async def test_a_signed_note_on_a_ticket_that_does_not_exist_is_refused_politely(
    desk, http
) -> None:
    gateway, _telegram, slack = desk
    modal = {
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
    status, _ = await _to_slack(http, gateway, form_body(modal).encode())
    assert status == 200
    assert slack.called("chat.postEphemeral")[-1]["text"] == "There is no ticket #1."


# ------------------------------------------------- the web desk and the dashboard

DESK_KEY = "bad-input-desk-session-key-0123456789"


@pytest.fixture
async def web_desk(fake_assistant, start_gateway):  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    agents = desk_settings().agents
    return await start_gateway(rasa_url, desk=DeskSettings(agents, Secret(DESK_KEY)))


async def test_login_forms_aiohttp_could_not_read_are_refused(web_desk, http) -> None:
    url = f"{web_desk.url}/desk/login"
    async with http.get(url) as form:
        token = form.cookies[LOGIN_COOKIE].value
    cookie = {"Cookie": f"{LOGIN_COOKIE}={token}", "Origin": web_desk.url}
    for body, content_type in [
        (b"", "multipart/form-data"),  # no boundary
        (b"garbage", "multipart/form-data; boundary=x"),  # no starting boundary
        (b"csrf=a&name=alice", "application/x-www-form-urlencoded; charset=no-such"),
        (b"csrf=%ff&name=alice", "application/x-www-form-urlencoded"),  # not UTF-8
        ("csrf=é&name=alice".encode(), "application/x-www-form-urlencoded"),  # not ASCII
        (b"csrf=%C3%A9&name=alice", "application/x-www-form-urlencoded"),  # a non-ASCII token
    ]:
        status, _ = await _post(http, url, body, content_type, **cookie)
        assert status in (400, 403, 415), (body, content_type, status)
    async with WebAgent(web_desk.url, "alice") as agent:  # the form itself still works
        assert (await agent.get("queue"))["tickets"] == []
    await _still_answers(http, web_desk)


async def test_a_signed_cookie_that_is_not_a_session_is_nobody(web_desk, http) -> None:
    signer = URLSafeTimedSerializer(DESK_KEY, salt="desk")  # as bot/desk/agents.py signs
    for content in [{"agent": "alice"}, {"agent": "alice", "sid": "s"}, {"agent": ["alice"]}, []]:
        cookie = signer.dumps(content, salt="session")
        async with http.get(
            f"{web_desk.url}/desk/api/queue", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        ) as response:
            assert response.status == 401, content
    await _still_answers(http, web_desk)


async def test_dashboard_dates_at_the_ends_of_the_calendar_are_refused(web_desk, http) -> None:
    async with WebAgent(web_desk.url, "alice") as agent:
        for query in [
            {"until": "0001-01-01"},
            {"since": "9999-12-30", "until": "9999-12-31"},
            {"since": "1999-12-31"},
        ]:
            async with agent.http.get(f"{web_desk.url}/dashboard/api/report", params=query) as r:
                assert r.status == 400, (query, r.status)
        async with agent.http.get(f"{web_desk.url}/dashboard/api/report") as r:
            assert r.status == 200
    await _still_answers(http, web_desk)
