"""Satisfaction ratings on Telegram: the question with an inline keyboard, the tap as a
``callback_query`` through the fake Bot API (python-telegram-bot's real client), answered,
and forged taps ignored."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.brand import load_brand
from bot.store.models import AuditEvent, Rating
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.gateway.conftest import (
    AGENTS,
    RunningGateway,
    eventually,
    telegram_settings,
    telegram_webhook_settings,
)
from tests.gateway.test_desk import CUSTOMER_CHAT, open_desk

BRAND = load_brand()
QUESTION = BRAND.message("rating_question")


def ratings(gateway: RunningGateway) -> list[Rating]:
    with gateway.parts.sessions() as db:
        return list(db.scalars(select(Rating).order_by(Rating.id)))


def questions(telegram: FakeTelegram, chat: int) -> list[dict[str, Any]]:
    return [m for m in telegram.sent if m["chat_id"] == chat and m["text"] == QUESTION]


async def resolved(telegram: FakeTelegram, chat: int) -> dict[str, Any]:
    """A customer in a private chat asks, is answered, and thanks: the question."""
    await telegram.say("/flight_status is NW881 on time?", chat_id=chat, user_id=chat)
    await eventually(lambda: telegram.replies_to(chat))
    await telegram.say("/thank thanks!", chat_id=chat, user_id=chat)
    [question] = await eventually(lambda: questions(telegram, chat))
    return question


async def test_the_question_has_one_tap_buttons_and_a_tap_is_recorded_once(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    telegram.redeliver = 4  # every update comes five times: one question, one rating
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    question = await resolved(telegram, 701)
    [rating] = ratings(gateway)
    buttons = question["reply_markup"]["inline_keyboard"]
    assert buttons == [
        [
            {"text": label, "callback_data": f"rate:{rating.id}:{score}"}
            for score, label in enumerate(BRAND.rating_labels, start=1)
        ]
    ]
    # Only the question has buttons.
    assert [m["reply_markup"] for m in telegram.sent if m["text"] != QUESTION] == [None, None]

    await telegram.tap(f"rate:{rating.id}:4", question["message_id"], chat_id=701, user_id=701)
    await eventually(lambda: telegram.edited)
    await eventually(lambda: len(telegram.answered) == 5)  # each delivery answered
    [stored] = ratings(gateway)
    assert (stored.score, stored.channel, stored.ticket_id) == (4, "telegram", None)
    assert stored.resolution.startswith("bot:")
    assert {a.get("text") for a in telegram.answered} == {BRAND.message("rating_thanks")}
    edit = telegram.edited[0]
    assert (int(edit["chat_id"]), int(edit["message_id"])) == (701, question["message_id"])
    assert edit["reply_markup"]["inline_keyboard"] == [
        [{"text": f"✓ {BRAND.rating_labels[3]}", "callback_data": f"rate:{rating.id}:4"}]
    ]
    first_rated = stored.rated_at

    # A second thought, tapped on an old copy of the keyboard: the first tap stays.
    await telegram.tap(f"rate:{rating.id}:1", question["message_id"], chat_id=701, user_id=701)
    await eventually(lambda: len(telegram.answered) == 10)
    [stored] = ratings(gateway)
    assert (stored.score, stored.rated_at) == (4, first_rated)
    assert len(questions(telegram, 701)) == 1


async def test_forged_and_strange_taps_are_ignored_and_touch_no_conversation(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    ann = await resolved(telegram, 711)
    await resolved(telegram, 712)
    ann_rating, ben_rating = (r.id for r in ratings(gateway))
    message = ann["message_id"]
    readable = [
        # Ben taps Ann's rating (from his chat, and claiming hers: a private chat is its user's).
        (f"rate:{ann_rating}:1", {"chat_id": 712, "user_id": 712}),
        (f"rate:{ann_rating}:1", {"chat_id": 711, "user_id": 712}),
        # Off the scale, unknown ratings, other shapes.
        (f"rate:{ann_rating}:0", {"chat_id": 711, "user_id": 711}),
        (f"rate:{ann_rating}:6", {"chat_id": 711, "user_id": 711}),
        (f"rate:{ann_rating}:45", {"chat_id": 711, "user_id": 711}),
        (f"rate:{ann_rating}:-1", {"chat_id": 711, "user_id": 711}),
        (f"rate:0{ann_rating}:5", {"chat_id": 711, "user_id": 711}),
        ("rate:999999999999:5", {"chat_id": 711, "user_id": 711}),
        ("rate:99999999999999999999:5", {"chat_id": 711, "user_id": 711}),
        (f"rate:{ann_rating}:5\n", {"chat_id": 711, "user_id": 711}),
        (f"RATE:{ann_rating}:5", {"chat_id": 711, "user_id": 711}),
        ("", {"chat_id": 711, "user_id": 711}),
        # The right data, in a group: public, never rated.
        (f"rate:{ann_rating}:5", {"chat_id": -711, "user_id": 711, "chat_type": "group"}),
    ]
    readable.append((None, {"chat_id": 711, "user_id": 711}))  # a game's button: no data
    for data, where in readable:
        await telegram.tap(data, message, **where)
    unreadable = [7, {"score": 5}, "r" * 300]
    for data in unreadable:
        await telegram.tap(data, message, chat_id=711, user_id=711)
    await telegram.push({"callback_query": {"id": "q-no-user", "data": f"rate:{ann_rating}:5"}})
    # Every readable tap is answered (the button stops spinning), without thanks.
    await eventually(lambda: len(telegram.answered) == len(readable))
    assert all(a.get("text") is None for a in telegram.answered)
    await eventually(lambda: _set_aside(gateway) == len(unreadable) + 1)
    assert telegram.edited == []
    assert [(r.score, r.rated_at) for r in ratings(gateway)] == [(None, None), (None, None)]
    # Nothing was written into either conversation by the taps.
    assert len(telegram.replies_to(711)) == len(telegram.replies_to(712)) == 3

    # Then Ann's own tap counts, for her rating only; the gateway kept polling throughout.
    await telegram.tap(f"rate:{ann_rating}:5", message, chat_id=711, user_id=711)
    await eventually(lambda: telegram.edited)
    assert {r.id: r.score for r in ratings(gateway)} == {ann_rating: 5, ben_rating: None}


async def test_no_question_in_a_group_nor_with_a_typed_rating(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    group = {"chat_id": -720, "user_id": 720, "chat_type": "supergroup"}
    await telegram.say(f"@{BOT_USERNAME} /flight_status NW881?", **group)
    await eventually(lambda: telegram.replies_to(-720))
    await telegram.say(f"@{BOT_USERNAME} /thank thanks", **group)
    await eventually(lambda: len(telegram.replies_to(-720)) == 2)
    # In private, a typed "5" goes to the assistant as any message would, and rates nothing.
    await telegram.say("/flight_status NW22?", chat_id=721, user_id=721)
    await eventually(lambda: telegram.replies_to(721))
    await telegram.say("5", chat_id=721, user_id=721)
    await eventually(lambda: len(telegram.replies_to(721)) == 2)
    await asyncio.sleep(0.3)
    assert ratings(gateway) == [] and questions(telegram, -720) == []
    assert assistant.texts()[-1] == "5"


async def test_a_tap_through_the_webhook(
    fake_assistant, fake_telegram, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    settings = telegram_webhook_settings(api, "s" * 32)
    gateway = await start_gateway(rasa_url, telegram=settings)
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s" * 32}
    url = f"{gateway.url}/telegram/webhook"

    async def deliver(update: dict[str, Any], update_id: int) -> int:
        async with http.post(url, json={**update, "update_id": update_id}, headers=headers) as r:
            return r.status

    await eventually(lambda: telegram.webhook)
    assert "callback_query" in telegram.webhook["allowed_updates"]
    await deliver(telegram.message_update("/flight_status NW881?", chat_id=731, user_id=731), 1)
    await eventually(lambda: telegram.replies_to(731))
    await deliver(telegram.message_update("/thank thanks", chat_id=731, user_id=731), 2)
    [question] = await eventually(lambda: questions(telegram, 731))
    [rating] = ratings(gateway)
    forged = telegram.tap_update(f"rate:{rating.id}:1", question["message_id"], 732, 732)
    assert await deliver(forged, 3) == 200
    assert await deliver({"callback_query": {"id": 5, "data": 1}}, 4) == 200  # set aside
    tap = telegram.tap_update(f"rate:{rating.id}:3", question["message_id"], 731, 731)
    assert await deliver(tap, 5) == 200
    assert await deliver(tap, 5) == 200  # Telegram retrying: recorded once
    [stored] = ratings(gateway)
    assert stored.score == 3
    assert len(telegram.edited) == 2 and len(telegram.answered) == 3


def _set_aside(gateway: RunningGateway) -> int:
    with gateway.parts.sessions() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "set_aside"))
        return len(list(events))


async def test_resolved_in_slack_the_telegram_customer_rates_it(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    desk = await open_desk(fake_assistant, fake_telegram, fake_slack, start_gateway, http)
    ticket, _thread = await desk.hand_over()
    telegram = desk.telegram
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    await desk.click(AGENTS[0], "resolve", str(ticket.id))
    [question] = await eventually(lambda: questions(telegram, CUSTOMER_CHAT))
    [rating] = ratings(desk.gateway)
    assert (rating.ticket_id, rating.resolution) == (ticket.id, f"ticket:{ticket.id}")
    assert len(question["reply_markup"]["inline_keyboard"][0]) == len(BRAND.rating_labels)
    await telegram.tap(
        f"rate:{rating.id}:2", question["message_id"], chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT
    )
    await eventually(lambda: telegram.edited)
    [rating] = ratings(desk.gateway)
    assert rating.score == 2
    # Resolving again is refused: still one question.
    await desk.click(AGENTS[0], "resolve", str(ticket.id))
    await asyncio.sleep(0.3)
    assert len(questions(telegram, CUSTOMER_CHAT)) == 1
