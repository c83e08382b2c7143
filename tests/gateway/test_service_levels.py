"""The service levels' measure of a customer's wait for the agents' reply, on a real gateway:
a Telegram customer, the Slack desk (where breaches are announced) and the web desk
(where an agent works and the card says how long the customer has waited)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, select

from bot.store.models import Message, Ticket
from tests.gateway.conftest import eventually
from tests.gateway.test_desk import CUSTOMER_CHAT, open_desk
from tests.gateway.web_agent import WebAgent, desk_settings


def time_passes(gateway: Any, ticket_id: int, minutes: int) -> None:
    """As if ``minutes`` passed: every time the store keeps of the ticket (its breach mark
    too: ``next:`` and when the wait began) and of its conversation's messages moves that
    far into the past. The gateway's clocks are the machine's."""
    moved = timedelta(minutes=minutes)
    with gateway.parts.sessions.begin() as session:
        ticket = session.get(Ticket, ticket_id)
        for column in Ticket.__table__.columns:
            kept = getattr(ticket, column.key)
            if isinstance(column.type, DateTime) and kept is not None:
                setattr(ticket, column.key, kept - moved)
        if ticket.sla_breached and ticket.sla_breached.startswith("next:"):
            since = datetime.fromisoformat(ticket.sla_breached.removeprefix("next:")) - moved
            ticket.sla_breached = f"next:{since.isoformat(timespec='seconds')}"
        for message in session.scalars(
            select(Message).where(Message.conversation_id == ticket.conversation_id)
        ):
            message.created_at -= moved
            if message.handled_at is not None:
                message.handled_at -= moved


async def test_the_wait_runs_from_the_first_message_the_agents_have_not_answered(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    """After the first response, a customer who writes at t, t+50 min and t+100 min has
    waited since t: the desk says so, and the 60-minute next-response target (a normal
    ticket's) is announced once, when it passed. Before, the wait ran from their latest
    message: it never passed the target, and each message started a new wait. The agent's
    reply ends the wait; the customer's next message starts a new one, announced anew."""
    desk = await open_desk(
        fake_assistant,
        fake_telegram,
        fake_slack,
        start_gateway,
        http,
        desk=desk_settings(),
        service_level_interval=3600,  # the test checks at the moments it sets
    )
    gateway, slack, telegram = desk.gateway, desk.slack, desk.telegram
    ticket, thread = await desk.hand_over()
    care = gateway.parts.care

    async def customer_writes(text: str) -> datetime:
        """The customer's message, once the gateway has handled it: when it was stored."""
        await telegram.say(text, chat_id=CUSTOMER_CHAT, user_id=CUSTOMER_CHAT)

        def handled() -> datetime | None:
            with gateway.parts.sessions() as session:
                return session.scalar(
                    select(Message.created_at).where(
                        Message.conversation_id == ticket.conversation_id,
                        Message.text == text,
                        Message.handled_at.is_not(None),
                    )
                )

        stored: datetime = await eventually(handled)
        return stored

    async def announced() -> list[int]:
        return await asyncio.to_thread(care.check_service_levels)

    def notices() -> list[str]:
        return [p["text"] for p in slack.posts(thread) if p.get("reply_broadcast")]

    async with WebAgent(gateway.url, "alice") as alice:

        async def wait() -> str:
            return str((await alice.get(f"tickets/{ticket.id}"))["ticket"]["wait"])

        status, _ = await alice.act(ticket.id, "reply", text="Looking into it.", key="a" * 12)
        assert status == 200
        assert (await wait()).endswith("customer's last message answered")

        await customer_writes("any news?")
        time_passes(gateway, ticket.id, 50)
        assert await announced() == []
        assert (await wait()).endswith("customer waiting 50 min for a reply")

        await customer_writes("hello??")
        time_passes(gateway, ticket.id, 50)
        assert (await wait()).endswith("customer waiting 1 h 40 min for a reply")
        assert await announced() == [ticket.id]
        [notice] = await eventually(notices)
        assert f"#{ticket.id} (normal)" in notice
        assert "has waited 100 min for a reply (target 60 min)" in notice

        await customer_writes("is anyone there?")
        time_passes(gateway, ticket.id, 50)
        assert (await wait()).endswith("customer waiting 2 h 30 min for a reply")
        assert await announced() == []  # the same unanswered stretch: announced once

        status, _ = await alice.act(ticket.id, "reply", text="Sorry, here now.", key="b" * 12)
        assert status == 200
        assert (await wait()).endswith("customer's last message answered")
        assert await announced() == []

        stored = await customer_writes("thanks, one more thing")
        with gateway.parts.sessions() as session:
            assert session.get(Ticket, ticket.id).customer_waiting_since == stored
        assert (await wait()).endswith("customer waiting 0 min for a reply")
        time_passes(gateway, ticket.id, 61)
        assert (await wait()).endswith("customer waiting 1 h 1 min for a reply")
        assert await announced() == [ticket.id]  # a new stretch, a new notice
        await eventually(lambda: len(notices()) == 2)
        assert "has waited 61 min for a reply" in notices()[1]
        assert len(notices()) == 2
