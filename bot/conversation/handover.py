"""Handing a conversation to people: the ticket, what an agent needs to know, the desk.

A handover moves the conversation to the queue (bot/conversation/ownership.py)
and opens a ticket with its reason, its priority and its context: the recent
transcript, what the bot understood turn by turn, and the dialogue's slots.
The agents' desk, if there is one, is told through the :class:`Desk`
protocol, inside the same transaction; the core never imports a desk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.analytics import counters
from bot.assistant import Turn
from bot.contract import HandoverReason
from bot.conversation import ownership, unanswered
from bot.store.models import (
    Conversation,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketStatus,
)
from bot.store.records import audit

TRANSCRIPT_TURNS = 12
NLU_TURNS = 6


class Desk(Protocol):
    """What the core tells the agents' desk (bot/desk): optional.

    ``name`` is the channel its queued items go out on (the outbox's sender); None
    for a desk that queues nothing (the web desk alone reads tickets from the store).
    """

    @property
    def name(self) -> str | None:
        """The channel the desk's queued items go out on; None when it queues nothing."""

    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """A new handover: show it to the agents (inside the caller's transaction)."""

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        """The customer wrote while a person owns the conversation."""

    def ticket_given_back(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """No person came in time and the bot took the conversation back
        (bot/conversation/waiting.py): the ticket is closed, the desk shows it so."""


def transcript(
    session: Session, conversation_id: int, turns: int, times: bool = True
) -> list[dict[str, Any]]:
    """The conversation's last ``turns`` messages, oldest first, as plain data (with the
    time of each unless ``times`` is false)."""
    return [_line(m, times) for m in recent(session, conversation_id, turns)]


def recent(session: Session, conversation_id: int, turns: int) -> list[Message]:
    """The conversation's last ``turns`` messages, oldest first (the ticket's context, the
    card's transcript, the web desk's history)."""
    latest = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(turns)
    ).all()
    return list(reversed(latest))


def _line(message: Message, times: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "author": message.author.value,
        "text": message.text,
        "kind": message.kind,
    }
    if times:
        line["at"] = message.created_at.isoformat()
    return line


def hand_over(
    session: Session,
    conversation: Conversation,
    reason: str,
    now: datetime,
    desk: Desk | None,
    turn: Turn | None = None,
    payload: dict[str, Any] | None = None,
    error: str | None = None,
) -> Ticket:
    """Moves the conversation to the queue and opens its ticket (tells the desk)."""
    ownership.to_queue(conversation, now)
    session.flush()
    counters.HANDOVERS.labels(reason).inc()
    ticket = Ticket(
        conversation_id=conversation.id,
        reason=reason,
        status=TicketStatus.OPEN,
        priority=priority_for(reason),
        context=_context(session, conversation, turn, payload, error),
        created_at=now,
    )
    unanswered.customer_wrote(ticket, now)  # the message handed over waits for a person
    session.add(ticket)
    session.flush()
    audit(session, "bot", "handed_over", now, conversation.id, ticket.id, reason=reason)
    if desk is not None:
        desk.ticket_opened(session, ticket, now)
    return ticket


def priority_for(reason: str) -> Priority:
    """A new ticket's priority: complaints and an assistant that did not answer go first."""
    if reason in (HandoverReason.COMPLAINT.value, HandoverReason.BOT_UNAVAILABLE.value):
        return Priority.HIGH
    return Priority.NORMAL


def _context(
    session: Session,
    conversation: Conversation,
    turn: Turn | None,
    payload: dict[str, Any] | None,
    error: str | None,
) -> dict[str, Any]:
    """What an agent needs: transcript, what the bot understood turn by turn, slots."""
    latest = recent(session, conversation.id, TRANSCRIPT_TURNS)
    understood = [
        {"text": m.text, "intent": m.intent, "confidence": m.confidence, "entities": m.entities}
        for m in latest
        if m.direction == Direction.IN and m.intent
    ][-NLU_TURNS:]
    return {
        "transcript": [_line(m, times=True) for m in latest],
        "understood": understood,
        "slots": dict(turn.slots) if turn else {},
        "handover": payload,
        "error": error,
    }


def open_ticket(session: Session, conversation_id: int) -> Ticket | None:
    """The conversation's ticket that a person is working on, if any."""
    return session.scalars(
        select(Ticket)
        .where(
            Ticket.conversation_id == conversation_id,
            Ticket.status.in_([TicketStatus.OPEN, TicketStatus.CLAIMED]),
        )
        .order_by(Ticket.id.desc())
    ).first()
