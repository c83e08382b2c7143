"""Work that meets the previous turn still finishing: every answer still goes out, once.

Customers who write again the moment an answer arrives meet its reply being
recorded as sent and its conversation's lease being given back: the handovers
between the inbox, the outbox and their conversation tasks must lose nothing.
(A reply claimed while its conversation's send lane was ending used to stay
"sending" for good: the first test caught it about every other run.) Copies
of a message that a platform delivers again while the first is answered meet
the answer's transaction on the store: the second test caught a deadlock on
PostgreSQL about every fourth run while the two took their rows in opposite
orders.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from bot.store.models import Conversation, OutboxItem, OutboxStatus
from tests.gateway.conftest import eventually, telegram_settings

CUSTOMERS = 50
MESSAGES = 4
ROUNDS = 8
DELAYS = [0.0, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.024]


async def test_customers_writing_back_to_back_get_every_answer_in_order(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))

    async def customer(chat_id: int) -> list[str]:
        for n in range(MESSAGES):
            await telegram.say(f"question {n}", chat_id=chat_id, user_id=chat_id)
            await telegram.wait_for_reply(chat_id, n + 1, timeout=20)
        return telegram.replies_to(chat_id)

    chats = [9_000 + i for i in range(CUSTOMERS)]
    answers = await asyncio.gather(*(customer(chat) for chat in chats))
    expected = [f"echo: question {n}" for n in range(MESSAGES)]
    assert answers == [expected] * CUSTOMERS
    assert len(assistant.turns) == CUSTOMERS * MESSAGES

    def settled() -> bool:
        with gateway.parts.sessions() as db:
            unsent = db.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.status != OutboxStatus.SENT)
            )
            leased = db.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.lease_owner.is_not(None))
            )
            return unsent == 0 and leased == 0

    # Every reply is recorded as sent and every conversation's lease given back.
    await eventually(settled, timeout=10)


async def test_copies_of_a_message_arriving_while_it_is_answered_are_all_acknowledged(
    fake_assistant, start_gateway, http
) -> None:
    # A platform that delivers a message again while the first copy is being
    # answered: the copy's insert meets the answer's update of the same row
    # (on PostgreSQL it waits for it); neither may fail or deadlock.
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    sessions = [uuid.uuid4().hex[:16] for _ in range(10)]

    async def post(session: str, message_id: str, after: float) -> int:
        await asyncio.sleep(after)
        async with http.post(
            f"{gateway.url}/webchat/api/messages",
            json={"session": session, "id": message_id, "text": "hi"},
        ) as response:
            return response.status

    for round_ in range(ROUNDS):
        ids = {session: uuid.uuid4().hex for session in sessions}
        # The copies come over a few milliseconds: some while the first is answered.
        statuses = await asyncio.gather(
            *(post(session, ids[session], after) for session in sessions for after in DELAYS)
        )
        assert statuses == [202] * len(statuses), round_
    await eventually(lambda: len(assistant.turns) == ROUNDS * len(sessions), timeout=30)
    await gateway.parts.inbox.idle()
    assert len(assistant.turns) == ROUNDS * len(sessions)
