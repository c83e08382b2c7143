"""Where the channels hand over what they read: stored, or set aside, never stuck.

A channel gives a batch of messages with its read cursor (Telegram's offset,
X's newest ids), and the items it could not read. Normally the batch and the
cursor are stored in one transaction (:meth:`Intake.accept`), which also
leases the new messages' conversations to this worker when they are free
(bot/conversation/leases.py); then the inbox is woken, here and only here,
so no channel repeats the pair "accept, then wake".

A message already stored (same channel and platform id) is skipped, so a
platform that delivers the same update again gets no second answer.

When the store refuses the batch there are two cases, and they need opposite
answers:

* **The store is failing** (down, full, locked, refusing every message): the
  batch must be fetched again later, so nothing is set aside and the cursor
  does not move: :class:`StoreUnavailable`, the channel retries.
* **One message is poisoned** (the store refuses that message and no other):
  retrying it can never succeed, and every message after it would wait
  behind it. It is set aside, and the rest stored.

They are told apart by asking the store: a probe message is written in a
transaction that is then rolled back. If the probe goes in, the store takes
messages, and a message it refuses (twice) is poisoned. "Set aside" means an
audit event ``set_aside`` with the raw payload and the reason, where an
operator can find it and replay it; items that cannot be read are recorded
the same way. Nothing set aside is answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.contract import Visibility
from bot.conversation.leases import PendingMessage, lease, oldest_pending
from bot.messages import CustomerRef, InboundMessage, Unreadable
from bot.store.db import run_transaction
from bot.store.models import Author, Direction, InboundStatus
from bot.store.records import (
    MESSAGES,
    audit,
    conversation_id_for,
    customer_id_for,
    read_cursor,
    store_cursor,
    touch_conversation,
    utcnow,
)

logger = logging.getLogger(__name__)

SET_ASIDE = "set_aside"
#: The raw payload kept with a set-aside item, at most (a platform's update is far smaller).
RAW_CHARS = 65_536
_PROBE = "probe"

_KNOWN = select(MESSAGES.c.id).where(
    MESSAGES.c.channel == bindparam("b_channel"),
    MESSAGES.c.direction == Direction.IN,
    MESSAGES.c.platform_message_id == bindparam("b_platform_id"),
)
_INSERT_MESSAGE = insert(MESSAGES)


class StoreUnavailable(Exception):
    """The store takes no messages now: nothing was stored; read the batch again later."""


@dataclass(frozen=True)
class Accepted:
    """Result of storing a batch: the new message ids, how many were already known, the
    conversations this worker leased on the way (each with its oldest pending message),
    whether a new message's conversation could not be leased here, and how many messages
    the store refused and were set aside."""

    new_ids: list[int]
    duplicates: int
    leased: list[PendingMessage] = field(default_factory=list)
    unleased: bool = False
    set_aside: int = 0


def store_message(
    connection: Connection, inbound: InboundMessage, now: datetime
) -> tuple[int, int] | None:
    """Stores one customer message (with its customer and conversation, created if new);
    returns its id and its conversation's, or None if it is stored already."""
    known = connection.scalar(
        _KNOWN, {"b_channel": inbound.channel, "b_platform_id": inbound.platform_message_id}
    )
    if known is not None:
        return None
    customer = inbound.customer
    customer_id = customer_id_for(
        connection,
        inbound.channel,
        customer.platform_user_id,
        now,
        handle=customer.handle,
        display_name=customer.display_name,
    )
    conversation_id, created = conversation_id_for(
        connection,
        inbound.channel,
        inbound.place,
        inbound.visibility.value,
        customer_id,
        now,
        reply_to=inbound.reply_to_platform_id,
    )
    # A concurrent delivery of the same message may win the race: then the
    # unique key fails the insert, and the batch is retried. The message goes
    # in before the conversation's row is updated: a transaction that finishes
    # a message updates the message, then the conversation (its lease), and an
    # insert of the same key waits for it; in the other order, on PostgreSQL,
    # the two would deadlock.
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "channel": inbound.channel,
        "direction": Direction.IN,
        "author": Author.CUSTOMER,
        "kind": inbound.kind,
        "text": inbound.text,
        "platform_message_id": inbound.platform_message_id,
        "status": InboundStatus.PENDING,
        "created_at": now,
    }
    if inbound.raw:
        values["raw"] = inbound.raw  # else SQL NULL
    stored = connection.execute(_INSERT_MESSAGE, values)
    if not created:
        touch_conversation(connection, conversation_id, now, inbound.reply_to_platform_id)
    return int(stored.inserted_primary_key[0]), conversation_id


class Intake:
    """Stores what channels read, then wakes the inbox; sets aside what can never be
    stored or read."""

    def __init__(
        self,
        sessions: sessionmaker,
        wake: Callable[[Accepted], None],
        *,
        worker_id: str | None = None,
        lease_seconds: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        reads: sessionmaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions  # read-only work: never waits for a writer
        self.wake = wake
        # With a worker id, accepting a message also leases its conversation to
        # this worker when it is free, so handling starts without another query.
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock

    async def cursor(self, channel: str, name: str) -> str | None:
        """A channel's stored read position (read in a thread: never on the event loop)."""
        return await asyncio.to_thread(self._read_cursor, channel, name)

    def _read_cursor(self, channel: str, name: str) -> str | None:
        with self.reads() as session:
            return read_cursor(session, channel, name)

    async def accept(
        self,
        messages: Sequence[InboundMessage],
        cursor: tuple[str, str, str] | None = None,
        unreadable: Sequence[Unreadable] = (),
    ) -> Accepted:
        """Stores ``messages`` with ``cursor`` and records ``unreadable``; then hands the
        new messages to the inbox. Raises :class:`StoreUnavailable` (having stored
        nothing of the batch, cursor included) when the store is failing."""
        if unreadable:
            # Recorded before the cursor moves past them: at worst twice, never lost.
            await asyncio.to_thread(self._set_aside, unreadable)
        try:
            accepted = await self.store(messages, cursor)
        except Exception as error:
            if not messages:
                raise StoreUnavailable(_reason(error)) from error
            accepted = await self._one_by_one(messages, cursor, error)
        self.wake(accepted)
        return accepted

    async def store(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None = None
    ) -> Accepted:
        """Stores messages (and moves a channel's read cursor) in one transaction, without
        stalling the event loop (see run_transaction); does not wake the inbox."""
        return await run_transaction(self.sessions, self._store_batch, messages, cursor)

    def _store_batch(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None
    ) -> Accepted:
        for attempt in range(3):
            try:
                return self._store_once(messages, cursor)
            except IntegrityError:
                # Another worker created the same customer or conversation at
                # the same moment; a new transaction sees it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_once(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None
    ) -> Accepted:
        now = self.clock()
        new_ids: list[int] = []
        conversations: list[int] = []  # of the new messages, in order of arrival
        duplicates = 0
        with self.sessions.begin() as session:
            connection = session.connection()
            for inbound in messages:
                stored = store_message(connection, inbound, now)
                if stored is None:
                    duplicates += 1
                    continue
                message_id, conversation_id = stored
                new_ids.append(message_id)
                if conversation_id not in conversations:
                    conversations.append(conversation_id)
            if cursor is not None:
                store_cursor(connection, *cursor, now=now)
            leased = self._lease(connection, conversations, now) if self.worker_id else []
        return Accepted(new_ids, duplicates, leased, unleased=len(leased) < len(conversations))

    def _lease(
        self, connection: Connection, conversations: list[int], now: datetime
    ) -> list[PendingMessage]:
        assert self.worker_id is not None
        leased = []
        for conversation_id in conversations:
            if not lease(connection, conversation_id, self.worker_id, now, now + self.lease):
                continue  # another worker is handling it; it will see the message
            # Read after the lease: the conversation's row is ours until commit, so
            # its owner is current; the message may be an older one still pending.
            pending = oldest_pending(connection, conversation_id)
            if pending is not None:
                leased.append(pending)
        return leased

    async def _one_by_one(
        self,
        messages: Sequence[InboundMessage],
        cursor: tuple[str, str, str] | None,
        error: Exception,
    ) -> Accepted:
        if not await asyncio.to_thread(self._takes_messages):
            logger.warning("intake: the store takes no messages: %s", _reason(error))
            raise StoreUnavailable(_reason(error)) from error
        parts: list[Accepted] = []
        refused: list[Unreadable] = []
        for message in messages:
            for attempt in (1, 2):  # a second try: the first may have met a passing failure
                try:
                    parts.append(await self.store([message]))
                    break
                except Exception as failure:
                    if attempt == 2:
                        refused.append(_refused(message, failure))
        if refused:
            await asyncio.to_thread(self._set_aside, refused)
        if cursor is not None:
            parts.append(await self.store([], cursor))
        return Accepted(
            new_ids=[i for part in parts for i in part.new_ids],
            duplicates=sum(part.duplicates for part in parts),
            leased=[p for part in parts for p in part.leased],
            unleased=any(part.unleased for part in parts),
            set_aside=len(refused),
        )

    def _takes_messages(self) -> bool:
        """Whether the store takes a message at all: a probe message is written (with its
        customer and conversation) in a transaction that is rolled back."""
        key = f"{_PROBE}-{uuid.uuid4().hex}"
        probe = InboundMessage(
            channel=_PROBE,
            platform_message_id=key,
            place=key,
            visibility=Visibility.PRIVATE,
            customer=CustomerRef(key),
            text="is my flight on time?",
        )
        try:
            with self.sessions() as session:
                session.begin()
                store_message(session.connection(), probe, self.clock())
                session.rollback()
            return True
        except Exception as error:
            logger.warning("intake: the store refused a probe message: %s", _reason(error))
            return False

    def _set_aside(self, items: Sequence[Unreadable]) -> None:
        """Records the items in the audit trail; their payload as JSON text if the store
        will not take it as a JSON value (it may be the payload the store refuses)."""
        for attempt in (1, 2):
            try:
                with self.sessions.begin() as session:
                    for item in items:
                        raw = item.raw if attempt == 1 else _as_text(item.raw)
                        audit(
                            session,
                            "gateway",
                            SET_ASIDE,
                            self.clock(),
                            channel=item.channel,
                            platform_id=item.platform_id,
                            why=item.why,
                            raw=raw,
                        )
                break
            except Exception as error:
                if attempt == 2:
                    raise StoreUnavailable(_reason(error)) from error
        for item in items:
            logger.warning(
                "intake: %s item %s set aside: %s", item.channel, item.platform_id, item.why
            )


def _refused(message: InboundMessage, error: Exception) -> Unreadable:
    raw: Any = message.raw or {
        "place": message.place,
        "customer": message.customer.platform_user_id,
        "text": message.text,
        "kind": message.kind,
    }
    why = f"the store refused it: {_reason(error)}"
    return Unreadable(message.channel, message.platform_message_id, raw, why)


def _as_text(raw: Any) -> str:
    """The payload as ASCII JSON text (escapes for NUL and lone surrogates), capped."""
    try:
        text = json.dumps(raw, ensure_ascii=True, default=repr)
    except (TypeError, ValueError):
        text = ascii(raw)
    return text[:RAW_CHARS]


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]
