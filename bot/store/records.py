"""Small writes every part of the gateway makes: customers, conversations, audit, outbox."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.base import CustomerRef
from bot.store.models import (
    AuditEvent,
    Conversation,
    Cursor,
    Customer,
    OutboxItem,
    OutboxStatus,
    Owner,
)


def utcnow() -> datetime:
    """Now as naive UTC, the way the store keeps times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def customer_for(session: Session, channel: str, ref: CustomerRef, now: datetime) -> Customer:
    """The customer with this platform id, created (or their handle refreshed) as needed."""
    customer = session.scalars(
        select(Customer).where(
            Customer.channel == channel, Customer.platform_user_id == ref.platform_user_id
        )
    ).first()
    if customer is None:
        customer = Customer(
            channel=channel,
            platform_user_id=ref.platform_user_id,
            handle=ref.handle,
            display_name=ref.display_name,
            created_at=now,
        )
        session.add(customer)
        session.flush()
    elif ref.handle and customer.handle != ref.handle:
        customer.handle = ref.handle
    return customer


def conversation_for(
    session: Session, channel: str, place: str, visibility: str, customer: Customer, now: datetime
) -> Conversation:
    """The conversation of this place, created in the bot's hands if new."""
    conversation = session.scalars(
        select(Conversation).where(Conversation.channel == channel, Conversation.place == place)
    ).first()
    if conversation is None:
        conversation = Conversation(
            channel=channel,
            place=place,
            visibility=visibility,
            customer_id=customer.id,
            owner=Owner.BOT,
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        session.flush()
    return conversation


def audit(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    conversation_id: int | None = None,
    ticket_id: int | None = None,
    **details: Any,
) -> None:
    """Appends to the audit trail."""
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action=action,
            conversation_id=conversation_id,
            ticket_id=ticket_id,
            details=details or None,
        )
    )


def enqueue(
    session: Session,
    key: str,
    conversation_id: int,
    channel: str,
    payload: dict[str, Any],
    now: datetime,
    message_id: int | None = None,
) -> OutboxItem | None:
    """Adds an item to the outbox unless one with ``key`` exists (returns None then)."""
    existing = session.scalars(select(OutboxItem).where(OutboxItem.idempotency_key == key)).first()
    if existing is not None:
        return None
    item = OutboxItem(
        idempotency_key=key,
        conversation_id=conversation_id,
        message_id=message_id,
        channel=channel,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(item)
    return item


def read_cursor(session: Session, channel: str, name: str) -> str | None:
    """How far ``channel`` has read its source ``name``, if it has started."""
    cursor = session.get(Cursor, (channel, name))
    return cursor.value if cursor is not None else None


def move_cursor(session: Session, channel: str, name: str, value: str, now: datetime) -> None:
    """Records how far ``channel`` has read ``name`` (in the caller's transaction)."""
    cursor = session.get(Cursor, (channel, name))
    if cursor is None:
        session.add(Cursor(channel=channel, name=name, value=value, updated_at=now))
    else:
        cursor.value = value
        cursor.updated_at = now
