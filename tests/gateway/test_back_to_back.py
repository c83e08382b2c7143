"""Customers who write again the moment an answer arrives: every answer still goes out.

The next message then meets the previous turn still finishing (its reply being
recorded as sent, its conversation's lease being given back): the handovers
between the inbox, the outbox and their conversation tasks must lose nothing.
(A reply claimed while its conversation's send lane was ending used to stay
"sending" for good: this test caught it about every other run.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.store.models import Conversation, OutboxItem, OutboxStatus
from tests.gateway.conftest import eventually, telegram_settings

CUSTOMERS = 50
MESSAGES = 4


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
