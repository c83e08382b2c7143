"""Twitter/X through the real tweepy client and a fake API v2 over TLS on loopback."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.channels.twitter import Budget, split_for_tweets
from bot.store.models import AuditEvent, Cursor, Message, OutboxItem, Rating
from tests.fakes.twitter import BRAND_ID
from tests.gateway.conftest import eventually, the_sent_reply


async def test_a_mention_gets_a_public_reply_in_its_thread(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    tweet = twitter.mention("2001", "@NorthwindAir is NW881 on time?", username="jane")
    await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(tweet))
    assert twitter.replies_to(tweet) == ["echo: is NW881 on time?"]
    assert assistant.turns[0]["metadata"] == {
        "visibility": "public",
        "channel": "twitter",
        "desk": True,
    }


async def test_a_dm_gets_a_dm(fake_assistant, fake_twitter, start_gateway) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    twitter.dm("2002", "my booking is private", username="sam")
    await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.dms_to("2002"))
    # In a private message the private reply goes out as it is.
    assert twitter.dms_to("2002") == ["Found it, Jane: booking QX7K2P."]
    assert not twitter.tweets_sent


async def test_what_needs_no_reply_is_left_alone(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    twitter.mention(BRAND_ID, "@NorthwindAir our own tweet")
    twitter.mention(
        "2003",
        "RT @someone: @NorthwindAir lost my bag",
        referenced_tweets=[{"type": "retweeted", "id": "1"}],
    )
    twitter.mention(
        "2004", "@friend @NorthwindAir haha see you in Denver!", in_reply_to_user_id="3000"
    )
    twitter.mention("2005", "@NorthwindAir https://t.co/abc")
    # Same thread shape, but the brand is named in the words: this one is for us.
    wanted = twitter.mention(
        "2006", "@friend @NorthwindAir can you help me with my refund", in_reply_to_user_id="3000"
    )
    twitter.mentions[-1]["text"] = "@friend can @NorthwindAir help me with my refund"
    await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(wanted))
    assert assistant.texts() == ["can @NorthwindAir help me with my refund"]
    assert len(twitter.tweets_sent) == 1


async def test_a_public_reply_that_would_carry_personal_data_invites_to_a_dm(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    marked = twitter.mention("2007", "@NorthwindAir private question about my booking")
    unmarked = twitter.mention("2008", "@NorthwindAir pii question")
    invite = twitter.mention("2009", "@NorthwindAir invite me")
    gateway = await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: all(twitter.replies_to(t) for t in (marked, unmarked, invite)))
    link = f"https://twitter.com/messages/compose?recipient_id={BRAND_ID}"
    for tweet in (marked, unmarked):
        [reply] = twitter.replies_to(tweet)
        assert "QX7K2P" not in reply and "jane@example.com" not in reply and "Jane" not in reply
        assert reply.startswith("To keep your details private") and link in reply
    assert twitter.replies_to(invite) == [f"Please send us a DM. DM us: {link}"]
    with gateway.parts.sessions() as db:
        withheld = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "withheld_private_reply")
        ).all()
        assert sorted(bool(e.details["marked_private"]) for e in withheld) == [False, True]


async def test_cursors_mean_a_restart_neither_skips_nor_replays(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    first_tweet = twitter.mention("2010", "@NorthwindAir first")
    twitter.dm("2011", "first dm")
    first = await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(first_tweet) and twitter.dms_to("2011"))
    with first.parts.sessions() as db:
        assert db.get(Cursor, ("twitter", "mentions_since")).value == first_tweet
    await first.stop()
    second_tweet = twitter.mention("2010", "@NorthwindAir second")
    twitter.dm("2011", "second dm")
    await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(second_tweet) and len(twitter.dms_to("2011")) == 2)
    assert sorted(assistant.texts()) == ["first", "first dm", "second", "second dm"]
    assert len(twitter.replies_to(first_tweet)) == 1


async def test_rate_limits_are_waited_out(fake_assistant, fake_twitter, start_gateway) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    twitter.rate_limited["tweets"] = 1  # the first reply gets a 429 with a reset 1 s away
    twitter.rate_limited["mentions"] = 1
    tweet = twitter.mention("2012", "@NorthwindAir hello")
    gateway = await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(tweet), timeout=15)

    assert (await the_sent_reply(gateway))["attempts"] == 2
    assert len(twitter.replies_to(tweet)) == 1


async def test_a_send_that_fails_after_arriving_is_found_not_repeated(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    twitter.fail_after_send = 1  # the reply is posted, but the API answers 503
    tweet = twitter.mention("2013", "@NorthwindAir hello there")
    gateway = await start_gateway(rasa_url, twitter_port=port)

    def settled() -> bool:
        with gateway.parts.sessions() as db:
            item = db.scalars(select(OutboxItem)).first()
            return item is not None and item.status.value == "sent"

    await eventually(settled, timeout=15)
    assert twitter.replies_to(tweet) == ["echo: hello there"]
    with gateway.parts.sessions() as db:
        actions = [e.action for e in db.scalars(select(AuditEvent)).all()]
        assert "send_reconciled" in actions
        # Found is sent, as a send that said so is: the tweet's id on the item and on its
        # message, and no error left over.
        item = db.scalars(select(OutboxItem)).one()
        assert item.platform_message_id and item.last_error is None
        reply = db.get(Message, item.message_id)
        assert reply.platform_message_id == item.platform_message_id


def test_long_replies_are_split_into_a_thread() -> None:
    text = "First sentence is here. " * 20
    parts = split_for_tweets(text)
    assert len(parts) == 2 and all(len(p) <= 280 for p in parts)
    assert " ".join(parts) == text.strip()


async def test_the_request_budget_spaces_polls() -> None:
    now = [0.0]
    slept: list[float] = []
    budget = Budget(requests_per_window=30, clock=lambda: now[0])

    import asyncio

    original = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        for _ in range(4):
            await budget.take()
        budget.block_until(now[0] + 100)
        await budget.take()
    finally:
        asyncio.sleep = original  # type: ignore[assignment]
    assert slept[:3] == [30.0, 30.0, 30.0]  # 900 s / 30 requests
    assert slept[3] == pytest.approx(100.0)


async def test_a_customers_tweets_in_one_poll_are_answered_in_order(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    # The API lists mentions newest first; the customer wrote them oldest first.
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    thread = twitter.mention("2031", "@NorthwindAir first")
    twitter.mention("2031", "@NorthwindAir second", conversation_id=thread)
    twitter.mention("2031", "@NorthwindAir third", conversation_id=thread)
    twitter.dm("2032", "one", username="dee")
    twitter.dm("2032", "two", username="dee")
    await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: len(assistant.turns) == 5)
    texts = assistant.texts()
    assert [t for t in texts if t in ("first", "second", "third")] == ["first", "second", "third"]
    assert [t for t in texts if t in ("one", "two")] == ["one", "two"]


async def test_an_unreadable_mention_is_skipped_and_polling_goes_on(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    broken = twitter.mention("2033", "@NorthwindAir where is my bag")
    del twitter.mentions[-1]["author_id"]  # not what the API promises
    fine = twitter.mention("2034", "@NorthwindAir is NW12 late?")
    gateway = await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.replies_to(fine))
    later = twitter.mention("2035", "@NorthwindAir and now?")
    await eventually(lambda: twitter.replies_to(later), timeout=20)
    assert assistant.texts() == ["is NW12 late?", "and now?"]
    assert not twitter.replies_to(broken)
    with gateway.parts.sessions() as db:
        cursor = db.scalars(select(Cursor).where(Cursor.name == "mentions_since")).one()
        assert int(cursor.value) == int(later)


async def test_no_satisfaction_question_on_twitter(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    """Mentions are public and our DMs have no buttons: a request the bot resolved (the
    customer thanks it) gets the bot's reply and no rating question (docs/analytics.md)."""
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    gateway = await start_gateway(rasa_url, twitter_port=port)
    twitter.dm("2041", "/flight_status is NW881 on time?", username="rae")
    await eventually(lambda: twitter.dms_to("2041"))
    twitter.dm("2041", "/thank thanks!", username="rae")
    tweet = twitter.mention("2042", "@NorthwindAir /flight_status NW22?", username="ted")
    await eventually(lambda: twitter.replies_to(tweet))
    thanks = twitter.mention("2042", "@NorthwindAir /thank thanks", username="ted")
    await eventually(lambda: twitter.replies_to(thanks) and len(twitter.dms_to("2041")) == 2)
    assert twitter.dms_to("2041") == [
        "echo: /flight_status is NW881 on time?",
        "echo: /thank thanks!",
    ]
    with gateway.parts.sessions() as db:
        assert db.scalars(select(Rating)).all() == []
        texts = db.scalars(select(OutboxItem.payload)).all()
        intents = db.scalars(select(Message.intent).order_by(Message.id)).all()
    # Each thanks was understood as one, in private and in public.
    assert sorted(i for i in intents if i) == ["flight_status"] * 2 + ["thank"] * 2
    assert len(texts) == 4 and not any("rating" in payload for payload in texts)
