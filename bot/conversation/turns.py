"""A customer's message handled: the bot answers it, or it is kept for a person.

Every customer message is stored before its channel acknowledges it
(bot/conversation/ingest.py), and handled later, in order, by
:meth:`ConversationRouter.handle`, according to who owns the conversation
(bot/conversation/ownership.py):

* the bot owns it: the message goes to the assistant; its replies go to the
  outbox (public or private as the assistant marked them,
  bot/conversation/replies.py); a handover, or an assistant that does not
  answer, moves the conversation to the queue with a ticket that carries the
  reason and the context (bot/conversation/handover.py);
* the queue or an agent owns it: the bot says nothing and the message is
  kept for the agent (and, with a desk, posted to the ticket's thread).

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

Just over 400 lines: it is the one place where a message's fate is decided
(answer, wait for the assistant, keep for a person, rate); what each fate
does lives in the modules named above.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import Assistant, AssistantBusy, AssistantRefused, AssistantUnavailable, Turn
from bot.brand import Brand
from bot.contract import DESK_KEY, VISIBILITY_KEY, HandoverReason
from bot.conversation import handbacks, replies, unanswered, waiting
from bot.conversation.csat import Ratings
from bot.conversation.handover import Desk, hand_over, open_ticket
from bot.conversation.leases import PendingMessage, next_pending, pending_message
from bot.own_answers import OwnAnswer, own_answer
from bot.store.db import run_transaction
from bot.store.models import (
    Author,
    Conversation,
    InboundStatus,
    Message,
    OutboxStatus,
    Owner,
    Ticket,
)
from bot.store.records import MESSAGES, OUTBOX, Outgoing, audit, utcnow


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


def _unavailable(error: str) -> OwnAnswer:
    """The assistant did not answer this message: a person will."""
    return OwnAnswer("bot_unavailable", HandoverReason.BOT_UNAVAILABLE, error)


#: How many handled message ids a router remembers (see ConversationRouter._recent).
RECENT_MESSAGES = 4096


class ConversationRouter:
    """Routes each stored customer message to the bot or to the people."""

    def __init__(
        self,
        sessions: sessionmaker,
        assistant: Assistant,
        brand: Brand,
        *,
        desk: Desk | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        lease_seconds: float = 15.0,
        reads: sessionmaker | None = None,
        assistant_wait_seconds: float = 60.0,
        ratings: Ratings | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions  # read-only work: never waits for a writer
        self.assistant = assistant
        self.desk = desk
        self.ratings = ratings  # satisfaction asked after the bot resolved a request
        self.brand = brand
        self.clock = clock
        # With a worker id, the replies of a turn are claimed for this worker in
        # the transaction that records it, and finishing a message looks for the
        # next one in the same transaction.
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.assistant_wait = timedelta(seconds=assistant_wait_seconds)
        # Handovers and messages kept for agents also go to the desk's channel.
        named = desk.name if desk is not None else None
        self._desk_channels: frozenset[str] = frozenset({named} if named else ())
        # Messages this process is handling or has just handled. A message
        # carried from the accepting transaction is not read again before the
        # assistant sees it; when the poll got to it first (between that
        # transaction's commit and the hand-over), the carried copy is stale.
        # Recording stays exactly once either way (see _finish); this keeps
        # the assistant from seeing the message twice.
        self._in_hand: set[int] = set()
        self._recent: collections.deque[int] = collections.deque(maxlen=RECENT_MESSAGES)
        self._recent_set: set[int] = set()

    def _pending(self, message_id: int) -> PendingMessage | None:
        """A stored message, if it is still waiting (read back when not carried)."""
        with self.reads() as session:
            return pending_message(session.connection(), message_id)

    async def _read(self, message: int | PendingMessage) -> PendingMessage | None:
        if isinstance(message, PendingMessage):
            return message
        return await asyncio.to_thread(self._pending, message)

    async def handle(self, message: int | PendingMessage, look_ahead: bool = False) -> Handled:
        """Handles one stored customer message, exactly once; says what it queued.

        ``message`` is its id, or the message as read when its conversation was
        leased. With ``look_ahead`` (and a worker id), the transaction that
        records the outcome also renews the lease and finds the next message.
        AssistantBusy: Rasa did not start the turn, and the message may still wait.
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
        pending = await self._read(message)
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
        pending = await self._read(message)
        if pending is None:
            return NOTHING
        ahead = look_ahead and self.worker_id is not None
        if pending.owner != Owner.BOT:
            return await run_transaction(self.sessions, self._keep_for_agent, pending, ahead)
        answer = own_answer(pending.kind, pending.text)  # what the assistant cannot take
        if answer is None:
            try:
                if pending.handback_owed is not None:
                    # Given back while the assistant did not answer: it hears of it
                    # first, or it takes this message still handed over. Its greeting
                    # is not sent: its answer to this message follows.
                    await handbacks.tell(
                        self.assistant, self.sessions, pending.handback_owed, self.reads
                    )
                turn = await self.assistant.turn(
                    pending.rasa_sender_id,
                    pending.text,
                    message_id=pending.rasa_message_id,
                    metadata={
                        VISIBILITY_KEY: pending.visibility.value,
                        "channel": pending.channel,
                        DESK_KEY: self.desk is not None,
                    },
                )
            except AssistantBusy as error:  # Rasa did nothing: the message waits (bot/inbox.py)
                if self.clock() - pending.accepted_at < self.assistant_wait:
                    raise
                answer = _unavailable(str(error))
            except AssistantRefused as error:  # this message's problem: a person reads it
                answer = OwnAnswer("bot_unavailable", HandoverReason.UNREADABLE, str(error))
            except AssistantUnavailable as error:
                answer = _unavailable(str(error))
            else:
                return await run_transaction(self.sessions, self._record_turn, pending, turn, ahead)
        return await run_transaction(self.sessions, self._answer_alone, pending, answer, ahead)

    @contextmanager
    def _finishing(
        self, pending: PendingMessage, turn: Turn | None = None
    ) -> Iterator[tuple[Session, replies.Target | None, datetime]]:
        """The one transaction that records a message's outcome: it marks the message done
        (with what the assistant understood) and gives where its replies go, or None if
        someone handled it meanwhile (then the caller records nothing)."""
        now = self.clock()
        with self.sessions.begin() as session:
            connection = session.connection()
            values: dict[str, Any] = {"b_message": pending.message_id, "b_now": now}
            if turn is not None:
                values["b_intent"], values["b_confidence"] = turn.best_guess
                values["b_entities"] = turn.entities or None
            # One statement decides who handles it: the row lock (PostgreSQL) or the
            # write lock (SQLite) makes a concurrent second attempt find it done.
            finished = connection.execute(_FINISH if turn is None else _FINISH_TURN, values)
            if finished.rowcount != 1:
                yield session, None, now
                return
            to = replies.target(connection, pending.conversation_id, pending.channel)
            yield session, to, now

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
        channels = frozenset({pending.channel})
        with self._finishing(pending, turn) as (session, to, now):
            if to is None:
                return NOTHING
            items: list[Outgoing] = []
            handover = turn.handover
            # No desk, no person to promise: the bot keeps the conversation (waiting.py).
            nobody = handover is not None and self.desk is None
            for index, bot_message in enumerate(turn.texts):
                if nobody and waiting.promises_a_person(bot_message.response):
                    continue
                key = f"reply:{pending.message_id}:{index}"
                items += replies.bot_reply(
                    session, to, key, bot_message, self.brand, now, self.worker_id
                )
            if nobody:
                items += self._system_reply(session, to, pending.message_id, "no_desk", now)
            elif handover is not None:
                reason = str(handover.get("reason") or HandoverReason.REQUESTED.value)
                more = self._hand_over_if_bot(
                    session, to, pending, reason, now, turn=turn, payload=handover
                )
                if more is not None:
                    items, channels = items + more, channels | self._desk_channels
            elif self.ratings is not None:
                items += self.ratings.after_turn(
                    session, to, pending.message_id, turn.intent, now, self.worker_id
                )
            return self._handled(session.connection(), pending, channels, items, now, look_ahead)

    def _answer_alone(
        self, pending: PendingMessage, answer: OwnAnswer, look_ahead: bool
    ) -> Handled:
        """The gateway's own reply instead of the assistant's, and the handover it asks for
        (unless a person owns the conversation already, since it was read)."""
        channels = frozenset({pending.channel})
        with self._finishing(pending) as (session, to, now):
            if to is None:
                return NOTHING
            nobody = answer.handover is not None and self.desk is None
            reply = "no_desk" if nobody else answer.reply
            items = self._system_reply(session, to, pending.message_id, reply, now)
            if answer.handover is not None and not nobody:
                more = self._hand_over_if_bot(
                    session, to, pending, answer.handover.value, now, error=answer.why
                )
                if more is not None:
                    items, channels = items + more, channels | self._desk_channels
            return self._handled(session.connection(), pending, channels, items, now, look_ahead)

    def _hand_over_if_bot(
        self,
        session: Session,
        to: replies.Target,
        pending: PendingMessage,
        reason: str,
        now: datetime,
        **context: Any,
    ) -> list[Outgoing] | None:
        """Opens the ticket, unless a person owns the conversation already (since it was
        read); returns what the customer is told of the wait, None when nothing was opened."""
        conversation = session.get(Conversation, pending.conversation_id)
        if conversation is None or conversation.owner != Owner.BOT:
            return None
        ticket = hand_over(session, conversation, reason, now, self.desk, **context)
        return self._expectation(session, to, ticket, now)

    def _system_reply(
        self, session: Session, to: replies.Target, message_id: int, reply: str, now: datetime
    ) -> list[Outgoing]:
        """The gateway's own message ``reply`` (brand.yml) in answer to ``message_id``."""
        return replies.queue_text(
            session.connection(),
            to,
            f"system:{message_id}:{reply}",
            Author.SYSTEM,
            self.brand.message(reply),
            now,
            claimed_by=self.worker_id,
        )

    def _expectation(
        self, session: Session, to: replies.Target, ticket: Ticket, now: datetime
    ) -> list[Outgoing]:
        """When a person will answer, said right after the handover (waiting.py)."""
        text = waiting.handover_notice(session, self.brand, ticket, now)
        if text is None:
            return []
        return replies.queue_text(
            session.connection(),
            to,
            f"expect:{ticket.id}",
            Author.SYSTEM,
            text,
            now,
            claimed_by=self.worker_id,
        )

    def _keep_for_agent(self, pending: PendingMessage, look_ahead: bool) -> Handled:
        with self._finishing(pending) as (session, to, now):
            if to is None:
                return NOTHING
            ticket = open_ticket(session, pending.conversation_id)
            if ticket is not None:
                # Written when it was stored: a backlog does not shorten the wait.
                unanswered.customer_wrote(ticket, pending.accepted_at)
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
            connection = session.connection()
            return self._handled(connection, pending, self._desk_channels, [], now, look_ahead)
