"""Where the channels hand over what they read: stored, or set aside, never stuck.

A channel gives a batch of messages with its read cursor (Telegram's offset,
X's newest ids), and the items it could not read. Normally the batch and the
cursor are stored in one transaction (:meth:`ConversationRouter.accept`).

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
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from bot.channels.base import CustomerRef, InboundMessage, Unreadable
from bot.router import Accepted, ConversationRouter
from bot.store.models import Author, Direction, InboundStatus
from bot.store.records import MESSAGES, audit, conversation_id_for, customer_id_for, utcnow

logger = logging.getLogger(__name__)

SET_ASIDE = "set_aside"
#: The raw payload kept with a set-aside item, at most (a platform's update is far smaller).
RAW_CHARS = 65_536
_PROBE = "probe"


class StoreUnavailable(Exception):
    """The store takes no messages now: nothing was stored; read the batch again later."""


class Intake:
    """Stores what channels read; sets aside what can never be stored or read."""

    def __init__(
        self,
        router: ConversationRouter,
        sessions: sessionmaker,
        wake: Callable[[Accepted], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.router = router
        self.sessions = sessions
        self.wake = wake
        self.clock = clock

    def cursor(self, channel: str, name: str) -> str | None:
        """A channel's stored read position."""
        return self.router.cursor(channel, name)

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
            accepted = await self.router.accept(messages, cursor)
        except Exception as error:
            if not messages:
                raise StoreUnavailable(_reason(error)) from error
            accepted = await self._one_by_one(messages, cursor, error)
        self.wake(accepted)
        return accepted

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
                    parts.append(await self.router.accept([message]))
                    break
                except Exception as failure:
                    if attempt == 2:
                        refused.append(_refused(message, failure))
        if refused:
            await asyncio.to_thread(self._set_aside, refused)
        if cursor is not None:
            parts.append(await self.router.accept([], cursor))
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
        now = self.clock()
        key = f"{_PROBE}-{uuid.uuid4().hex}"
        try:
            with self.sessions() as session:
                session.begin()
                connection = session.connection()
                customer = customer_id_for(connection, _PROBE, CustomerRef(key), now)
                conversation, _ = conversation_id_for(
                    connection, _PROBE, key, "private", customer, now
                )
                connection.execute(
                    insert(MESSAGES),
                    {
                        "conversation_id": conversation,
                        "channel": _PROBE,
                        "direction": Direction.IN,
                        "author": Author.CUSTOMER,
                        "kind": "text",
                        "text": "is my flight on time?",
                        "platform_message_id": key,
                        "status": InboundStatus.PENDING,
                        "created_at": now,
                    },
                )
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
