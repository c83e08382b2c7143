"""What an agent sees of a ticket: the card's data (:class:`TicketView`), plain data only."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation.handover import transcript
from bot.desk.cards import TicketView, UnderstoodMessage
from bot.desk.service_levels import waiting_since
from bot.store.models import Author, Conversation, Message, Ticket, TicketStatus

ACTIVE = (TicketStatus.OPEN, TicketStatus.CLAIMED)
#: Messages of the conversation a card shows.
CARD_TURNS = 8
#: Link makers per channel: (customer's handle, post id) -> a link to the post, if any.
Links = Mapping[str, Callable[[str | None, str | None], str | None]]


def ticket_view(session: Session, ticket: Ticket, links: Links) -> TicketView:
    """The card's data for ``ticket`` (read in the caller's session)."""
    conversation: Conversation = ticket.conversation
    customer = conversation.customer
    earlier = session.scalars(
        select(Ticket)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .where(
            Conversation.customer_id == customer.id,
            Ticket.id != ticket.id,
            Ticket.created_at <= ticket.created_at,
        )
        .order_by(Ticket.id.desc())
        .limit(5)
    ).all()
    understood = list(ticket.context.get("understood") or [])
    handover = ticket.context.get("handover") or {}
    request = tuple(str(i) for i in (handover.get("topic"), handover.get("also")) if i)
    link = links.get(conversation.channel)
    return TicketView(
        ticket_id=ticket.id,
        reason=ticket.reason,
        status=ticket.status.value,
        priority=ticket.priority.value,
        agent_id=ticket.agent_id,
        created_at=ticket.created_at,
        channel=conversation.channel,
        visibility=conversation.visibility,
        customer_handle=customer.handle,
        customer_name=customer.display_name,
        customer_platform_id=customer.platform_user_id,
        link=link(customer.handle, conversation.reply_to_platform_id) if link else None,
        transcript=transcript(session, conversation.id, CARD_TURNS, times=False),
        understood=understood,
        slots=dict(ticket.context.get("slots") or {}),
        earlier_tickets=[
            {"id": t.id, "reason": t.reason, "status": t.status.value} for t in earlier
        ],
        error=ticket.context.get("error"),
        request=request,
        claimed_at=ticket.claimed_at,
        resolved_at=ticket.resolved_at,
        waiting_since=waiting_since(ticket),
    )


def understood(session: Session, conversation_id: int, limit: int) -> list[UnderstoodMessage]:
    """The conversation's last ``limit`` customer messages that the bot classified,
    oldest first."""
    messages = session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.author == Author.CUSTOMER,
            Message.intent.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return [
        UnderstoodMessage(int(m.id), m.text, m.intent, m.confidence) for m in reversed(messages)
    ]
