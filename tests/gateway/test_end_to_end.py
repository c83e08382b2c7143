"""Customers on fake Telegram and fake Twitter, answered by the real trained assistant."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.brand import load_brand
from bot.store.models import Conversation, Owner, Ticket
from tests.conftest import Assistant
from tests.fakes.twitter import BRAND_ID
from tests.gateway.conftest import eventually, telegram_settings

pytestmark = [pytest.mark.model, pytest.mark.slow]


async def real_gateway(start_gateway: Any, assistant: Assistant, **channels: Any) -> Any:
    """A gateway on the real assistant and its action server, with a turn timeout that
    leaves room for the model's first turns on a busy machine."""
    return await start_gateway(
        assistant.rasa_url, action_server_url=assistant.actions_url, rasa_timeout=30.0, **channels
    )


async def test_telegram_customer_checks_a_flight_then_gets_a_person(
    assistant: Assistant, fake_telegram, start_gateway
) -> None:
    telegram, api = fake_telegram
    gateway = await real_gateway(start_gateway, assistant, telegram=telegram_settings(api))
    await telegram.say("is NW881 on time today?", chat_id=77, user_id=77)
    await eventually(lambda: telegram.replies_to(77), timeout=60)
    first = telegram.replies_to(77)[0]
    assert "NW 881" in first and "delayed" in first
    await telegram.say("ugh. I want to talk to a real person", chat_id=77, user_id=77)
    await eventually(
        lambda: any("bringing in a colleague" in t for t in telegram.replies_to(77)), timeout=60
    )
    with gateway.parts.sessions() as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.owner == Owner.QUEUE
        ticket = db.scalars(select(Ticket)).one()
        assert ticket.reason == "requested"
        assert ticket.context["slots"]["flight_number"] == "NW881"
        intents = [u["intent"] for u in ticket.context["understood"]]
        assert intents[-1] == "request_human"


async def test_public_mention_about_a_booking_is_moved_to_a_dm(
    assistant: Assistant, fake_twitter, start_gateway
) -> None:
    twitter, port = fake_twitter
    tweet = twitter.mention(
        "4242", "@NorthwindAir I need to change the date of my booking, ref QX7K2P"
    )
    await real_gateway(start_gateway, assistant, twitter_port=port)
    await eventually(lambda: twitter.replies_to(tweet), timeout=60)
    [reply] = twitter.replies_to(tweet)
    assert "QX7K2P" not in reply
    assert f"https://twitter.com/messages/compose?recipient_id={BRAND_ID}" in reply
    # In the DM the same customer gets the booking.
    twitter.dm("4242", "hi, I need to change my booking QX7K2P")
    await eventually(lambda: len(twitter.dms_to("4242")) >= 2, timeout=60)
    assert any("Jane" in text and "QX7K2P" in text for text in twitter.dms_to("4242"))


async def test_real_handover_card_and_agent_replies_to_twitter_and_telegram(
    assistant: Assistant, fake_twitter, fake_telegram, fake_slack, start_gateway, http
) -> None:
    import json

    from tests.gateway.conftest import AGENTS, slack_settings
    from tests.gateway.test_desk import Desk

    twitter, port = fake_twitter
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    gateway = await real_gateway(
        start_gateway,
        assistant,
        twitter_port=port,
        telegram=telegram_settings(api),
        slack=slack_settings(slack_api),
    )
    desk = Desk(gateway, slack, telegram, http)
    tweet = twitter.mention(
        "5151",
        "@NorthwindAir NW22 got cancelled and I need to talk to a real person NOW",
        username="sam_r",
    )
    await eventually(lambda: slack.called("chat.postMessage"), timeout=60)
    card = json.dumps(slack.called("chat.postMessage")[0]["blocks"])
    assert "Customer asked for a person" in card
    assert "@sam_r" in card and "X/Twitter (public)" in card
    assert f"https://twitter.com/sam_r/status/{tweet}" in card
    assert "`request_human`" in card
    ticket = await eventually(lambda: (t := desk.ticket()) and t.desk_thread and t)
    await desk.click(AGENTS[0], "claim", str(ticket.id))
    await desk.thread_reply(
        AGENTS[0], "So sorry Sam, rebooking you on NW 24 now.", ticket.desk_thread, "EvTw1"
    )
    await eventually(
        lambda: "So sorry Sam, rebooking you on NW 24 now." in twitter.replies_to(tweet), timeout=30
    )

    await telegram.say("I want to speak to an agent", chat_id=606, user_id=606)
    await eventually(lambda: len(slack.called("chat.postMessage")) >= 2, timeout=60)
    second = await eventually(
        lambda: (t := desk.ticket()) and t.id != ticket.id and t.desk_thread and t
    )
    await desk.thread_reply(AGENTS[1], "Hello from the care team!", second.desk_thread, "EvTg1")
    await eventually(lambda: "Hello from the care team!" in telegram.replies_to(606), timeout=30)


async def test_a_customer_who_thanks_the_real_assistant_is_asked_for_a_rating(
    assistant: Assistant, fake_telegram, start_gateway
) -> None:
    # The fake assistant's tests name the intent; here the real model must read the thanks.
    question = load_brand().message("rating_question")
    telegram, api = fake_telegram
    await real_gateway(start_gateway, assistant, telegram=telegram_settings(api))
    await telegram.say("is NW881 on time today?", chat_id=78, user_id=78)
    await eventually(lambda: telegram.replies_to(78), timeout=60)
    await telegram.say("great, thanks a lot!", chat_id=78, user_id=78)
    await eventually(lambda: question in telegram.replies_to(78), timeout=60)
    [asked] = [m for m in telegram.sent if m["chat_id"] == 78 and m["text"] == question]
    assert len(asked["reply_markup"]["inline_keyboard"][0]) == 5
