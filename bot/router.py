"""The one place that decides who speaks in a conversation: the bot, the queue, or an agent.

Every customer message is stored before its channel acknowledges it
(:meth:`ConversationRouter.accept`), and handled later, in order, by
:meth:`ConversationRouter.handle`:

* the bot owns the conversation: the message goes to the assistant; its
  replies go to the outbox (public or private as the assistant marked them);
  a handover, or an assistant that does not answer, moves the conversation to
  the queue with a ticket that carries the reason and the context;
* the queue or an agent owns it: the bot says nothing and the message is
  kept for the agent (and, with the Slack desk, posted to the ticket's thread).

Database work is synchronous SQLAlchemy; a slow commit must never stall the
event loop. A message costs two transactions on its way through: the one that
stores it (and leases its conversation, and reads what handling it needs), and
the one that records the assistant's turn (and claims the replies for sending,
and finds the conversation's next message). Both go through
:func:`bot.store.db.run_transaction`: on the event loop while SQLite's write
lock is free (cheaper than two thread hops), else in a worker thread; other
database work runs in worker threads. The hot path uses plain SQL statements
(SQLAlchemy Core) on the session's connection; the rare paths (handover,
tickets, the desk) use the ORM in the same transaction.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, DateTime, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import live
from bot.assistant import Assistant, AssistantRefused, AssistantUnavailable, BotMessage, Turn
from bot.brand import Brand, load_brand
from bot.channels.base import InboundMessage
from bot.contract import HandoverReason, Visibility
from bot.own_answers import OwnAnswer, own_answer
from bot.privacy import PUBLIC_REPLY_KINDS, find_personal_data
from bot.store.db import run_transaction
from bot.store.models import (
    Author,
    Conversation,
    Cursor,
    Direction,
    InboundStatus,
    Message,
    OutboxStatus,
    Owner,
    Priority,
    Ticket,
    TicketStatus,
)
from bot.store.records import (
    CONVERSATIONS,
    CUSTOMERS,
    MESSAGES,
    OUTBOX,
    Outgoing,
    audit,
    conversation_id_for,
    customer_id_for,
    enqueue,
    store_cursor,
    touch_conversation,
    utcnow,
)

logger = logging.getLogger(__name__)

TRANSCRIPT_TURNS = 12
NLU_TURNS = 6


class Desk(Protocol):
    """What the router tells the agents' desk (bot/desk): optional."""

    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """A new handover: show it to the agents (inside the caller's transaction)."""

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        """The customer wrote while a person owns the conversation."""


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

    @property
    def rasa_sender_id(self) -> str:
        """The conversation's id at the assistant (as :attr:`Conversation.rasa_sender_id`)."""
        return f"{self.channel}-{self.conversation_id}"


@dataclass(frozen=True)
class Accepted:
    """Result of storing a batch: the new message ids, how many were already known, the
    conversations this worker leased on the way (each with its oldest pending message),
    whether a new message's conversation could not be leased here, and how many messages
    the store refused and were set aside (bot/intake.py)."""

    new_ids: list[int]
    duplicates: int
    leased: list[PendingMessage] = field(default_factory=list)
    unleased: bool = False
    set_aside: int = 0


@dataclass(frozen=True)
class Handled:
    """What handling a message queued: for which channels, and the customer's replies
    that this worker already claimed for sending (so they go out without another look).

    ``ready``: nothing queued before the claimed replies on their channel is still
    unsent, so they may go out at once, in order. ``looked_ahead``: the transaction
    also renewed the conversation's lease and found its next message (``next``;
    None when there is none and the lease was released, or the lease was lost).
    """

    channels: frozenset[str] = frozenset()
    claimed: tuple[Outgoing, ...] = ()
    ready: bool = False
    looked_ahead: bool = False
    next: PendingMessage | None = None


NOTHING = Handled()


@dataclass(frozen=True)
class _Target:
    """Where a conversation's replies go (from a conversation row or object)."""

    id: int
    channel: str
    place: str
    visibility: str
    customer: str  # the customer's platform id
    reply_to: str | None

    @classmethod
    def of(cls, conversation: Conversation) -> _Target:
        return cls(
            id=conversation.id,
            channel=conversation.channel,
            place=conversation.place,
            visibility=conversation.visibility,
            customer=conversation.customer.platform_user_id,
            reply_to=conversation.reply_to_platform_id,
        )


# The hot path's statements, built once (see bot/store/records.py).
_PENDING_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.text,
    MESSAGES.c.kind,
    MESSAGES.c.status,
    MESSAGES.c.conversation_id,
    CONVERSATIONS.c.channel,
    CONVERSATIONS.c.owner,
    CONVERSATIONS.c.visibility,
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
_KNOWN = select(MESSAGES.c.id).where(
    MESSAGES.c.channel == bindparam("b_channel"),
    MESSAGES.c.direction == Direction.IN,
    MESSAGES.c.platform_message_id == bindparam("b_platform_id"),
)
_INSERT_MESSAGE = insert(MESSAGES)
_WORKER = bindparam("b_worker")
_LEASE_UNTIL = bindparam("b_until", type_=DateTime)
_LEASE = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.id == bindparam("b_conversation"),
        or_(
            CONVERSATIONS.c.lease_owner.is_(None),
            CONVERSATIONS.c.lease_expires_at < bindparam("b_now", type_=DateTime),
            CONVERSATIONS.c.lease_owner == _WORKER,
        ),
    )
    .values(lease_owner=_WORKER, lease_expires_at=_LEASE_UNTIL)
)
_MINE = update(CONVERSATIONS).where(
    CONVERSATIONS.c.id == bindparam("b_conversation"), CONVERSATIONS.c.lease_owner == _WORKER
)
_RENEW = _MINE.values(lease_expires_at=_LEASE_UNTIL)
_RELEASE = _MINE.values(lease_owner=None, lease_expires_at=None)
_FINISH = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_message"), MESSAGES.c.status == InboundStatus.PENDING)
    .values(status=InboundStatus.DONE, handled_at=bindparam("b_now", type_=DateTime))
)
_FINISH_TURN = _FINISH.values(
    intent=bindparam("b_intent"),
    confidence=bindparam("b_confidence"),
    # None is SQL NULL, as the ORM leaves it.
    entities=bindparam("b_entities", type_=JSON(none_as_null=True)),
)
_TARGET = (
    select(
        CONVERSATIONS.c.place,
        CONVERSATIONS.c.visibility,
        CONVERSATIONS.c.reply_to_platform_id,
        CUSTOMERS.c.platform_user_id,
    )
    .join_from(CONVERSATIONS, CUSTOMERS, CONVERSATIONS.c.customer_id == CUSTOMERS.c.id)
    .where(CONVERSATIONS.c.id == bindparam("b_conversation"))
)
_UNSENT_BEFORE = (
    select(OUTBOX.c.id)
    .where(
        OUTBOX.c.conversation_id == bindparam("b_conversation"),
        OUTBOX.c.channel == bindparam("b_channel"),
        OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        OUTBOX.c.id < bindparam("b_before"),
    )
    .limit(1)
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
    )


def _unavailable(error: str) -> OwnAnswer:
    """The assistant did not answer this message: a person will."""
    return OwnAnswer("bot_unavailable", HandoverReason.BOT_UNAVAILABLE, error)


def oldest_pending(connection: Connection, conversation_id: int) -> PendingMessage | None:
    """The conversation's oldest customer message not yet handled, if any."""
    row = connection.execute(_OLDEST_PENDING, {"b_conversation": conversation_id}).first()
    return _pending_of(row) if row is not None else None


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


#: How many handled message ids a router remembers (see ConversationRouter._recent).
RECENT_MESSAGES = 4096


class ConversationRouter:
    """Stores customer messages and routes each to the bot or to the people."""

    def __init__(
        self,
        sessions: sessionmaker,
        assistant: Assistant,
        desk: Desk | None = None,
        brand: Brand | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        lease_seconds: float = 15.0,
        reads: sessionmaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions  # read-only work: never waits for a writer
        self.assistant = assistant
        self.desk = desk
        self.brand = brand or load_brand()
        self.clock = clock
        # With a worker id, accepting a message also leases its conversation to
        # this worker when it is free, so handling starts without another query;
        # and finishing a message looks for the next one in the same transaction.
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        # Messages this process is handling or has just handled. A message
        # carried from the accepting transaction is not read again before the
        # assistant sees it; when the poll got to it first (between that
        # transaction's commit and the hand-over), the carried copy is stale.
        # Recording stays exactly once either way (see _finish); this keeps
        # the assistant from seeing the message twice.
        self._in_hand: set[int] = set()
        self._recent: collections.deque[int] = collections.deque(maxlen=RECENT_MESSAGES)
        self._recent_set: set[int] = set()

    # ------------------------------------------------------------ accepting
    def accept_sync(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None = None
    ) -> Accepted:
        """Stores messages (and moves a channel's read cursor) in one transaction.

        A message already stored (same channel and platform id) is skipped, so
        a platform that delivers the same update again gets no second answer.
        """
        for attempt in range(3):
            try:
                return self._accept_once(messages, cursor)
            except IntegrityError:
                # Another worker created the same customer or conversation at
                # the same moment; a new transaction sees it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _accept_once(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None
    ) -> Accepted:
        now = self.clock()
        new_ids: list[int] = []
        conversations: list[int] = []  # of the new messages, in order of arrival
        duplicates = 0
        with self.sessions.begin() as session:
            connection = session.connection()
            for inbound in messages:
                stored = self._store(connection, inbound, now)
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
        leased = []
        for conversation_id in conversations:
            taken = connection.execute(
                _LEASE,
                {
                    "b_conversation": conversation_id,
                    "b_now": now,
                    "b_worker": self.worker_id,
                    "b_until": now + self.lease,
                },
            )
            if taken.rowcount != 1:
                continue  # another worker is handling it; it will see the message
            # Read after the lease: the conversation's row is ours until commit, so
            # its owner is current; the message may be an older one still pending.
            pending = oldest_pending(connection, conversation_id)
            if pending is not None:
                leased.append(pending)
        return leased

    async def accept(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None = None
    ) -> Accepted:
        """:meth:`accept_sync` without stalling the event loop (see run_transaction)."""
        return await run_transaction(self.sessions, self.accept_sync, messages, cursor)

    def _store(
        self, connection: Connection, inbound: InboundMessage, now: datetime
    ) -> tuple[int, int] | None:
        """Stores one message; returns its id and its conversation's, or None if known."""
        known = connection.scalar(
            _KNOWN, {"b_channel": inbound.channel, "b_platform_id": inbound.platform_message_id}
        )
        if known is not None:
            return None
        customer_id = customer_id_for(connection, inbound.channel, inbound.customer, now)
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
        # unique key fails the insert, and accept_sync retries the batch. The
        # message goes in before the conversation's row is updated: a transaction
        # that finishes a message updates the message, then the conversation (its
        # lease), and an insert of the same key waits for it; in the other order,
        # on PostgreSQL, the two would deadlock.
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

    def cursor(self, channel: str, name: str) -> str | None:
        """A channel's stored read position."""
        with self.reads() as session:
            cursor = session.get(Cursor, (channel, name))
            return cursor.value if cursor else None

    # ------------------------------------------------------------- handling
    def _pending(self, message_id: int) -> PendingMessage | None:
        """A stored message, if it is still waiting (read back when not carried)."""
        with self.reads() as session:
            row = session.connection().execute(_MESSAGE, {"b_message": message_id}).first()
        if row is None or row.status == InboundStatus.DONE:
            return None
        return _pending_of(row)

    async def handle(self, message: int | PendingMessage, look_ahead: bool = False) -> Handled:
        """Handles one stored customer message, exactly once; says what it queued.

        ``message`` is its id, or the message as read when its conversation was
        leased. With ``look_ahead`` (and a worker id), the transaction that
        records the outcome also renews the lease and finds the next message.
        """
        key = message.message_id if isinstance(message, PendingMessage) else message
        if key in self._in_hand or key in self._recent_set:
            return NOTHING
        self._in_hand.add(key)
        try:
            handled = await self._handle(message, look_ahead)
        finally:
            self._in_hand.discard(key)
        # Only once handled: a failure leaves the message pending for a retry.
        self._remember(key)
        return handled

    async def give_up(self, message: int | PendingMessage, error: str) -> Handled | None:
        """Hands a message whose handling keeps failing to a person, as when the assistant
        is down; None if it is not the bot's to hand over (it stays pending)."""
        if isinstance(message, PendingMessage):
            pending: PendingMessage | None = message
        else:
            pending = await asyncio.to_thread(self._pending, message)
        if pending is None or pending.owner != Owner.BOT:
            return None
        handled = await run_transaction(
            self.sessions, self._answer_alone, pending, _unavailable(error), False
        )
        self._remember(pending.message_id)
        return handled

    def _remember(self, message_id: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(message_id)
        self._recent_set.add(message_id)

    async def _handle(self, message: int | PendingMessage, look_ahead: bool) -> Handled:
        if isinstance(message, PendingMessage):
            pending: PendingMessage | None = message
        else:
            pending = await asyncio.to_thread(self._pending, message)
        if pending is None:
            return NOTHING
        ahead = look_ahead and self.worker_id is not None
        if pending.owner != Owner.BOT:
            return await run_transaction(self.sessions, self._keep_for_agent, pending, ahead)
        answer = own_answer(pending.kind, pending.text)  # what the assistant cannot take
        if answer is None:
            try:
                turn = await self.assistant.turn(
                    pending.rasa_sender_id,
                    pending.text,
                    message_id=str(pending.message_id),
                    metadata={"visibility": pending.visibility.value, "channel": pending.channel},
                )
            except AssistantRefused as error:  # this message's problem: a person reads it
                answer = OwnAnswer("bot_unavailable", HandoverReason.UNREADABLE, str(error))
            except AssistantUnavailable as error:
                answer = _unavailable(str(error))
            else:
                return await run_transaction(self.sessions, self._record_turn, pending, turn, ahead)
        return await run_transaction(self.sessions, self._answer_alone, pending, answer, ahead)

    def _finish(
        self,
        connection: Connection,
        pending: PendingMessage,
        now: datetime,
        turn: Turn | None = None,
    ) -> _Target | None:
        """Marks the message done (with what the assistant understood); returns where its
        replies go, or None if someone handled it meanwhile."""
        values: dict[str, Any] = {"b_message": pending.message_id, "b_now": now}
        if turn is not None:
            values["b_intent"], values["b_confidence"] = turn.best_guess
            values["b_entities"] = turn.entities or None
        # One statement decides who handles it: the row lock (PostgreSQL) or the
        # write lock (SQLite) makes a concurrent second attempt find it done.
        finished = connection.execute(_FINISH if turn is None else _FINISH_TURN, values)
        if finished.rowcount != 1:
            return None
        row = connection.execute(_TARGET, {"b_conversation": pending.conversation_id}).one()
        return _Target(
            id=pending.conversation_id,
            channel=pending.channel,
            place=row.place,
            visibility=row.visibility,
            customer=row.platform_user_id,
            reply_to=row.reply_to_platform_id,
        )

    def _desk_channels(self) -> frozenset[str]:
        return frozenset({"slack"}) if self.desk is not None else frozenset()

    def _handled(
        self,
        connection: Connection,
        pending: PendingMessage,
        channels: frozenset[str],
        items: list[Outgoing],
        now: datetime,
        look_ahead: bool,
    ) -> Handled:
        """The outcome, at the end of the recording transaction."""
        if self.worker_id is None:
            items = []  # queued, not claimed: the outbox claims them itself
        ready = False
        if items:
            # The new replies may go out at once unless something queued before them
            # on the same channel is still unsent (a retry waiting for its time).
            earlier = connection.scalar(
                _UNSENT_BEFORE,
                {
                    "b_conversation": pending.conversation_id,
                    "b_channel": pending.channel,
                    "b_before": items[0].id,
                },
            )
            ready = earlier is None
        if not look_ahead:
            return Handled(channels, tuple(items), ready)
        assert self.worker_id is not None
        following = next_pending(
            connection, pending.conversation_id, self.worker_id, now + self.lease
        )
        return Handled(channels, tuple(items), ready, looked_ahead=True, next=following)

    def _record_turn(self, pending: PendingMessage, turn: Turn, look_ahead: bool) -> Handled:
        now = self.clock()
        items: list[Outgoing] = []
        channels = frozenset({pending.channel})
        with self.sessions.begin() as session:
            connection = session.connection()
            target = self._finish(connection, pending, now, turn)
            if target is None:
                return NOTHING
            for index, bot_message in enumerate(turn.texts):
                items += self._reply(session, target, pending.message_id, index, bot_message, now)
            handover = turn.handover
            if handover is not None:
                conversation = session.get(Conversation, pending.conversation_id)
                if conversation is not None and conversation.owner == Owner.BOT:
                    reason = str(handover.get("reason") or HandoverReason.REQUESTED.value)
                    self._hand_over(session, conversation, reason, now, turn=turn, payload=handover)
                    channels |= self._desk_channels()
            return self._handled(connection, pending, channels, items, now, look_ahead)

    def _answer_alone(
        self, pending: PendingMessage, answer: OwnAnswer, look_ahead: bool
    ) -> Handled:
        """The gateway's own reply instead of the assistant's, and the handover it asks for
        (unless a person owns the conversation already, since it was read)."""
        now = self.clock()
        with self.sessions.begin() as session:
            connection = session.connection()
            target = self._finish(connection, pending, now)
            if target is None:
                return NOTHING
            items = self._system_reply(session, target, pending.message_id, answer.reply, now)
            channels = frozenset({pending.channel})
            if answer.handover is not None:
                conversation = session.get(Conversation, pending.conversation_id)
                assert conversation is not None
                if conversation.owner == Owner.BOT:
                    reason = answer.handover.value
                    self._hand_over(session, conversation, reason, now, error=answer.why)
                    channels |= self._desk_channels()
            return self._handled(connection, pending, channels, items, now, look_ahead)

    def _keep_for_agent(self, pending: PendingMessage, look_ahead: bool) -> Handled:
        now = self.clock()
        with self.sessions.begin() as session:
            connection = session.connection()
            if self._finish(connection, pending, now) is None:
                return NOTHING
            ticket = self.open_ticket(session, pending.conversation_id)
            if ticket is not None:
                ticket.last_customer_at = now
                if self.desk is not None:
                    message = session.get(Message, pending.message_id)
                    assert message is not None
                    self.desk.customer_wrote(session, ticket, message, now)
            audit(
                session,
                "gateway",
                "kept_for_agent",
                now,
                pending.conversation_id,
                ticket.id if ticket else None,
                message_id=pending.message_id,
            )
            return self._handled(connection, pending, self._desk_channels(), [], now, look_ahead)

    # --------------------------------------------------------------- replies
    def _reply(
        self,
        session: Session,
        target: _Target,
        inbound_id: int,
        index: int,
        bot_message: BotMessage,
        now: datetime,
    ) -> list[Outgoing]:
        text = bot_message.text or ""
        invite = bot_message.invite_private
        if target.visibility == Visibility.PUBLIC.value:
            leaks = [f.kind.value for f in find_personal_data(text, PUBLIC_REPLY_KINDS)]
            if bot_message.private or leaks:
                # The last line of defence: a public reply never carries personal data.
                audit(
                    session,
                    "gateway",
                    "withheld_private_reply",
                    now,
                    target.id,
                    response=bot_message.response,
                    marked_private=bot_message.private,
                    found=leaks,
                )
                text = self.brand.message("public_privacy_fallback")
                invite = True
        return self._outgoing(
            session.connection(),
            target,
            f"reply:{inbound_id}:{index}",
            Author.BOT,
            text,
            now,
            invite_private=invite,
            response=bot_message.response,
            claim=True,
        )

    def _system_reply(
        self,
        session: Session,
        target: _Target,
        inbound_id: int,
        name: str,
        now: datetime,
    ) -> list[Outgoing]:
        return self._outgoing(
            session.connection(),
            target,
            f"system:{inbound_id}:{name}",
            Author.SYSTEM,
            self.brand.message(name),
            now,
            claim=True,
        )

    def _outgoing(
        self,
        connection: Connection,
        target: _Target,
        key: str,
        author: Author,
        text: str,
        now: datetime,
        invite_private: bool = False,
        response: str | None = None,
        agent_id: str | None = None,
        claim: bool = False,
    ) -> list[Outgoing]:
        """Stores an outgoing message and queues it; with ``claim`` (and a worker id) the
        outbox item is claimed for this worker, to be sent as soon as the caller commits."""
        outbound = connection.execute(
            _INSERT_MESSAGE,
            {
                "conversation_id": target.id,
                "channel": target.channel,
                "direction": Direction.OUT,
                "author": author,
                "kind": "text",
                "text": text,
                "agent_id": agent_id,
                "created_at": now,
            },
        )
        payload: dict[str, Any] = {
            "text": text,
            "place": target.place,
            "visibility": target.visibility,
            "customer": target.customer,
            "reply_to": target.reply_to,
            "invite_private": invite_private,
            "response": response,
        }
        item = enqueue(
            connection,
            key,
            target.id,
            target.channel,
            payload,
            now,
            int(outbound.inserted_primary_key[0]),
            claimed_by=self.worker_id if claim else None,
        )
        return [item] if item is not None else []

    def send_text(
        self,
        session: Session,
        conversation: Conversation,
        key: str,
        author: Author,
        text: str,
        now: datetime,
        agent_id: str | None = None,
    ) -> None:
        """Queues a message to the customer from an agent or the bot (the desk uses this,
        in its own transaction); ``key`` makes queuing it twice harmless."""
        self._outgoing(
            session.connection(),
            _Target.of(conversation),
            key,
            author,
            text,
            now,
            agent_id=agent_id,
        )

    # -------------------------------------------------------------- handover
    def _hand_over(
        self,
        session: Session,
        conversation: Conversation,
        reason: str,
        now: datetime,
        turn: Turn | None = None,
        payload: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Ticket:
        conversation.owner = Owner.QUEUE
        conversation.updated_at = now
        session.flush()
        live.HANDOVERS.labels(reason).inc()
        ticket = Ticket(
            conversation_id=conversation.id,
            reason=reason,
            status=TicketStatus.OPEN,
            priority=self._priority(reason),
            context=self._context(session, conversation, turn, payload, error),
            created_at=now,
            last_customer_at=now,
        )
        session.add(ticket)
        session.flush()
        audit(session, "bot", "handed_over", now, conversation.id, ticket.id, reason=reason)
        if self.desk is not None:
            self.desk.ticket_opened(session, ticket, now)
        return ticket

    @staticmethod
    def _priority(reason: str) -> Priority:
        if reason in (HandoverReason.COMPLAINT.value, HandoverReason.BOT_UNAVAILABLE.value):
            return Priority.HIGH
        return Priority.NORMAL

    @staticmethod
    def _context(
        session: Session,
        conversation: Conversation,
        turn: Turn | None,
        payload: dict[str, Any] | None,
        error: str | None,
    ) -> dict[str, Any]:
        """What an agent needs: transcript, what the bot understood turn by turn, slots."""
        recent = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.id.desc())
            .limit(TRANSCRIPT_TURNS)
        ).all()
        transcript = [
            {
                "author": m.author.value,
                "text": m.text,
                "kind": m.kind,
                "at": m.created_at.isoformat(),
            }
            for m in reversed(recent)
        ]
        understood = [
            {"text": m.text, "intent": m.intent, "confidence": m.confidence, "entities": m.entities}
            for m in reversed(recent)
            if m.direction == Direction.IN and m.intent
        ][-NLU_TURNS:]
        return {
            "transcript": transcript,
            "understood": understood,
            "slots": dict(turn.slots) if turn else {},
            "handover": payload,
            "error": error,
        }

    @staticmethod
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
