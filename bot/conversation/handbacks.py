"""Telling the assistant that a conversation is the bot's again: the one home of that rule.

A conversation goes back to the bot in one transaction: an agent's hand-back
(bot/desk/operations.py) or the gateway's give-back when no one came
(bot/conversation/waiting.py). Rasa must then hear of it (the care channel's
``/handback``, which clears its handover state), or it answers the customer's
next message still handed over. Rasa may be down at that moment, and the
gateway may stop between the commit and the call; so the transaction that
gives the conversation back also marks it (``Conversation.handback_owed``, the
ticket handed back: :func:`bot.conversation.ownership.to_bot`), and only
:func:`tell` clears the mark, once the assistant has answered.

Whoever tells it first clears it: the desk right after a hand-back (and sends
the assistant's greeting), the gateway's loop right after a give-back (no
greeting: the customer was told already), or the router before the
conversation's next message goes to the assistant (no greeting: the customer
has written since, and the bot's answer to that follows). Two that look at
once (a message routed while the desk tells Rasa) may both tell it: harmless,
since a hand-back only clears the handover state, and rare; one that finds the
mark gone does nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from bot.assistant import Assistant, BotMessage
from bot.store.models import Conversation, Ticket


@dataclass(frozen=True)
class Owed:
    """A hand-back the assistant has not heard of yet."""

    ticket_id: int
    conversation_id: int
    sender: str  # the conversation's id at the assistant


def owed(sessions: sessionmaker, ticket_id: int) -> Owed | None:
    """The ticket's hand-back, if the assistant still has to hear of it."""
    with sessions() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        conversation = ticket.conversation
        if conversation.handback_owed != ticket_id:
            return None  # told already (or a later hand-back is owed instead)
        return Owed(ticket_id, int(conversation.id), conversation.rasa_sender_id)


def _told(sessions: sessionmaker, handback: Owed) -> None:
    with sessions.begin() as session:
        # Only this ticket's mark: a later hand-back of the conversation, marked while
        # the assistant was being told of this one, is still owed.
        session.execute(
            update(Conversation)
            .where(
                Conversation.id == handback.conversation_id,
                Conversation.handback_owed == handback.ticket_id,
            )
            .values(handback_owed=None)
        )


async def tell(
    assistant: Assistant,
    sessions: sessionmaker,
    ticket_id: int,
    reads: sessionmaker | None = None,
) -> list[BotMessage] | None:
    """Tells the assistant of the ticket's hand-back, unless it has heard of it already
    (then None); returns its greeting, for the caller to send or not.

    Raises :class:`~bot.assistant.AssistantUnavailable` when the assistant does not
    answer: the mark stays, and the next caller tells it (at the latest the router,
    before the conversation's next message).
    """
    handback = await asyncio.to_thread(owed, reads or sessions, ticket_id)
    if handback is None:
        return None
    greeting = await assistant.handback(handback.sender)
    await asyncio.to_thread(_told, sessions, handback)
    return greeting
