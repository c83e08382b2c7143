"""Which gateway worker handles a conversation now: the lease, the only home of its SQL.

A worker handles a conversation's messages only while it holds the
conversation's lease (``lease_owner`` until ``lease_expires_at``). A lease is
free when nobody holds it, when it has expired (its worker died), or when the
asking worker holds it already: :func:`_free` is that predicate, written once
for the hot path (accepting a message leases its conversation, finishing one
renews the lease and finds the next) and for the inbox's poll.

Statements are built once with bound parameters (see bot/store/records.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from bot.contract import Visibility
from bot.store.models import Direction, InboundStatus, Owner
from bot.store.records import CONVERSATIONS, MESSAGES


@dataclass(frozen=True)
class PendingMessage:
    """A customer message waiting to be handled, with what handling it needs.

    Read in the transaction that leased its conversation (storing it, or
    finishing the message before it), so handling starts without reading it back.
    """

    message_id: int
    text: str
    kind: str
    conversation_id: int
    channel: str
    owner: Owner
    visibility: Visibility
    accepted_at: datetime  # when it was stored
    # The ticket whose hand-back the assistant has not heard of yet (handbacks.py).
    handback_owed: int | None = None

    @property
    def rasa_sender_id(self) -> str:
        """The conversation's id at the assistant (as :attr:`Conversation.rasa_sender_id`)."""
        return f"{self.channel}-{self.conversation_id}"

    @property
    def rasa_message_id(self) -> str:
        """The message's id at the assistant, which takes a turn once per id: the row id
        and when it was stored, so a store started afresh (its ids from 1 again) beside a
        tracker store that kept its events never meets an old answer under a new message."""
        return f"{self.message_id}@{self.accepted_at:%Y%m%dT%H%M%S%f}"


def _free(worker: Any, now: Any) -> ColumnElement[bool]:
    """A conversation ``worker`` may lease at ``now``: nobody's, expired, or its own."""
    return or_(
        CONVERSATIONS.c.lease_owner.is_(None),
        CONVERSATIONS.c.lease_expires_at < now,
        CONVERSATIONS.c.lease_owner == worker,
    )


_WORKER = bindparam("b_worker")
_UNTIL = bindparam("b_until", type_=DateTime)
_LEASE = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id == bindparam("b_conversation"),
        _free(_WORKER, bindparam("b_now", type_=DateTime)),
    )
    .values(lease_owner=_WORKER, lease_expires_at=_UNTIL)
)
_MINE = update(CONVERSATIONS).where(
    CONVERSATIONS.c.id == bindparam("b_conversation"), CONVERSATIONS.c.lease_owner == _WORKER
)
_RENEW = _MINE.values(lease_expires_at=_UNTIL)
_RELEASE = _MINE.values(lease_owner=None, lease_expires_at=None)
_RENEW_MANY = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id.in_(bindparam("b_conversations", expanding=True)),
        CONVERSATIONS.c.lease_owner == _WORKER,
    )
    .values(lease_expires_at=_UNTIL)
)

_PENDING_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.text,
    MESSAGES.c.kind,
    MESSAGES.c.status,
    MESSAGES.c.conversation_id,
    CONVERSATIONS.c.channel,
    CONVERSATIONS.c.owner,
    CONVERSATIONS.c.visibility,
    MESSAGES.c.created_at,
    CONVERSATIONS.c.handback_owed,
)
_WITH_CONVERSATION = (MESSAGES, CONVERSATIONS, MESSAGES.c.conversation_id == CONVERSATIONS.c.id)
_OLDEST_PENDING = (
    select(*_PENDING_COLUMNS)
    .join_from(*_WITH_CONVERSATION)
    .where(
        MESSAGES.c.conversation_id == bindparam("b_conversation"),
        MESSAGES.c.direction == Direction.IN,
        MESSAGES.c.status == InboundStatus.PENDING,
    )
    .order_by(MESSAGES.c.id)
    .limit(1)
)
_MESSAGE = (
    select(*_PENDING_COLUMNS)
    .join_from(*_WITH_CONVERSATION)
    .where(MESSAGES.c.id == bindparam("b_message"))
)


def _pending_of(row: Any) -> PendingMessage:
    return PendingMessage(
        message_id=int(row.id),
        text=row.text,
        kind=row.kind,
        conversation_id=int(row.conversation_id),
        channel=row.channel,
        owner=row.owner,
        visibility=Visibility(row.visibility),
        accepted_at=row.created_at,
        handback_owed=row.handback_owed,
    )


def lease(
    connection: Connection, conversation_id: int, worker_id: str, now: datetime, until: datetime
) -> bool:
    """Leases the conversation to ``worker_id`` until ``until`` if it is free; whether it did."""
    taken = connection.execute(
        _LEASE,
        {"b_conversation": conversation_id, "b_now": now, "b_worker": worker_id, "b_until": until},
    )
    return taken.rowcount == 1


def renew_all(
    connection: Connection, conversation_ids: Sequence[int], worker_id: str, until: datetime
) -> None:
    """Extends ``worker_id``'s leases of these conversations (those it still holds)."""
    connection.execute(
        _RENEW_MANY,
        {"b_conversations": list(conversation_ids), "b_worker": worker_id, "b_until": until},
    )


def claim_waiting(
    connection: Connection,
    worker_id: str,
    now: datetime,
    until: datetime,
    limit: int,
    busy: Sequence[int] = (),
) -> list[tuple[int, int]]:
    """Leases free conversations with pending messages, except ``busy`` ones; returns each
    with its oldest pending message's id."""
    free = _free(worker_id, now)
    candidates = connection.execute(
        select(MESSAGES.c.conversation_id, func.min(MESSAGES.c.id))
        .join_from(*_WITH_CONVERSATION)
        .where(
            MESSAGES.c.direction == Direction.IN,
            MESSAGES.c.status == InboundStatus.PENDING,
            free,
            MESSAGES.c.conversation_id.notin_(list(busy)),
        )
        .group_by(MESSAGES.c.conversation_id)
        .order_by(MESSAGES.c.conversation_id)
        .limit(limit)
    ).all()
    return [
        (int(conversation_id), int(first))
        for conversation_id, first in candidates
        if lease(connection, conversation_id, worker_id, now, until)
    ]


def oldest_pending(connection: Connection, conversation_id: int) -> PendingMessage | None:
    """The conversation's oldest customer message not yet handled, if any."""
    row = connection.execute(_OLDEST_PENDING, {"b_conversation": conversation_id}).first()
    return _pending_of(row) if row is not None else None


def pending_message(connection: Connection, message_id: int) -> PendingMessage | None:
    """A stored customer message, if it is still waiting."""
    row = connection.execute(_MESSAGE, {"b_message": message_id}).first()
    if row is None or row.status == InboundStatus.DONE:
        return None
    return _pending_of(row)


def next_pending(
    connection: Connection, conversation_id: int, worker_id: str, lease_until: datetime
) -> PendingMessage | None:
    """The oldest pending message, renewing ``worker_id``'s lease; when there is none, or
    the lease was lost, None (and the lease is released in the same transaction)."""
    pending = oldest_pending(connection, conversation_id)
    mine = {"b_conversation": conversation_id, "b_worker": worker_id}
    if pending is None:
        connection.execute(_RELEASE, mine)
        return None
    renewed = connection.execute(_RENEW, {**mine, "b_until": lease_until})
    return pending if renewed.rowcount == 1 else None
