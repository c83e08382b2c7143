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

Database work is synchronous SQLAlchemy and runs in worker threads, so that a
slow commit never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import Assistant, AssistantUnavailable, BotMessage, Turn
from bot.brand import Brand, load_brand
from bot.channels.base import InboundMessage
from bot.contract import HandoverReason, Visibility
from bot.privacy import PUBLIC_REPLY_KINDS, find_personal_data
from bot.store.models import (
    Author,
    Conversation,
    Cursor,
    Direction,
    InboundStatus,
    Message,
    OutboxItem,
    OutboxStatus,
    Owner,
    Priority,
    Ticket,
    TicketStatus,
)
from bot.store.records import audit, conversation_for, customer_for, enqueue, move_cursor, utcnow

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
class Accepted:
    """Result of storing a batch: the new message ids, how many were already known, and the
    conversations this worker leased on the way, each with its oldest pending message."""

    new_ids: list[int]
    duplicates: int
    leased: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Handled:
    """What handling a message queued: for which channels, and the customer's replies
    that this worker already claimed for sending (so they go out without another look)."""

    channels: frozenset[str] = frozenset()
    claimed: tuple[int, ...] = ()


NOTHING = Handled()


@dataclass(frozen=True)
class _Snapshot:
    """What handling a message needs, read in one short transaction."""

    message_id: int
    text: str
    kind: str
    status: InboundStatus
    conversation_id: int
    channel: str
    owner: Owner
    visibility: Visibility
    rasa_sender_id: str


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
        # this worker when it is free, so handling starts without another query.
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)

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
        duplicates = 0
        with self.sessions.begin() as session:
            for inbound in messages:
                message_id = self._store(session, inbound, now)
                if message_id is None:
                    duplicates += 1
                else:
                    new_ids.append(message_id)
            if cursor is not None:
                move_cursor(session, *cursor, now=now)
            leased = self._lease(session, new_ids, now) if self.worker_id and new_ids else []
        return Accepted(new_ids, duplicates, leased)

    def _lease(
        self, session: Session, message_ids: list[int], now: datetime
    ) -> list[tuple[int, int]]:
        conversations = session.scalars(
            select(Message.conversation_id).where(Message.id.in_(message_ids)).distinct()
        ).all()
        leased = []
        for conversation_id in conversations:
            taken = session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    or_(
                        Conversation.lease_owner.is_(None),
                        Conversation.lease_expires_at < now,
                        Conversation.lease_owner == self.worker_id,
                    ),
                )
                .values(lease_owner=self.worker_id, lease_expires_at=now + self.lease)
            )
            if taken.rowcount != 1:
                continue  # another worker is handling it; it will see the message
            oldest = session.scalar(
                select(func.min(Message.id)).where(
                    Message.conversation_id == conversation_id,
                    Message.direction == Direction.IN,
                    Message.status == InboundStatus.PENDING,
                )
            )
            leased.append((conversation_id, int(oldest)))
        return leased

    async def accept(
        self, messages: Sequence[InboundMessage], cursor: tuple[str, str, str] | None = None
    ) -> Accepted:
        """:meth:`accept_sync` off the event loop."""
        return await asyncio.to_thread(self.accept_sync, messages, cursor)

    def _store(self, session: Session, inbound: InboundMessage, now: datetime) -> int | None:
        known = session.scalar(
            select(Message.id).where(
                Message.channel == inbound.channel,
                Message.direction == Direction.IN,
                Message.platform_message_id == inbound.platform_message_id,
            )
        )
        if known is not None:
            return None
        customer = customer_for(session, inbound.channel, inbound.customer, now)
        conversation = conversation_for(
            session, inbound.channel, inbound.place, inbound.visibility.value, customer, now
        )
        if inbound.reply_to_platform_id:
            conversation.reply_to_platform_id = inbound.reply_to_platform_id
        conversation.updated_at = now
        message = Message(
            conversation_id=conversation.id,
            channel=inbound.channel,
            direction=Direction.IN,
            author=Author.CUSTOMER,
            kind=inbound.kind,
            text=inbound.text,
            platform_message_id=inbound.platform_message_id,
            status=InboundStatus.PENDING,
            raw=inbound.raw or None,
            created_at=now,
        )
        # A concurrent delivery of the same message may win the race: then the
        # unique key fails the flush, and accept_sync retries the batch.
        session.add(message)
        session.flush()
        return int(message.id)

    def cursor(self, channel: str, name: str) -> str | None:
        """A channel's stored read position."""
        with self.reads() as session:
            cursor = session.get(Cursor, (channel, name))
            return cursor.value if cursor else None

    # ------------------------------------------------------------- handling
    def _snapshot(self, message_id: int) -> _Snapshot | None:
        with self.reads() as session:
            message = session.get(Message, message_id)
            if message is None:
                return None
            conversation = message.conversation
            return _Snapshot(
                message_id=message.id,
                text=message.text,
                kind=message.kind,
                status=message.status,
                conversation_id=conversation.id,
                channel=conversation.channel,
                owner=conversation.owner,
                visibility=Visibility(conversation.visibility),
                rasa_sender_id=conversation.rasa_sender_id,
            )

    async def handle(self, message_id: int) -> Handled:
        """Handles one stored customer message, exactly once; says what it queued."""
        snapshot = await asyncio.to_thread(self._snapshot, message_id)
        if snapshot is None or snapshot.status == InboundStatus.DONE:
            return NOTHING
        if snapshot.owner != Owner.BOT:
            return await asyncio.to_thread(self._keep_for_agent, snapshot)
        if snapshot.kind != "text" and not snapshot.text.strip():
            return await asyncio.to_thread(self._unsupported, snapshot)
        try:
            turn = await self.assistant.turn(
                snapshot.rasa_sender_id,
                snapshot.text,
                message_id=str(snapshot.message_id),
                metadata={"visibility": snapshot.visibility.value, "channel": snapshot.channel},
            )
        except AssistantUnavailable as error:
            return await asyncio.to_thread(self._assistant_down, snapshot, str(error))
        return await asyncio.to_thread(self._record_turn, snapshot, turn)

    def _load(self, session: Session, snapshot: _Snapshot) -> tuple[Message, Conversation] | None:
        """The message and its conversation, locked; None if someone handled it meanwhile."""
        message = session.get(Message, snapshot.message_id, with_for_update=True)
        if message is None or message.status == InboundStatus.DONE:
            return None
        return message, message.conversation

    def _desk_channels(self) -> frozenset[str]:
        return frozenset({"slack"}) if self.desk is not None else frozenset()

    def _claim_for_sending(self, session: Session, items: list[OutboxItem], now: datetime) -> None:
        """Claims the customer's new replies for this worker, in the queuing transaction."""
        if not self.worker_id:
            return
        session.flush()
        for item in items:
            item.status = OutboxStatus.SENDING
            item.claimed_by = self.worker_id
            item.claimed_at = now
            item.attempts = 1

    def _handled(self, channels: frozenset[str], items: list[OutboxItem]) -> Handled:
        return Handled(channels, tuple(int(i.id) for i in items) if self.worker_id else ())

    def _record_turn(self, snapshot: _Snapshot, turn: Turn) -> Handled:
        now = self.clock()
        items: list[OutboxItem] = []
        with self.sessions.begin() as session:
            loaded = self._load(session, snapshot)
            if loaded is None:
                return NOTHING
            message, conversation = loaded
            message.intent, message.confidence = turn.best_guess
            message.entities = turn.entities or None
            self._finish(message, now)
            for index, bot_message in enumerate(turn.texts):
                items += self._reply(session, conversation, message, index, bot_message, now)
            self._claim_for_sending(session, items, now)
            handover = turn.handover
            if handover is not None and conversation.owner == Owner.BOT:
                reason = str(handover.get("reason") or HandoverReason.REQUESTED.value)
                self._hand_over(session, conversation, reason, now, turn=turn, payload=handover)
                return self._handled(frozenset({snapshot.channel}) | self._desk_channels(), items)
        return self._handled(frozenset({snapshot.channel}), items)

    def _assistant_down(self, snapshot: _Snapshot, error: str) -> Handled:
        now = self.clock()
        with self.sessions.begin() as session:
            loaded = self._load(session, snapshot)
            if loaded is None:
                return NOTHING
            message, conversation = loaded
            self._finish(message, now)
            items = self._system_reply(session, conversation, message, "bot_unavailable", now)
            self._claim_for_sending(session, items, now)
            self._hand_over(
                session, conversation, HandoverReason.BOT_UNAVAILABLE.value, now, error=error
            )
        return self._handled(frozenset({snapshot.channel}) | self._desk_channels(), items)

    def _unsupported(self, snapshot: _Snapshot) -> Handled:
        now = self.clock()
        with self.sessions.begin() as session:
            loaded = self._load(session, snapshot)
            if loaded is None:
                return NOTHING
            message, conversation = loaded
            self._finish(message, now)
            items = self._system_reply(session, conversation, message, "unsupported_media", now)
            self._claim_for_sending(session, items, now)
        return self._handled(frozenset({snapshot.channel}), items)

    def _keep_for_agent(self, snapshot: _Snapshot) -> Handled:
        now = self.clock()
        with self.sessions.begin() as session:
            loaded = self._load(session, snapshot)
            if loaded is None:
                return NOTHING
            message, conversation = loaded
            self._finish(message, now)
            ticket = self.open_ticket(session, conversation.id)
            if ticket is not None:
                ticket.last_customer_at = now
                if self.desk is not None:
                    self.desk.customer_wrote(session, ticket, message, now)
            audit(
                session,
                "gateway",
                "kept_for_agent",
                now,
                conversation.id,
                ticket.id if ticket else None,
                message_id=message.id,
            )
        return Handled(self._desk_channels())

    @staticmethod
    def _finish(message: Message, now: datetime) -> None:
        message.status = InboundStatus.DONE
        message.handled_at = now

    # --------------------------------------------------------------- replies
    def _reply(
        self,
        session: Session,
        conversation: Conversation,
        inbound: Message,
        index: int,
        bot_message: BotMessage,
        now: datetime,
    ) -> list[OutboxItem]:
        text = bot_message.text or ""
        invite = bot_message.invite_private
        if conversation.visibility == Visibility.PUBLIC.value:
            leaks = [f.kind.value for f in find_personal_data(text, PUBLIC_REPLY_KINDS)]
            if bot_message.private or leaks:
                # The last line of defence: a public reply never carries personal data.
                audit(
                    session,
                    "gateway",
                    "withheld_private_reply",
                    now,
                    conversation.id,
                    response=bot_message.response,
                    marked_private=bot_message.private,
                    found=leaks,
                )
                text = self.brand.message("public_privacy_fallback")
                invite = True
        return self._outgoing(
            session,
            conversation,
            inbound,
            f"reply:{inbound.id}:{index}",
            Author.BOT,
            text,
            now,
            invite_private=invite,
            response=bot_message.response,
        )

    def _system_reply(
        self,
        session: Session,
        conversation: Conversation,
        inbound: Message,
        name: str,
        now: datetime,
    ) -> list[OutboxItem]:
        return self._outgoing(
            session,
            conversation,
            inbound,
            f"system:{inbound.id}:{name}",
            Author.SYSTEM,
            self.brand.message(name),
            now,
        )

    def _outgoing(
        self,
        session: Session,
        conversation: Conversation,
        inbound: Message | None,
        key: str,
        author: Author,
        text: str,
        now: datetime,
        invite_private: bool = False,
        response: str | None = None,
        agent_id: str | None = None,
    ) -> list[OutboxItem]:
        outbound = Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction=Direction.OUT,
            author=author,
            text=text,
            agent_id=agent_id,
            created_at=now,
        )
        session.add(outbound)
        session.flush()
        payload: dict[str, Any] = {
            "text": text,
            "place": conversation.place,
            "visibility": conversation.visibility,
            "customer": conversation.customer.platform_user_id,
            "reply_to": conversation.reply_to_platform_id,
            "invite_private": invite_private,
            "response": response,
        }
        item = enqueue(
            session, key, conversation.id, conversation.channel, payload, now, outbound.id
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
        self._outgoing(session, conversation, None, key, author, text, now, agent_id=agent_id)

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
