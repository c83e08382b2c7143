"""Small writes every part of the gateway makes: customers, conversations, audit, outbox.

The functions that take a ``Connection`` are the gateway's hot path: plain SQL
statements (SQLAlchemy Core) in the caller's transaction, without the ORM's
unit of work, built once with bound parameters (building a statement costs ten
times more than running it on SQLite). Run on a session's connection
(``session.connection()``), they mix with ORM work in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.store.models import (
    AuditEvent,
    Conversation,
    Cursor,
    Customer,
    Message,
    OutboxItem,
    OutboxStatus,
    Owner,
)

CUSTOMERS: Table = Customer.__table__
CONVERSATIONS: Table = Conversation.__table__
MESSAGES: Table = Message.__table__
OUTBOX: Table = OutboxItem.__table__
CURSORS: Table = Cursor.__table__

_CUSTOMER = select(CUSTOMERS.c.id, CUSTOMERS.c.handle).where(
    CUSTOMERS.c.channel == bindparam("b_channel"),
    CUSTOMERS.c.platform_user_id == bindparam("b_user"),
)
_CUSTOMER_HANDLE = (
    update(CUSTOMERS)
    .where(CUSTOMERS.c.id == bindparam("b_id"))
    .values(handle=bindparam("b_handle"))
)
_CONVERSATION = select(CONVERSATIONS.c.id).where(
    CONVERSATIONS.c.channel == bindparam("b_channel"), CONVERSATIONS.c.place == bindparam("b_place")
)
_TOUCH = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("b_id"))
    .values(updated_at=bindparam("b_now"))
)
_TOUCH_REPLY_TO = _TOUCH.values(reply_to_platform_id=bindparam("b_reply_to"))
_QUEUED = select(OUTBOX.c.id).where(OUTBOX.c.idempotency_key == bindparam("b_key"))
_INSERT_CUSTOMER = insert(CUSTOMERS)
_INSERT_CONVERSATION = insert(CONVERSATIONS)
_INSERT_OUTBOX = insert(OUTBOX)
_INSERT_CURSOR = insert(CURSORS)
_MOVE_CURSOR = (
    update(CURSORS)
    .where(CURSORS.c.channel == bindparam("b_channel"), CURSORS.c.name == bindparam("b_name"))
    .values(value=bindparam("b_value"), updated_at=bindparam("b_now"))
)


def utcnow() -> datetime:
    """Now as naive UTC, the way the store keeps times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def customer_id_for(
    connection: Connection,
    channel: str,
    platform_user_id: str,
    now: datetime,
    handle: str | None = None,
    display_name: str | None = None,
) -> int:
    """The id of the customer with this platform id, created (or their handle refreshed)."""
    found = connection.execute(
        _CUSTOMER, {"b_channel": channel, "b_user": platform_user_id}
    ).first()
    if found is None:
        created = connection.execute(
            _INSERT_CUSTOMER,
            {
                "channel": channel,
                "platform_user_id": platform_user_id,
                "handle": handle,
                "display_name": display_name,
                "created_at": now,
            },
        )
        return int(created.inserted_primary_key[0])
    if handle and found.handle != handle:
        connection.execute(_CUSTOMER_HANDLE, {"b_id": found.id, "b_handle": handle})
    return int(found.id)


def conversation_id_for(
    connection: Connection,
    channel: str,
    place: str,
    visibility: str,
    customer_id: int,
    now: datetime,
    reply_to: str | None = None,
) -> tuple[int, bool]:
    """The id of the conversation of this place, and whether it was created now (in the
    bot's hands, ``reply_to`` being the customer's post a public reply goes under)."""
    found = connection.scalar(_CONVERSATION, {"b_channel": channel, "b_place": place})
    if found is not None:
        return int(found), False
    created = connection.execute(
        _INSERT_CONVERSATION,
        {
            "channel": channel,
            "place": place,
            "visibility": visibility,
            "customer_id": customer_id,
            "owner": Owner.BOT,
            "reply_to_platform_id": reply_to,
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(created.inserted_primary_key[0]), True


def touch_conversation(
    connection: Connection, conversation_id: int, now: datetime, reply_to: str | None = None
) -> None:
    """Marks the conversation as updated now; ``reply_to`` is the customer's latest post,
    where a public reply goes."""
    if reply_to:
        connection.execute(
            _TOUCH_REPLY_TO, {"b_id": conversation_id, "b_now": now, "b_reply_to": reply_to}
        )
    else:
        connection.execute(_TOUCH, {"b_id": conversation_id, "b_now": now})


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


@dataclass(frozen=True)
class Outgoing:
    """An outbox item as its sender needs it (a plain copy, usable outside any session)."""

    id: int
    conversation_id: int
    channel: str
    payload: dict[str, Any]
    created_at: datetime
    message_id: int | None = None
    last_error: str | None = None

    @classmethod
    def of(cls, item: Any) -> Outgoing:
        """From an :class:`OutboxItem` or a row of the outbox table."""
        return cls(
            id=int(item.id),
            conversation_id=int(item.conversation_id),
            channel=item.channel,
            payload=dict(item.payload),
            created_at=item.created_at,
            message_id=item.message_id,
            last_error=item.last_error,
        )


def enqueue(
    session: Session | Connection,
    key: str,
    conversation_id: int,
    channel: str,
    payload: dict[str, Any],
    now: datetime,
    message_id: int | None = None,
    claimed_by: str | None = None,
) -> Outgoing | None:
    """Adds an item to the outbox unless one with ``key`` exists (returns None then).

    With ``claimed_by``, the item is claimed for that worker in the same
    statement (its first attempt starts now), so it goes out without another look.
    """
    connection = session.connection() if isinstance(session, Session) else session
    if connection.scalar(_QUEUED, {"b_key": key}) is not None:
        return None
    claimed = claimed_by is not None
    created = connection.execute(
        _INSERT_OUTBOX,
        {
            "idempotency_key": key,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "channel": channel,
            "payload": payload,
            "status": OutboxStatus.SENDING if claimed else OutboxStatus.PENDING,
            "attempts": 1 if claimed else 0,
            "claimed_by": claimed_by,
            "claimed_at": now if claimed else None,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    return Outgoing(
        id=int(created.inserted_primary_key[0]),
        conversation_id=conversation_id,
        channel=channel,
        payload=payload,
        created_at=now,
        message_id=message_id,
    )


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


def store_cursor(
    connection: Connection, channel: str, name: str, value: str, now: datetime
) -> None:
    """:func:`move_cursor` on a connection (the channels' hot path)."""
    moved = connection.execute(
        _MOVE_CURSOR, {"b_channel": channel, "b_name": name, "b_value": value, "b_now": now}
    )
    if moved.rowcount == 0:
        connection.execute(
            _INSERT_CURSOR, {"channel": channel, "name": name, "value": value, "updated_at": now}
        )
