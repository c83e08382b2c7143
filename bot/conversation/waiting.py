"""A handed-over customer's wait, in the store: what they are told at the handover, the one
update when the team is late, the return to the bot when no one comes, and what a
conversation gets with no desk at all. ``bot/expectations.py`` decides; this module
reads the queue and records what was said. The router (bot/conversation/turns.py)
and the gateway's service-level loop call it.

A give-back ends the handover as an agent's hand-back does (bot/desk/operations.py):
the desk is told in the same transaction (its card shows the ticket closed), and the
gateway then tells the assistant (:func:`tell_assistant`), so that its dialogue state
is no longer handed over when the customer writes next (if the assistant does not
answer then, before that message: bot/conversation/handbacks.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import Assistant, AssistantUnavailable
from bot.brand import Brand
from bot.conversation import handbacks, ownership
from bot.conversation.handover import Desk
from bot.conversation.replies import send_text
from bot.expectations import Step, follow_up, on_handover
from bot.store.models import AuditEvent, Author, Ticket, TicketStatus
from bot.store.records import audit

logger = logging.getLogger(__name__)

# The assistant's responses that tell the customer a person is coming
# (actions/responses.yml: handover_requested, handover_complaint...).
PROMISE_PREFIX = "handover_"
DEFAULT_FIRST_MINUTES = 120
UPDATED = "customer_updated"
GIVEN_BACK = "returned_to_bot"


@dataclass(frozen=True)
class FollowedUp:
    """What one look at the waiting customers did."""

    #: Messages queued for customers (updates and give-backs).
    queued: int = 0
    #: The tickets given back to the bot (the assistant has yet to hear of each).
    given_back: list[int] = field(default_factory=list)


def promises_a_person(response: str | None) -> bool:
    """Whether an assistant message (by its response name) says a person will reply."""
    return bool(response and response.startswith(PROMISE_PREFIX))


def first_target(brand: Brand, ticket: Ticket) -> int:
    """The ticket's first-response target in minutes (brand.yml ``service_levels``)."""
    targets = brand.service_levels.get(ticket.priority.value) or {}
    return int(targets.get("first", DEFAULT_FIRST_MINUTES))


def handover_notice(session: Session, brand: Brand, ticket: Ticket, now: datetime) -> str | None:
    """When a person will answer, for the customer whose conversation just became ``ticket``;
    None when the brand says nothing about its care team."""
    if brand.care_team is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.status == TicketStatus.OPEN,
            Ticket.first_response_at.is_(None),
            Ticket.id < ticket.id,
        )
    )
    notice = on_handover(brand.care_team, int(ahead or 0), first_target(brand, ticket), now)
    return brand.message(notice.name, **notice.values)


def follow_up_waiting(
    sessions: sessionmaker, brand: Brand, now: datetime, desk: Desk | None = None
) -> FollowedUp:
    """Sends the update to customers whose ticket passed its target with no person on it,
    and gives back to the bot those past ``give_back_after_minutes`` (with an apology and
    what they can do; ``desk`` is told). Returns what it queued and gave back (the caller
    tells the assistant: :func:`tell_assistant`); safe to run any number of times.
    """
    team = brand.care_team
    if team is None:
        return FollowedUp()
    queued, given_back = 0, []
    with sessions.begin() as session:
        # Every gateway worker runs this (docs/scaling.md): each takes the tickets no other
        # is following up right now, as the service-level check does.
        waiting = session.scalars(
            select(Ticket)
            .where(Ticket.status == TicketStatus.OPEN, Ticket.first_response_at.is_(None))
            .with_for_update(skip_locked=True, of=Ticket)
        ).all()
        for ticket in waiting:
            updated = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.ticket_id == ticket.id, AuditEvent.action == UPDATED)
            )
            step = follow_up(
                team, first_target(brand, ticket), ticket.created_at, now, bool(updated)
            )
            if step is None:
                continue
            conversation = ticket.conversation
            if step == Step.UPDATE:
                text, key = brand.message("still_waiting"), f"wait:update:{ticket.id}"
                audit(session, "gateway", UPDATED, now, conversation.id, ticket.id)
            else:
                ticket.status, ticket.resolved_at = TicketStatus.HANDED_BACK, now
                ownership.to_bot(conversation, ticket.id)
                conversation.updated_at = now
                text, key = brand.message("returned_to_bot"), f"wait:back:{ticket.id}"
                audit(session, "gateway", GIVEN_BACK, now, conversation.id, ticket.id)
                if desk is not None:
                    desk.ticket_given_back(session, ticket, now)
                given_back.append(ticket.id)
            send_text(session, conversation, key, Author.SYSTEM, text, now)
            queued += 1
    return FollowedUp(queued, given_back)


async def tell_assistant(
    assistant: Assistant, sessions: sessionmaker, given_back: list[int]
) -> None:
    """Tells the assistant that these tickets' conversations are the bot's again (it
    clears its handover state, as after an agent's hand-back).

    Its greeting is not sent: the customer has just had ``returned_to_bot``, which says
    the bot is back, with an apology and where else to turn. A second message saying
    the same ("I'm back: our team has finished helping you") would be one too many,
    and untrue, since no one from the team came.
    """
    for ticket_id in given_back:
        try:
            await handbacks.tell(assistant, sessions, ticket_id)
        except AssistantUnavailable as error:
            # As after an agent's hand-back: the conversation is the bot's all the same,
            # and the assistant hears of it before the customer's next message.
            logger.warning("give back: the assistant did not answer: %s", error)
