"""Every id a channel produces fits the store, at the platforms' documented maximum lengths.

Each test sends messages whose ids have the real shape of their platform, as
long as the platform says they can be, through the real gateway, and checks
that they are stored and answered (on SQLite and on PostgreSQL, which, unlike
SQLite, refuses a value longer than its column).

* Web chat: the page makes a 32-hex session and a 32-hex message id; the API
  takes up to 64 characters for each.
* Telegram: user and chat ids have up to 52 significant bits, group and
  supergroup chats are negative (``-100`` and 13 digits); message ids are
  32-bit; first and last names up to 64 characters each, usernames up to 32.
* X: tweet, user and DM event ids are 64-bit (up to 19 digits); a DM
  conversation id is ``<user id>-<user id>``; usernames up to 15, names up
  to 50 characters.
* Slack: user and channel ids (``U``/``W``/``C`` and up to about 20
  characters), message timestamps ``1700000000.123456``, event ids.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
from sqlalchemy import select

from bot.store.models import Conversation, Customer, Message, ProcessedEvent, Ticket
from tests.fakes.slack import form_body, sign
from tests.fakes.telegram import BOT_USERNAME
from tests.gateway.conftest import (
    SLACK_SECRET,
    eventually,
    slack_settings,
    telegram_settings,
)

BITS_52 = 2**52 - 1  # 4503599627370495
SUPERGROUP = -1_009_999_999_999_999  # "-100" and 13 digits
INT_32 = 2**31 - 1
ID_64 = str(2**63 - 1)  # 9223372036854775807: 19 digits


async def _web_replies(http: aiohttp.ClientSession, url: str, session: str) -> list[str]:
    async with http.get(f"{url}/webchat/api/messages", params={"session": session}) as r:
        return [m["text"] for m in (await r.json())["messages"]]


async def test_web_chat_ids_of_the_page_and_of_the_longest_kind_fit(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    shapes = [
        (uuid.uuid4().hex, uuid.uuid4().hex),  # what the page sends
        ("s" * 64, "m" * 64),  # the longest the API takes
    ]
    for session, message_id in shapes:
        async with http.post(
            f"{gateway.url}/webchat/api/messages",
            json={"session": session, "id": message_id, "text": "is NW405 on time?"},
        ) as response:
            assert response.status == 202, await response.text()
    for session, _ in shapes:
        answer = await eventually(lambda s=session: _web_replies(http, gateway.url, s))
        assert answer == ["echo: is NW405 on time?"]
    with gateway.parts.sessions() as db:
        stored = db.scalars(select(Message.platform_message_id).where(Message.direction == "in"))
        assert sorted(stored) == sorted(f"{s}:{m}" for s, m in shapes)


async def test_telegram_ids_and_names_of_the_longest_kind_fit(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    names = {"first_name": "F" * 64, "last_name": "L" * 64, "username": "u" * 32}
    private = telegram.message_update("hello", chat_id=BITS_52, user_id=BITS_52)
    private["message"]["from"].update(names)
    private["message"]["message_id"] = INT_32
    private["update_id"] = INT_32 - 1
    group = telegram.message_update(
        f"@{BOT_USERNAME} is NW405 on time?",
        chat_id=SUPERGROUP,
        user_id=BITS_52 - 1,
        chat_type="supergroup",
    )
    group["message"]["from"].update(names)
    group["message"]["message_id"] = INT_32
    group["update_id"] = INT_32
    await telegram.push(private)
    await telegram.push(group)
    await eventually(lambda: telegram.replies_to(BITS_52) and telegram.replies_to(SUPERGROUP))
    assert telegram.replies_to(BITS_52) == ["echo: hello"]
    assert telegram.replies_to(SUPERGROUP) == ["echo: is NW405 on time?"]
    with gateway.parts.sessions() as db:
        places = set(db.scalars(select(Conversation.place)))
        assert places == {f"chat:{BITS_52}", f"group:{SUPERGROUP}:{BITS_52 - 1}"}
        customer = db.scalars(select(Customer).where(Customer.platform_user_id == str(BITS_52)))
        assert customer.one().display_name == "F" * 64 + " " + "L" * 64


async def test_x_ids_and_names_of_the_longest_kind_fit(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    author = str(2**63 - 2)
    tweet = twitter.mention(author, "@NorthwindAir is NW405 on time?", conversation_id=ID_64)
    twitter.users[author] = {"id": author, "username": "u" * 15, "name": "N" * 50}
    sender = str(2**63 - 3)
    twitter.user(sender, "d" * 15)
    twitter.dm_events.append(
        {
            "id": ID_64,
            "text": "my bag is lost",
            "event_type": "MessageCreate",
            "sender_id": sender,
            "dm_conversation_id": f"{ID_64}-{sender}",  # two 19-digit ids
            "created_at": "2026-11-23T12:00:00.000Z",
        }
    )
    gateway = await start_gateway(rasa_url, twitter_port=port)
    inbound = select(Message.platform_message_id).where(Message.direction == "in")

    def stored() -> set[str]:
        with gateway.parts.sessions() as db:
            return set(db.scalars(inbound))

    await eventually(lambda: twitter.replies_to(tweet))
    assert twitter.replies_to(tweet) == ["echo: is NW405 on time?"]
    # The DMs are read after the mentions: the tweet's reply may come first.
    await eventually(lambda: len(stored()) == 2)
    assert stored() == {f"tweet:{tweet}", f"dm:{ID_64}"}
    with gateway.parts.sessions() as db:
        assert f"dm:{ID_64}-{sender}" in set(db.scalars(select(Conversation.place)))


async def test_slack_ids_of_the_longest_kind_fit(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    channel, agent = "C" + "0" * 20, "W" + "1" * 20
    slack.members.append(agent)
    gateway = await start_gateway(
        rasa_url,
        telegram=telegram_settings(api),
        slack=slack_settings(slack_api, escalation_channel=channel),
    )
    await telegram.say("get me a human", chat_id=77, user_id=77)

    def the_thread() -> str | None:
        with gateway.parts.sessions() as db:
            return db.scalar(select(Ticket.desk_thread))

    thread = await eventually(the_thread)
    event_id = "Ev" + "A" * 30
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T" + "2" * 20,
            "api_app_id": "A0",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": channel,
                "user": agent,
                "text": "Hi, I'm on it.",
                "ts": f"{time.time():.6f}",
                "thread_ts": thread,
                "channel_type": "channel",
            },
        }
    )
    async with http.post(
        f"{gateway.url}/slack/events",
        data=body.encode(),
        headers={"Content-Type": "application/json", **sign(SLACK_SECRET, body)},
    ) as response:
        assert response.status == 200
    await eventually(lambda: "Hi, I'm on it." in telegram.replies_to(77))
    with gateway.parts.sessions() as db:
        ticket_id = str(db.scalar(select(Ticket.id)))
    claim = form_body(
        {
            "type": "block_actions",
            "user": {"id": agent},
            "team": {"id": "T" + "2" * 20},
            "actions": [{"action_id": "resolve", "value": ticket_id}],
        }
    )
    async with http.post(
        f"{gateway.url}/slack/events",
        data=claim.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(SLACK_SECRET, claim),
        },
    ) as response:
        assert response.status == 200
    await asyncio.sleep(0.2)
    with gateway.parts.sessions() as db:
        ticket = db.scalars(select(Ticket)).one()
        assert (ticket.agent_id, ticket.desk_channel, ticket.status.value) == (
            agent,
            channel,
            "resolved",
        )
        assert db.scalar(select(ProcessedEvent.event_id)) == event_id
