"""The Slack desk: the real slack-bolt app, signed requests, a fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.brand import load_brand
from bot.desk.cards import SlackMarkup
from bot.desk.operations import CareDesk
from bot.desk.slack import NOT_AN_AGENT, SlackDesk
from bot.gateway import DeskParts
from bot.review.inbox import ReviewInbox
from bot.review.nludata import NLU_FILE, NluFile
from bot.store.models import AuditEvent, Conversation, Owner, Ticket
from tests.fakes.slack import FakeSlack, form_body, sign
from tests.gateway.conftest import (
    AGENTS,
    ESCALATIONS,
    SLACK_SECRET,
    eventually,
    slack_settings,
    telegram_settings,
)

CUSTOMER_CHAT = 4242


class Desk:
    """A gateway with the desk on, a Telegram customer, and a way to act as an agent."""

    def __init__(self, gateway, slack: FakeSlack, telegram, http: aiohttp.ClientSession) -> None:  # type: ignore[no-untyped-def]
        self.gateway = gateway
        self.slack = slack
        self.telegram = telegram
        self.http = http

    async def post(
        self,
        body: str,
        content_type: str,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> aiohttp.ClientResponse:
        signed = sign(SLACK_SECRET, body, timestamp)
        started = time.monotonic()
        response = await self.http.post(
            f"{self.gateway.url}/slack/events",
            data=body.encode(),
            headers={"Content-Type": content_type, **signed, **(headers or {})},
        )
        await response.read()
        assert time.monotonic() - started < 3.0, "Slack needs an answer within 3 seconds"
        return response

    async def click(
        self, user: str, action: str, value: str, **extra: Any
    ) -> aiohttp.ClientResponse:
        element: dict[str, Any] = {
            "action_id": action,
            "block_id": "b",
            "type": "button",
            "value": value,
            "action_ts": str(time.time()),
        }
        if action == "priority":
            element = {
                "action_id": action,
                "block_id": "b",
                "type": "static_select",
                "selected_option": {"value": value},
                "action_ts": str(time.time()),
            }
        payload = {
            "type": "block_actions",
            "team": {"id": "T0CARE"},
            "user": {"id": user},
            "api_app_id": "A0",
            "token": "legacy",
            "trigger_id": f"trigger-{time.time()}",
            "channel": {"id": ESCALATIONS},
            "container": {"type": "message"},
            "actions": [element],
            **extra,
        }
        return await self.post(form_body(payload), "application/x-www-form-urlencoded")

    async def thread_reply(
        self, user: str, text: str, thread_ts: str, event_id: str, retry: int | None = None
    ) -> aiohttp.ClientResponse:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0CARE",
                "api_app_id": "A0",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel": ESCALATIONS,
                    "user": user,
                    "text": text,
                    "ts": f"{time.time():.6f}",
                    "thread_ts": thread_ts,
                    "channel_type": "channel",
                },
            }
        )
        headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else {}
        )
        return await self.post(body, "application/json", headers)

    def ticket(self) -> Ticket:
        with self.gateway.parts.sessions() as session:
            return session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()

    async def hand_over(self) -> tuple[Ticket, str]:
        """The customer asks for a person; returns the ticket and its card's thread."""
        await self.telegram.say(
            "hi, my flight is late", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT
        )
        await eventually(lambda: self.telegram.replies_to(CUSTOMER_CHAT))
        await self.telegram.say(
            "get me a human please", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT
        )
        await eventually(lambda: self.slack.called("chat.postMessage"))
        ticket = await eventually(lambda: (t := self.ticket()) and t.desk_thread and t)
        return ticket, ticket.desk_thread

    def audit(self, action: str) -> list[AuditEvent]:
        with self.gateway.parts.sessions() as session:
            return list(
                session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
            )


async def open_desk(fake_assistant, fake_telegram, fake_slack, start_gateway, http, **changes):  # type: ignore[no-untyped-def]
    """A gateway with the Slack desk and a Telegram customer (``changes``: its settings)."""
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    gateway = await start_gateway(
        rasa_url, telegram=telegram_settings(api), slack=slack_settings(slack_api), **changes
    )
    return Desk(gateway, slack, telegram, http)


@pytest.fixture
async def desk(fake_assistant, fake_telegram, fake_slack, start_gateway, http):  # type: ignore[no-untyped-def]
    return await open_desk(fake_assistant, fake_telegram, fake_slack, start_gateway, http)


async def test_a_handover_puts_a_card_in_the_escalation_channel(desk: Desk) -> None:
    ticket, _thread = await desk.hand_over()
    card = desk.slack.called("chat.postMessage")[0]
    assert card["channel"] == ESCALATIONS
    text = json.dumps(card["blocks"])
    assert f"Ticket #{ticket.id}" in text and "Customer asked for a person" in text
    assert "@jane_doe" in text and "Telegram (private)" in text
    assert "`greet` 91%" in text and "`request_human` 91%" in text  # turn by turn
    assert "hi, my flight is late" in text and "get me a human please" in text
    assert "Waiting:" in text and "normal" in text
    assert {
        e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
    } == {"claim", "resolve", "hand_back", "relabel", "note", "priority"}


async def test_three_agents_claim_at_once_and_one_wins(desk: Desk) -> None:
    ticket, _thread = await desk.hand_over()
    responses = await asyncio.gather(
        *(desk.click(agent, "claim", str(ticket.id)) for agent in AGENTS)
    )
    assert [r.status for r in responses] == [200, 200, 200]
    owner = desk.ticket().agent_id
    assert owner in AGENTS and desk.ticket().status.value == "claimed"
    told = [e["text"] for e in desk.slack.called("chat.postEphemeral")]
    assert sum("You own ticket" in t for t in told) == 1
    assert sum("already claimed" in t for t in told) == 2
    assert len(desk.audit("claimed")) == 1
    with desk.gateway.parts.sessions() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert (conversation.owner, conversation.agent_id) == (Owner.AGENT, owner)


async def test_agent_reply_reaches_the_customer_once_and_follow_ups_reach_the_thread(
    desk: Desk,
) -> None:
    ticket, thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    before = len(desk.telegram.replies_to(CUSTOMER_CHAT))
    for retry in (None, 1, 2):  # Slack retries the same event
        response = await desk.thread_reply(AGENTS[0], "Hi Jane, I'm on it.", thread, "Ev001", retry)
        assert response.status == 200
    await eventually(lambda: len(desk.telegram.replies_to(CUSTOMER_CHAT)) > before)
    await asyncio.sleep(0.5)
    assert desk.telegram.replies_to(CUSTOMER_CHAT)[before:] == ["Hi Jane, I'm on it."]
    assert desk.ticket().first_response_at is not None
    # The customer answers: into the thread, not to the bot.
    await desk.telegram.say("thanks, it's NW881", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)
    await eventually(
        lambda: any("thanks, it's NW881" in p.get("text", "") for p in desk.slack.posts(thread))
    )
    assert len(desk.telegram.replies_to(CUSTOMER_CHAT)) == before + 1


async def test_an_agents_reply_reaches_the_customer_without_slack_markup(desk: Desk) -> None:
    ticket, thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    before = len(desk.telegram.replies_to(CUSTOMER_CHAT))
    # What Slack's event carries when an agent types "Fees & rules: our page" with a link,
    # after pinging a colleague.
    typed = "<@U2> Fees &amp; rules: <https://northwind.example/fees|our page>"
    await desk.thread_reply(AGENTS[0], typed, thread, "Ev010")
    await eventually(lambda: len(desk.telegram.replies_to(CUSTOMER_CHAT)) > before)
    assert desk.telegram.replies_to(CUSTOMER_CHAT)[before:] == [
        "Fees & rules: our page (https://northwind.example/fees)"
    ]


async def test_internal_notes_stay_internal(desk: Desk) -> None:
    ticket, thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    before = len(desk.telegram.replies_to(CUSTOMER_CHAT))
    await desk.click(AGENTS[0], "note", str(ticket.id))
    [opened] = desk.slack.called("views.open")
    assert opened["view"]["callback_id"] == "internal_note"
    submission = {
        "type": "view_submission",
        "team": {"id": "T0CARE"},
        "user": {"id": AGENTS[0]},
        "api_app_id": "A0",
        "token": "legacy",
        "trigger_id": "t",
        "view": {
            **opened["view"],
            "id": "V1",
            "state": {
                "values": {
                    "note": {
                        "text": {
                            "type": "plain_text_input",
                            "value": "customer is a frequent flyer, be generous",
                        }
                    }
                }
            },
        },
    }
    response = await desk.post(form_body(submission), "application/x-www-form-urlencoded")
    assert response.status == 200
    await eventually(
        lambda: any("frequent flyer" in p.get("text", "") for p in desk.slack.posts(thread))
    )
    await asyncio.sleep(0.5)
    assert len(desk.telegram.replies_to(CUSTOMER_CHAT)) == before
    assert all("frequent flyer" not in t for t in desk.telegram.replies_to(CUSTOMER_CHAT))
    assert (
        desk.audit("internal_note")[0].details["text"]
        == "customer is a frequent flyer, be generous"
    )


def _submission(user: str, view: dict[str, Any], values: dict[str, Any]) -> str:
    return form_body(
        {
            "type": "view_submission",
            "team": {"id": "T0CARE"},
            "user": {"id": user},
            "api_app_id": "A0",
            "token": "legacy",
            "trigger_id": "t",
            "view": {**view, "id": "V2", "state": {"values": values}},
        }
    )


def _selected(value: str) -> dict[str, Any]:
    return {"choice": {"type": "static_select", "selected_option": {"value": value}}}


async def test_unsure_handed_over_and_relabelled_messages_reach_the_review_inbox(
    desk: Desk, tmp_path
) -> None:
    await desk.telegram.say(
        "unsure: want my money back, mail jane@example.com",
        chat_id=CUSTOMER_CHAT,
        user_id=CUSTOMER_CHAT,
    )
    await eventually(lambda: desk.telegram.replies_to(CUSTOMER_CHAT))
    ticket, thread = await desk.hand_over()

    await desk.click("U0MARKETING", "relabel", str(ticket.id))
    assert not desk.slack.called("views.open")
    await desk.click(AGENTS[1], "relabel", str(ticket.id))
    [opened] = desk.slack.called("views.open")
    modal = opened["view"]
    assert modal["callback_id"] == "relabel"
    options = modal["blocks"][0]["element"]["options"]
    # The bot's best guess under the fallback is what the agent sees.
    assert [o["text"]["text"].split(":")[0] for o in options] == [
        "refund_request 31%",
        "greet 91%",
        "request_human 91%",
    ]
    intents = [o["value"] for o in modal["blocks"][1]["element"]["options"]]
    assert "flight_delayed" in intents and "product_question/wifi" in intents
    late = next(o["value"] for o in options if "flight is late" in o["text"]["text"])
    values = {"message": _selected(late), "intent": _selected("flight_delayed")}
    response = await desk.post(
        _submission(AGENTS[1], modal, values), "application/x-www-form-urlencoded"
    )
    assert response.status == 200
    await eventually(lambda: any("🏷️" in p.get("text", "") for p in desk.slack.posts(thread)))
    [relabel] = desk.audit("relabel")
    assert relabel.details["intent"] == "flight_delayed" and relabel.details["was"] == "greet"

    nlu = tmp_path / "nlu.yml"
    shutil.copy(NLU_FILE, nlu)
    inbox = ReviewInbox(desk.gateway.parts.sessions, threshold=0.4, nlu_file=nlu)
    assert inbox.collect() == 2
    found = {(i.source, i.predicted_intent, i.suggested_intent): i for i in inbox.items()}
    assert set(found) == {
        ("low_confidence", "refund_request", None),
        ("handover", "request_human", None),
        ("relabelled", "greet", "flight_delayed"),
    }
    unsure = found[("low_confidence", "refund_request", None)]
    assert unsure.text == "unsure: want my money back, mail <email>"
    relabelled = found[("relabelled", "greet", "flight_delayed")]
    assert inbox.approve(relabelled.id, "trainer").intent == "flight_delayed"
    assert any(e.text == "hi, my flight is late" for e in NluFile(nlu).examples())


async def test_people_outside_the_care_team_are_refused_politely(desk: Desk) -> None:
    ticket, thread = await desk.hand_over()
    outsider = "U0MARKETING"
    await desk.click(outsider, "claim", str(ticket.id))
    await desk.thread_reply(outsider, "lol we messed up", thread, "Ev002")
    await asyncio.sleep(0.5)
    assert desk.ticket().status.value == "open"
    assert all("lol" not in t for t in desk.telegram.replies_to(CUSTOMER_CHAT))
    refusals = desk.audit("refused")
    assert {r.actor for r in refusals} == {outsider} and len(refusals) == 2
    assert [e["text"] for e in desk.slack.called("chat.postEphemeral")] == [NOT_AN_AGENT] * 2


async def test_another_agents_ticket_cannot_be_answered(desk: Desk) -> None:
    ticket, thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    before = len(desk.telegram.replies_to(CUSTOMER_CHAT))
    await desk.thread_reply(AGENTS[1], "let me jump in", thread, "Ev003")
    await asyncio.sleep(0.5)
    assert len(desk.telegram.replies_to(CUSTOMER_CHAT)) == before
    assert "belongs to" in desk.slack.called("chat.postEphemeral")[-1]["text"]


@pytest.mark.parametrize(
    ("mangle", "status"),
    [("forged", 401), ("stale", 401), ("unsigned", 401)],
)
async def test_forged_stale_and_unsigned_requests_are_refused(
    desk: Desk, mangle: str, status: int
) -> None:
    ticket, _thread = await desk.hand_over()
    body = form_body(
        {
            "type": "block_actions",
            "user": {"id": AGENTS[0]},
            "team": {"id": "T0CARE"},
            "actions": [{"action_id": "claim", "value": str(ticket.id)}],
        }
    )
    headers = sign(SLACK_SECRET, body)
    if mangle == "forged":
        headers = sign("not-the-secret", body)
    elif mangle == "stale":
        headers = sign(SLACK_SECRET, body, int(time.time()) - 6 * 60)
    else:
        headers = {}
    async with desk.http.post(
        f"{desk.gateway.url}/slack/events",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    ) as r:
        assert r.status == status
    assert desk.ticket().status.value == "open"


async def test_hand_back_gives_the_conversation_back_to_the_bot(desk: Desk, fake_assistant) -> None:
    assistant, _url = fake_assistant
    ticket, _thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    await desk.click(AGENTS[0], "hand_back", str(ticket.id))
    await eventually(lambda: assistant.handbacks == [f"telegram-{ticket.conversation_id}"])
    await eventually(lambda: "I'm back!" in desk.telegram.replies_to(CUSTOMER_CHAT))
    assert desk.ticket().status.value == "handed_back"
    turns = len(assistant.turns)
    await desk.telegram.say("and is NW22 on time?", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)
    await eventually(lambda: len(assistant.turns) == turns + 1)
    await eventually(
        lambda: "echo: and is NW22 on time?" in desk.telegram.replies_to(CUSTOMER_CHAT)
    )
    assert assistant.handbacks == [f"telegram-{ticket.conversation_id}"]  # told once


async def test_a_hand_back_rasa_did_not_hear_is_told_before_the_next_message(
    desk: Desk, fake_assistant
) -> None:
    """Rasa is down when the agent hands back: the conversation is the bot's all the same,
    and Rasa hears of the hand-back before it takes the customer's next message (else it
    answers it still handed over), once, with no greeting sent then."""
    assistant, _url = fake_assistant
    ticket, _thread = await desk.hand_over()
    sender = f"telegram-{ticket.conversation_id}"
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    assistant.status = 500
    await desk.click(AGENTS[0], "hand_back", str(ticket.id))
    unavailable = "(The bot was unavailable and will answer the next message.)"
    await eventually(
        lambda: unavailable in [c["text"] for c in desk.slack.called("chat.postEphemeral")]
    )
    assert desk.ticket().status.value == "handed_back"
    with desk.gateway.parts.sessions() as session:
        assert session.get(Conversation, ticket.conversation_id).handback_owed == ticket.id
    heard = len(assistant.heard)
    assistant.status = 200
    before = len(desk.telegram.replies_to(CUSTOMER_CHAT))
    await desk.telegram.say("and is NW22 on time?", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)
    await eventually(
        lambda: "echo: and is NW22 on time?" in desk.telegram.replies_to(CUSTOMER_CHAT)
    )
    await desk.telegram.say("thanks", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)
    await eventually(lambda: "echo: thanks" in desk.telegram.replies_to(CUSTOMER_CHAT))
    assert assistant.heard[heard:] == [
        (sender, "/handback"),
        (sender, "and is NW22 on time?"),
        (sender, "thanks"),
    ]
    assert desk.telegram.replies_to(CUSTOMER_CHAT)[before:] == [
        "echo: and is NW22 on time?",
        "echo: thanks",
    ]  # no greeting: the bot answers what the customer wrote
    with desk.gateway.parts.sessions() as session:
        assert session.get(Conversation, ticket.conversation_id).handback_owed is None


async def test_hand_back_is_acknowledged_in_time_while_rasa_is_slow(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    """Slack wants an answer within 3 s; a busy Rasa takes its time (here 5 s, under the
    production timeout of 10 s). Before, "Hand back" waited for Rasa before the ack."""
    assistant, _rasa_url = fake_assistant
    desk = await open_desk(
        fake_assistant, fake_telegram, fake_slack, start_gateway, http, rasa_timeout=10.0
    )
    slack, telegram = desk.slack, desk.telegram
    ticket, _thread = await desk.hand_over()
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    assistant.delay = 5.0
    started = time.monotonic()
    response = await desk.click(AGENTS[0], "hand_back", str(ticket.id))
    acknowledged = time.monotonic() - started
    assert response.status == 200 and acknowledged < 3.0, acknowledged
    # Done before the ack: the ticket is closed and the agent told so.
    assert desk.ticket().status.value == "handed_back"
    told = [c["text"] for c in slack.called("chat.postEphemeral")]
    assert f"Ticket #{ticket.id} is back with the bot." in told
    # After it: Rasa is told, and its greeting reaches the customer.
    await eventually(lambda: "I'm back!" in telegram.replies_to(CUSTOMER_CHAT), timeout=15)
    assert time.monotonic() - started >= 5.0
    assert assistant.handbacks == [f"telegram-{ticket.conversation_id}"]


async def test_a_hand_back_rasa_never_answers_is_acknowledged_and_the_agent_told(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    assistant, _rasa_url = fake_assistant
    desk = await open_desk(fake_assistant, fake_telegram, fake_slack, start_gateway, http)
    slack = desk.slack
    ticket, _thread = await desk.hand_over()
    assistant.delay = 5.0  # past this gateway's 3 s timeout
    response = await desk.click(AGENTS[0], "hand_back", str(ticket.id))  # < 3 s, or it fails
    assert response.status == 200 and desk.ticket().status.value == "handed_back"
    unavailable = "(The bot was unavailable and will answer the next message.)"
    await eventually(
        lambda: unavailable in [c["text"] for c in slack.called("chat.postEphemeral")],
        timeout=10,
    )


async def test_priority_and_resolve_update_the_card(desk: Desk) -> None:
    ticket, thread = await desk.hand_over()
    await desk.click(AGENTS[0], "priority", f"{ticket.id}:urgent")
    await desk.click(AGENTS[0], "resolve", str(ticket.id))
    assert desk.ticket().priority.value == "urgent" and desk.ticket().status.value == "resolved"
    await eventually(
        lambda: any(
            "resolved by" in json.dumps(u.get("blocks")) for u in desk.slack.called("chat.update")
        )
    )
    assert all(u["ts"] == thread for u in desk.slack.called("chat.update"))


async def test_the_queue_command_lists_open_tickets(desk: Desk) -> None:
    ticket, _thread = await desk.hand_over()
    body = "&".join(
        f"{k}={v}"
        for k, v in {
            "token": "legacy",
            "team_id": "T0CARE",
            "channel_id": ESCALATIONS,
            "user_id": AGENTS[1],
            "command": "/care-queue",
            "text": "",
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": "t",
        }.items()
    )
    response = await desk.post(body, "application/x-www-form-urlencoded")
    answer = await response.text()  # Bolt answers a command's text as plain text
    assert f"#{ticket.id} normal" in answer and "unclaimed" in answer


async def test_when_rasa_is_down_the_customer_goes_straight_to_the_queue(
    fake_assistant, fake_telegram, fake_slack, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    assistant.status = 503
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    await start_gateway(rasa_url, telegram=telegram_settings(api), slack=slack_settings(slack_api))
    await telegram.say("hello?", chat_id=77, user_id=77)
    await eventually(lambda: slack.called("chat.postMessage"))
    card = json.dumps(slack.called("chat.postMessage")[0]["blocks"])
    assert "Bot unavailable" in card
    assert telegram.replies_to(77) == [
        "Thanks for your message! A member of our care team will reply here shortly."
    ]


def _impatient_desk(slack_api: str, cares: list[CareDesk]) -> Any:
    """A Slack desk factory whose brand's service levels are all 0 minutes (every ticket is
    past them at once); the care desk it builds is added to ``cares``."""
    impatient = replace(
        load_brand(),
        service_levels={p: {"first": 0, "next": 0} for p in ("urgent", "high", "normal", "low")},
    )

    def factory(parts: DeskParts) -> SlackDesk:
        care = CareDesk(
            parts.sessions,
            parts.assistant,
            impatient,
            channel=SlackDesk.name,
            review=parts.review,
            markup=SlackMarkup(),
            links=parts.links,
        )
        cares.append(care)
        return SlackDesk(slack_settings(slack_api), care, parts.outbox_wake, impatient)

    return factory


async def test_service_level_breaches_are_announced_in_thread_and_channel(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    gateway = await start_gateway(
        rasa_url,
        telegram=telegram_settings(api),
        desk_factory=_impatient_desk(slack_api, []),
        slack=slack_settings(slack_api),
        service_level_interval=0.2,
    )
    desk = Desk(gateway, slack, telegram, http)
    ticket, thread = await desk.hand_over()
    notice = await eventually(lambda: [p for p in slack.posts(thread) if p.get("reply_broadcast")])
    assert "first response" in notice[0]["text"] and f"#{ticket.id}" in notice[0]["text"]
    await asyncio.sleep(0.6)
    assert len([p for p in slack.posts(thread) if p.get("reply_broadcast")]) == 1  # once


async def test_two_workers_never_announce_the_same_breach(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http, database_url: str
) -> None:
    """Every gateway worker runs the service-level loop (docs/scaling.md): a ticket another
    worker is announcing (its row locked) is skipped, and announced once it is free."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: no two workers announce at once")
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    cares: list[CareDesk] = []
    gateway = await start_gateway(
        rasa_url,
        telegram=telegram_settings(api),
        desk_factory=_impatient_desk(slack_api, cares),
        slack=slack_settings(slack_api),
        service_level_interval=3600,  # the test calls the loop's check itself
    )
    desk = Desk(gateway, slack, telegram, http)
    ticket, _thread = await desk.hand_over()
    care = cares[0]
    assert await asyncio.to_thread(care.check_service_levels) == [ticket.id]
    with gateway.parts.sessions.begin() as session:
        session.get(Ticket, ticket.id).sla_breached = None  # as if not announced yet
    with gateway.parts.sessions.begin() as other_worker:
        # Another worker is announcing it: its row is locked while that transaction lasts.
        other_worker.scalars(
            select(Ticket).where(Ticket.id == ticket.id).with_for_update(of=Ticket)
        ).one()
        # Skipped, not waited for (waiting would hold this worker's whole loop up).
        checked = asyncio.to_thread(care.check_service_levels)
        assert await asyncio.wait_for(checked, timeout=5) == []
    assert await asyncio.to_thread(care.check_service_levels) == [ticket.id]


async def test_socket_mode_receives_and_acknowledges_envelopes(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    from bot.settings import Secret

    settings = slack_settings(
        slack_api, mode="socket", app_token=Secret("xapp-test"), signing_secret=None
    )
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api), slack=settings)
    desk = Desk(gateway, slack, telegram, http)
    ticket, _thread = await desk.hand_over()
    envelope = await slack.push(
        "interactive",
        {
            "type": "block_actions",
            "team": {"id": "T0CARE"},
            "user": {"id": AGENTS[2]},
            "api_app_id": "A0",
            "token": "legacy",
            "trigger_id": "t",
            "channel": {"id": ESCALATIONS},
            "container": {"type": "message"},
            "actions": [
                {
                    "action_id": "claim",
                    "value": str(ticket.id),
                    "type": "button",
                    "block_id": "b",
                    "action_ts": "1",
                }
            ],
        },
    )
    await eventually(lambda: any(a.get("envelope_id") == envelope for a in slack.socket_acks))
    assert desk.ticket().agent_id == AGENTS[2]
    # HTTP mode is off: nothing answers there.
    async with http.post(f"{gateway.url}/slack/events", data=b"{}") as response:
        assert response.status == 404
