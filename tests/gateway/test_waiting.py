"""No customer waits in silence: the real gateway, the fake Rasa, the web chat.

* with a desk, a handover is followed by when a person will answer;
* with no person on it past the target, one update; past the limit, the bot
  takes the conversation back with an apology and what the customer can do, and
  the gateway ends the handover as an agent's hand-back does (the desk's card, Rasa);
* with no desk at all, no person is promised and the bot keeps the conversation.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import time, timedelta

from sqlalchemy import select

from bot.brand import Brand, load_brand
from bot.conversation import waiting
from bot.expectations import CareTeam
from bot.store.models import Conversation, Owner, Ticket
from tests.gateway.conftest import eventually, slack_settings, telegram_settings
from tests.gateway.test_desk import CUSTOMER_CHAT, Desk
from tests.gateway.test_webchat_and_router import post, replies
from tests.gateway.web_agent import WebAgent, desk_settings

ALWAYS_IN = CareTeam(
    "America/New_York", "Boston", {day: (time(0, 0), time.max) for day in range(7)}, 10, 240
)


def brand_with(team: CareTeam) -> Brand:
    return replace(load_brand(), care_team=team)


async def texts(http, url: str, session: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    async def enough() -> list[str]:
        found = [m["text"] for m in await replies(http, url, session)]
        return found if len(found) >= count else []

    return await eventually(enough, timeout=15)


async def handed_over(start_gateway, http, rasa_url: str, brand: Brand):  # type: ignore[no-untyped-def]
    """A gateway with ``brand``, and a web chat customer handed over (session id)."""
    # The test runs the follow-up itself at the moments it sets: the gateway's own loop
    # (every 30 s) would race it on a slow machine and take the update or the give-back.
    gateway = await start_gateway(rasa_url, brand=brand, service_level_interval=3600)
    session = uuid.uuid4().hex[:16]
    await post(http, gateway.url, session, "human please")
    await texts(http, gateway.url, session, 2)
    return gateway, session


async def test_a_handover_says_when_a_person_will_answer(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    brand = brand_with(ALWAYS_IN)
    gateway = await start_gateway(rasa_url, brand=brand)
    first, second = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    await post(http, gateway.url, first, "a human please")
    assert await texts(http, gateway.url, first, 2) == [
        "A colleague will reply here.",
        "A person from our care team usually replies within about 10 minutes (you're next).",
    ]
    await post(http, gateway.url, second, "human, now")
    said = await texts(http, gateway.url, second, 2)
    assert said[1].endswith("within about 20 minutes (1 person is ahead of you).")


async def test_outside_opening_hours_the_customer_is_told_when_the_team_is_back(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url, brand=brand_with(CareTeam("UTC", "London", {}, 10, 60)))
    session = uuid.uuid4().hex[:16]
    await post(http, gateway.url, session, "human please")
    assert (await texts(http, gateway.url, session, 2))[1] == load_brand().message(
        "expect_reply_unknown"
    )
    # And with hours, but none today: the day and time they are back.
    gateway = await start_gateway(rasa_url, brand=brand_with(_in_only_in_two_days(gateway)))
    session = uuid.uuid4().hex[:16]
    await post(http, gateway.url, session, "human please")
    notice = (await texts(http, gateway.url, session, 2))[1]
    assert notice.startswith("Our care team is offline right now; we're here ")
    assert " at 09:00 London time." in notice and ", on " in notice


def _in_only_in_two_days(gateway) -> CareTeam:  # type: ignore[no-untyped-def]
    day = (gateway.parts.router.clock() + timedelta(days=2)).weekday()
    return CareTeam("UTC", "London", {day: (time(9, 0), time(17, 0))}, 10, 60)


async def test_no_one_on_it_one_update_then_the_bot_is_back(
    fake_assistant, start_gateway, http
) -> None:
    assistant, rasa_url = fake_assistant
    brand = brand_with(ALWAYS_IN)
    gateway, session = await handed_over(start_gateway, http, rasa_url, brand)
    parts = gateway.parts
    with parts.sessions() as db:
        target = waiting.first_target(brand, db.scalars(select(Ticket)).one())

    def follow_up_at(minutes: float) -> int:
        """The check, as if the ticket had been opened ``minutes`` ago (messages are queued
        for now, which the outbox sends); how many it queued."""
        now = parts.router.clock()
        with parts.sessions.begin() as db:
            db.scalars(select(Ticket)).one().created_at = now - timedelta(minutes=minutes)
        followed = waiting.follow_up_waiting(parts.sessions, brand, now, parts.router.desk)
        parts.outbox.wake()
        given_back.extend(followed.given_back)
        return followed.queued

    given_back: list[int] = []

    assert follow_up_at(target - 1) == 0
    assert follow_up_at(target + 1) == 1
    assert (await texts(http, gateway.url, session, 3))[2] == brand.message("still_waiting")
    assert follow_up_at(target + 30) == 0  # one update, not one every check
    # A minute past: ALWAYS_IN's days end at 23:59:59.999999, so a wait across New York's
    # midnight (05:00-09:00 UTC) counts a microsecond less than the clock's.
    assert follow_up_at(ALWAYS_IN.give_back_after_minutes + 1) == 1
    said = await texts(http, gateway.url, session, 4)
    assert said[3] == brand.message("returned_to_bot")
    assert "+1 800 555 0100" in said[3]  # what the customer can do
    with parts.sessions() as db:
        ticket = db.scalars(select(Ticket)).one()
        assert ticket.status.value == "handed_back"
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.owner == Owner.BOT
    assert follow_up_at(ALWAYS_IN.give_back_after_minutes + 60) == 0
    # Given back once: the desk told once, the conversation named for the assistant once.
    assert parts.router.desk.given_back == [ticket.id]
    assert given_back == [ticket.id]
    turns = len(assistant.turns)
    await post(http, gateway.url, session, "is NW22 on time?")
    assert (await texts(http, gateway.url, session, 5))[4] == "echo: is NW22 on time?"
    assert len(assistant.turns) == turns + 1


async def test_a_give_back_rasa_did_not_hear_is_told_before_the_next_message(
    fake_assistant, start_gateway, http
) -> None:
    """Rasa is down when the gateway gives the conversation back: it hears of it before it
    takes the customer's next message, once, and its greeting is not sent (the customer
    had the gateway's apology, and has the bot's answer now)."""
    assistant, rasa_url = fake_assistant
    brand = brand_with(ALWAYS_IN)
    gateway, session = await handed_over(start_gateway, http, rasa_url, brand)
    parts = gateway.parts
    now = parts.router.clock()
    with parts.sessions.begin() as db:
        ticket = db.scalars(select(Ticket)).one()
        ticket.created_at = now - timedelta(minutes=ALWAYS_IN.give_back_after_minutes + 1)
        sender = ticket.conversation.rasa_sender_id
    followed = waiting.follow_up_waiting(parts.sessions, brand, now, parts.router.desk)
    assert followed.given_back == [ticket.id]
    parts.outbox.wake()
    assistant.status = 500
    await waiting.tell_assistant(parts.assistant, parts.sessions, followed.given_back)
    assert assistant.handbacks == [sender]  # asked, and not heard
    assistant.status = 200
    heard = len(assistant.heard)
    await post(http, gateway.url, session, "is NW22 on time?")
    await post(http, gateway.url, session, "thanks")
    said = await texts(http, gateway.url, session, 5)
    assert said[2:] == [brand.message("returned_to_bot"), "echo: is NW22 on time?", "echo: thanks"]
    assert assistant.heard[heard:] == [
        (sender, "/handback"),
        (sender, "is NW22 on time?"),
        (sender, "thanks"),
    ]
    with parts.sessions() as db:
        assert db.get(Conversation, ticket.conversation_id).handback_owed is None
    # Told: the gateway's loop, running again, has nothing more to tell.
    await waiting.tell_assistant(parts.assistant, parts.sessions, followed.given_back)
    assert assistant.handbacks == [sender, sender]
    assert len(assistant.heard) == heard + 3


async def test_a_give_back_ends_the_handover_as_an_agents_hand_back_does(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    """The gateway's own loop gives the ticket back: the Slack card and the web desk show
    it back with the bot, Rasa is told (its handover state cleared), and the customer has
    one message saying so: the gateway's apology, not the assistant's greeting as well."""
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    brand = brand_with(ALWAYS_IN)
    gateway = await start_gateway(
        rasa_url,
        telegram=telegram_settings(api),
        slack=slack_settings(slack_api),
        desk=desk_settings(),
        brand=brand,
        service_level_interval=0.1,
    )
    desk = Desk(gateway, slack, telegram, http)
    ticket, thread = await desk.hand_over()
    notice = "A person from our care team usually replies within about 10 minutes (you're next)."
    await eventually(lambda: notice in telegram.replies_to(CUSTOMER_CHAT))
    before = len(telegram.replies_to(CUSTOMER_CHAT))
    assert assistant.handbacks == []
    with gateway.parts.sessions.begin() as db:
        opened = db.get(Ticket, ticket.id)
        opened.created_at -= timedelta(minutes=ALWAYS_IN.give_back_after_minutes + 1)

    def card_updated() -> list[dict[str, object]]:
        return [
            u
            for u in slack.called("chat.update")
            if "back with the bot: no one took it in time" in str(u.get("blocks"))
        ]

    updated = await eventually(card_updated)
    assert [u["ts"] for u in updated] == [thread]
    sender = f"telegram-{ticket.conversation_id}"
    await eventually(lambda: assistant.handbacks == [sender])
    async with WebAgent(gateway.url, "alice") as alice:
        assert (await alice.get("queue"))["tickets"] == []
        shown = await alice.get(f"tickets/{ticket.id}")
        assert shown["ticket"]["status"] == "handed_back"
        assert shown["ticket"]["state"] == "back with the bot: no one took it in time"
        assert {
            "actor": "gateway",
            "action": "gave it back to the bot: no one took it in time",
        } in [{"actor": a["actor"], "action": a["action"]} for a in shown["activity"]]
    # The bot answers the customer's next message; between the handover and it, one message.
    await telegram.say("is NW22 on time?", chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)
    await eventually(lambda: "echo: is NW22 on time?" in telegram.replies_to(CUSTOMER_CHAT))
    assert telegram.replies_to(CUSTOMER_CHAT)[before:] == [
        brand.message("returned_to_bot"),
        "echo: is NW22 on time?",
    ]
    assert assistant.handbacks == [sender]  # once, though the loop ran on
    assert len(card_updated()) == 1


async def test_a_person_on_it_means_no_update(fake_assistant, start_gateway, http) -> None:
    _assistant, rasa_url = fake_assistant
    brand = brand_with(ALWAYS_IN)
    gateway, _session = await handed_over(start_gateway, http, rasa_url, brand)
    parts = gateway.parts
    with parts.sessions.begin() as db:
        ticket = db.scalars(select(Ticket)).one()
        ticket.first_response_at = ticket.created_at + timedelta(minutes=5)
        later = ticket.created_at + timedelta(minutes=1000)
    assert waiting.follow_up_waiting(parts.sessions, brand, later) == waiting.FollowedUp()


async def test_with_no_desk_no_person_is_promised(fake_assistant, start_gateway, http) -> None:
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url, watching_desk=False, brand=load_brand())
    no_desk = load_brand().message("no_desk")
    session = uuid.uuid4().hex[:16]
    await post(http, gateway.url, session, "I want a human")
    # The assistant's "A colleague will reply here." is not sent; what the customer can do is.
    assert await texts(http, gateway.url, session, 1) == [no_desk]
    await post(http, gateway.url, session, "hello again")
    assert await texts(http, gateway.url, session, 2) == [no_desk, "echo: hello again"]
    # The gateway's own handovers too (Rasa failing this turn).
    other = uuid.uuid4().hex[:16]
    await post(http, gateway.url, other, "explode")
    assert await texts(http, gateway.url, other, 1) == [no_desk]
    with gateway.parts.sessions() as db:
        assert db.scalars(select(Ticket)).all() == []
        assert {c.owner for c in db.scalars(select(Conversation))} == {Owner.BOT}
    assert len(assistant.turns) == 3
    # The assistant is told, so that its own replies offer no person (tests/assistant).
    assert {turn["metadata"]["desk"] for turn in assistant.turns} == {False}
