"""A message's error stays with that message: other customers keep the bot.

The issue's case: in a Telegram group, a message that is only the bot's
@handle became empty text; Rasa failed on it (500), the gateway took that for
"Rasa is down", and the next five customers asking about NW405 were handed
to a person. Text too long for the assistant (an X DM of 10,000 characters)
went the same way. Only a connection that fails, or several conversations
failing in a row, mean the assistant is down.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.brand import load_brand
from bot.store.models import Conversation, Owner, Ticket
from tests.fakes.telegram import BOT_USERNAME
from tests.gateway.conftest import eventually, telegram_settings

CUSTOMERS = [931, 932, 933, 934, 935]


def tickets(gateway) -> list[Ticket]:  # type: ignore[no-untyped-def]
    with gateway.parts.sessions() as db:
        return list(db.scalars(select(Ticket)))


async def test_a_group_message_of_only_the_bots_handle_is_answered_and_hands_nobody_over(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say(f"@{BOT_USERNAME}", chat_id=-300, user_id=21, chat_type="supergroup")
    await telegram.say(f"  @{BOT_USERNAME.lower()} ", chat_id=-300, user_id=22, chat_type="group")
    await eventually(lambda: len(telegram.replies_to(-300)) == 2)
    assert telegram.replies_to(-300) == [load_brand().message("empty_message")] * 2
    for customer in CUSTOMERS:
        await telegram.say("is NW405 on time?", chat_id=customer, user_id=customer)
    await eventually(lambda: all(telegram.replies_to(c) for c in CUSTOMERS))
    assert [telegram.replies_to(c) for c in CUSTOMERS] == [["echo: is NW405 on time?"]] * 5
    assert assistant.texts() == ["is NW405 on time?"] * 5  # the empty text never went there
    assert tickets(gateway) == []


async def test_a_dm_too_long_for_the_assistant_goes_to_a_person_and_no_one_else_does(
    fake_assistant, fake_twitter, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    long_dm = "My flight NW405 was a disaster from start to end. " * 200  # 10,000 characters
    twitter.dm("4001", long_dm[:10_000])
    gateway = await start_gateway(rasa_url, twitter_port=port)
    await eventually(lambda: twitter.dms_to("4001"))
    assert twitter.dms_to("4001") == [load_brand().message("unreadable")]
    [ticket] = tickets(gateway)
    assert ticket.reason == "unreadable" and "4096" in ticket.context["error"]
    mentions = [twitter.mention(str(4100 + n), "@NorthwindAir is NW405 on time?") for n in range(5)]
    await eventually(lambda: all(twitter.replies_to(m) for m in mentions), timeout=15)
    assert [twitter.replies_to(m) for m in mentions] == [["echo: is NW405 on time?"]] * 5
    assert assistant.texts() == ["is NW405 on time?"] * 5
    assert len(tickets(gateway)) == 1


async def _post(http, url: str, session: str, text: str) -> None:  # type: ignore[no-untyped-def]
    async with http.post(
        f"{url}/webchat/api/messages",
        json={"session": session, "id": uuid.uuid4().hex, "text": text},
    ) as response:
        assert response.status == 202


async def _replies(http, url: str, session: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with http.get(f"{url}/webchat/api/messages", params={"session": session}) as r:
        return [m["text"] for m in (await r.json())["messages"]]


async def test_rasa_failing_one_message_hands_over_that_conversation_only(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    failing = uuid.uuid4().hex
    await _post(http, gateway.url, failing, "explode please")
    await eventually(lambda: _replies(http, gateway.url, failing))
    [ticket] = tickets(gateway)
    assert ticket.reason == "bot_unavailable"
    assert gateway.parts.assistant.available
    others = [uuid.uuid4().hex for _ in range(5)]
    for session in others:
        await _post(http, gateway.url, session, "is NW405 on time?")

    async def all_answered() -> list[list[str]]:
        answers = [await _replies(http, gateway.url, s) for s in others]
        return answers if all(answers) else []

    assert await eventually(all_answered) == [["echo: is NW405 on time?"]] * 5
    assert len(tickets(gateway)) == 1


async def test_several_conversations_failing_in_a_row_mean_the_assistant_is_down(
    fake_assistant, start_gateway, http
) -> None:
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    await eventually(lambda: gateway.parts.assistant.started)
    assistant.health_delay = 30.0  # health checks get no answer: they neither clear nor set
    failing = [uuid.uuid4().hex for _ in range(3)]
    for number, session in enumerate(failing):
        await _post(http, gateway.url, session, "explode please")
        await eventually(lambda s=session: _replies(http, gateway.url, s))
        assert gateway.parts.assistant.available == (number < 2)
    # Down now: a new customer goes straight to a person, without a turn at Rasa.
    later = uuid.uuid4().hex
    await _post(http, gateway.url, later, "hello")
    await eventually(lambda: _replies(http, gateway.url, later))
    assert len(assistant.turns) == 3
    with gateway.parts.sessions() as db:
        owners = set(db.scalars(select(Conversation.owner)))
    assert owners == {Owner.QUEUE}
    assert [t.reason for t in tickets(gateway)] == ["bot_unavailable"] * 4


async def test_turns_rasa_could_not_start_wait_and_are_answered_once_it_can(
    fake_assistant, start_gateway, http
) -> None:
    """Rasa's lock store (Redis) away: the care channel starts no turn (503, not taken).
    The messages wait, in order, and the assistant is nobody's failure meanwhile; once
    the lock store is back, each gets Rasa's answer, once."""
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url, rasa_wait_seconds=30.0)
    await eventually(lambda: gateway.parts.assistant.started)
    assistant.lock_store_up = False
    waiting = [uuid.uuid4().hex for _ in range(4)]  # more than it takes to count Rasa down
    for session in waiting:
        await _post(http, gateway.url, session, "is NW405 on time?")
    await _post(http, gateway.url, waiting[0], "and NW406?")
    # Each conversation's first message was asked, refused, and asked again later.
    await eventually(
        lambda: all(assistant.not_taken.count(f"webchat-{n}") >= 2 for n in range(1, 5)),
        timeout=15,
    )
    assert [await _replies(http, gateway.url, s) for s in waiting] == [[]] * 4
    assert gateway.parts.assistant.available and assistant.turns == []
    assistant.lock_store_up = True

    async def all_answered() -> list[list[str]]:
        answers = [await _replies(http, gateway.url, s) for s in waiting]
        return answers if len(answers[0]) == 2 and all(answers[1:]) else []

    answers = await eventually(all_answered, timeout=15)
    assert answers[0] == ["echo: is NW405 on time?", "echo: and NW406?"]
    assert answers[1:] == [["echo: is NW405 on time?"]] * 3
    assert len(assistant.turns) == 5 and tickets(gateway) == []


async def test_a_message_that_waited_its_limit_for_rasa_goes_to_a_person(
    fake_assistant, start_gateway, http
) -> None:
    """The wait is bounded (RASA_WAIT_SECONDS, from when the message was stored): past it,
    the message gets the gateway's answer and a person, as when Rasa is down."""
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url, rasa_wait_seconds=1.0)
    await eventually(lambda: gateway.parts.assistant.started)
    assistant.lock_store_up = False
    session = uuid.uuid4().hex
    await _post(http, gateway.url, session, "is NW405 on time?")
    replies = await eventually(lambda: _replies(http, gateway.url, session), timeout=10)
    assert replies == [load_brand().message("bot_unavailable")]
    assert [t.reason for t in tickets(gateway)] == ["bot_unavailable"]
    assert assistant.turns == [] and len(assistant.not_taken) >= 2
