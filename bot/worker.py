"""The gateway's two loops: handle stored customer messages, send queued replies.

Both are safe to run in several processes at once and to kill at any moment:

* **Inbox**: a worker takes a lease on a conversation before handling its
  messages, and handles them one at a time, oldest first. Different
  conversations run in parallel. A killed worker's lease expires and another
  (or the restarted one) carries on from the first message not yet done.
* **Outbox**: each item is claimed before it is sent and marked sent right
  after. Items of one conversation go out in order; a failed send is retried
  with back-off, or when the platform says (429 ``retry_after``, rate-limit
  reset). An item left "sending" by a killed worker is checked against the
  platform where it can tell (Twitter), else sent again and the possible
  duplicate recorded in the audit trail.

On the hot path neither loop looks at the store on its own: accepting a
message leases its conversation and hands the message over (``Inbox.take``);
the transaction that records a turn claims its replies and finds the
conversation's next message; the replies go to their lane with their content
(``Outbox.kick``) and, when nothing is unsent before them, out without another
query; marking one sent claims the next in the same transaction. A task that
gets new work while it is ending looks once more before it ends (``_again``),
so nothing handed over in that moment waits for the next poll, or forever.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import live
from bot.channels.base import OutboundReply, Sender, SendError
from bot.contract import Visibility
from bot.router import ConversationRouter, Handled, PendingMessage, next_pending
from bot.store.db import run_transaction
from bot.store.models import (
    Conversation,
    Direction,
    InboundStatus,
    Message,
    OutboxItem,
    OutboxStatus,
)
from bot.store.records import MESSAGES, OUTBOX, Outgoing, audit, utcnow

logger = logging.getLogger(__name__)

# How often the outbox looks for sends left unfinished by a dead worker.
RECOVERY_INTERVAL = 5.0
# Marks the last error of an item whose send may have reached the platform.
MAYBE_SENT = "[maybe sent] "


class Inbox:
    """Hands each conversation's pending messages to the router, in order."""

    def __init__(
        self,
        router: ConversationRouter,
        sessions: sessionmaker,
        worker_id: str,
        lease_seconds: float = 15.0,
        concurrency: int = 64,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_handled: Callable[[int, Handled], None] | None = None,
        attempts: int = 3,
        retry_seconds: float = 5.0,
    ) -> None:
        self.router = router
        # Told which conversation queued what for which channels: the outbox sends now.
        self.on_handled = on_handled
        self.sessions = sessions
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        # Conversations that got a message while being handled here: their task
        # looks again before it ends (it may have looked just before the message).
        self._again: set[int] = set()
        self._retry_after: dict[int, float] = {}
        # A message whose handling fails (a bug, the store failing) is tried again
        # ``retry_seconds`` later, ``attempts`` times in all; then a person gets it,
        # so one bad message cannot hold its conversation up for good.
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self._failures: dict[int, int] = {}
        # The router finds each conversation's next message in the transaction that
        # finishes the one before, when it leases for this worker.
        self._look_ahead = router.worker_id == worker_id

    def wake(self) -> None:
        """New messages were stored: look now rather than at the next poll."""
        self._wake.set()

    def take(self, leased: list[PendingMessage]) -> None:
        """Starts on conversations already leased to this worker (by accepting their messages)."""
        for pending in leased:
            self._start(pending.conversation_id, pending)

    def _start(self, conversation_id: int, first: int | PendingMessage) -> None:
        if conversation_id in self._running:
            self._again.add(conversation_id)
        else:
            task = asyncio.create_task(self._drain(conversation_id, first))
            self._running[conversation_id] = task

    async def run(self) -> None:
        """Runs until cancelled."""
        renewed = time.monotonic()
        while True:
            if self._running and time.monotonic() - renewed > self.lease.total_seconds() / 3:
                # A conversation in hand may wait long (for Rasa, behind others): keep
                # its lease, or another worker would take it and ask Rasa again.
                renewed = time.monotonic()
                try:
                    await asyncio.to_thread(self._renew, list(self._running))
                except Exception:
                    logger.exception("inbox: renewing leases failed")
            try:
                # Read and pruned here, on the loop, which is the dict's only writer.
                now = time.monotonic()
                self._retry_after = {c: t for c, t in self._retry_after.items() if t > now}
                busy = [*self._running, *self._retry_after]
                claimed = await asyncio.to_thread(self._claim, 200, busy)
            except Exception:
                logger.exception("inbox: claiming conversations failed")
                claimed = []
            for conversation_id, first_message in claimed:
                self._start(conversation_id, first_message)
            await woken_or_timeout(self._wake, self.poll_interval)
            self._wake.clear()

    async def idle(self) -> None:
        """Waits until no conversation is being handled (for tests and shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    def _renew(self, conversation_ids: list[int]) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id.in_(conversation_ids),
                    Conversation.lease_owner == self.worker_id,
                )
                .values(lease_expires_at=self.clock() + self.lease)
            )

    def _claim(self, limit: int = 200, busy: Sequence[int] = ()) -> list[tuple[int, int]]:
        """Leases conversations with pending messages, except ``busy`` ones (handled here, or
        waiting to retry); returns each with its oldest message."""
        now = self.clock()
        free = or_(
            Conversation.lease_owner.is_(None),
            Conversation.lease_expires_at < now,
            Conversation.lease_owner == self.worker_id,
        )
        with self.sessions.begin() as session:
            candidates = session.execute(
                select(Message.conversation_id, func.min(Message.id))
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.direction == Direction.IN,
                    Message.status == InboundStatus.PENDING,
                    free,
                    Message.conversation_id.notin_(list(busy)),
                )
                .group_by(Message.conversation_id)
                .order_by(Message.conversation_id)
                .limit(limit)
            ).all()
            claimed = []
            for conversation_id, first_message in candidates:
                result = session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation_id, free)
                    .values(lease_owner=self.worker_id, lease_expires_at=now + self.lease)
                )
                if result.rowcount == 1:
                    claimed.append((conversation_id, first_message))
            return claimed

    def _next(self, conversation_id: int) -> PendingMessage | None:
        """The oldest pending message, renewing the lease; when there is none, or the lease
        was lost, None (and the lease is released in the same transaction)."""
        lease_until = self.clock() + self.lease
        with self.sessions.begin() as session:
            return next_pending(session.connection(), conversation_id, self.worker_id, lease_until)

    async def _handle(self, conversation_id: int, message: int | PendingMessage) -> Handled | None:
        """The router's handling of ``message``; None when it failed and waits for a retry."""
        key = message.message_id if isinstance(message, PendingMessage) else message
        try:
            handled = await self.router.handle(message, look_ahead=self._look_ahead)
            if self._failures:
                self._failures.pop(key, None)
            return handled
        except Exception as error:
            failures = self._failures.get(key, 0) + 1
            logger.exception(
                "inbox: handling message %s failed (%d of %d)", key, failures, self.attempts
            )
            reason = f"{type(error).__name__}: {error}"[:300]
        given_up = None
        if failures >= self.attempts:
            try:
                given_up = await self.router.give_up(message, reason)
            except Exception:
                logger.exception("inbox: handing message %s to a person failed", key)
        if given_up is not None:
            self._failures.pop(key, None)
            return given_up
        # Leave it pending, let the lease expire, and come back a little later.
        if len(self._failures) >= 10_000:  # messages finished elsewhere since: forget the oldest
            del self._failures[next(iter(self._failures))]
        self._failures[key] = failures
        self._retry_after[conversation_id] = time.monotonic() + self.retry_seconds
        return None

    async def _drain(self, conversation_id: int, first: int | PendingMessage) -> None:
        message: int | PendingMessage | None = first
        try:
            async with self._slots:
                while message is not None:
                    handled = await self._handle(conversation_id, message)
                    if handled is None:
                        return
                    if self.on_handled is not None and handled.channels:
                        self.on_handled(conversation_id, handled)
                    if handled.looked_ahead:
                        message = handled.next
                    else:
                        message = await asyncio.to_thread(self._next, conversation_id)
                    if message is None and conversation_id in self._again:
                        # A message arrived (and was leased to us) after we looked.
                        self._again.discard(conversation_id)
                        message = await asyncio.to_thread(self._next, conversation_id)
        except Exception:
            logger.exception("inbox: conversation %s", conversation_id)
        finally:
            # No await since the last look: a message accepted from now on finds the
            # conversation not running and starts a new task.
            self._running.pop(conversation_id, None)
            self._again.discard(conversation_id)


@dataclass
class Pace:
    """A token bucket per place: ``burst`` messages at once, then one per ``interval``."""

    interval: float
    burst: int = 3
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def delay(self, key: str) -> float:
        """Takes a token for ``key``; returns how long to wait before using it."""
        if self.interval <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.interval)
        wait = 0.0 if tokens >= 1 else (1 - tokens) * self.interval
        self._buckets[key] = (tokens - 1, now)
        return wait


async def woken_or_timeout(wake: asyncio.Event, timeout: float) -> None:
    """Waits until ``wake`` is set or ``timeout`` seconds pass.

    Not ``asyncio.wait_for(wake.wait(), timeout)``: on Python 3.10 it loses a
    cancellation that arrives as the event is set (bpo-42130), and a loop
    that lost its cancel never stops; a gateway shutting down then waits for
    it forever. ``asyncio.wait`` always lets the cancellation through.
    """
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


def reply_of(item: Outgoing | OutboxItem) -> OutboundReply:
    """The outbox payload as the channel's reply object."""
    payload = item.payload
    return OutboundReply(
        channel=item.channel,
        place=payload["place"],
        visibility=Visibility(payload["visibility"]),
        text=payload["text"],
        customer_platform_id=payload["customer"],
        reply_to_platform_id=payload.get("reply_to"),
        invite_private=bool(payload.get("invite_private")),
        extra=dict(payload),
    )


Lane = tuple[int, str]  # (conversation id, channel)

# The hot path's statements, built once (see bot/store/records.py).
_FIRST_UNSENT = (
    select(OUTBOX)
    .where(
        OUTBOX.c.conversation_id == bindparam("b_conversation"),
        OUTBOX.c.channel == bindparam("b_channel"),
        OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
    )
    .order_by(OUTBOX.c.id)
    .limit(1)
)
_CLAIM = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.status == OutboxStatus.PENDING)
    .values(
        status=OutboxStatus.SENDING,
        claimed_by=bindparam("b_worker"),
        claimed_at=bindparam("b_now", type_=DateTime),
        attempts=OUTBOX.c.attempts + 1,
    )
)
_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=OutboxStatus.SENT,
        platform_message_id=bindparam("b_platform_id"),
        sent_at=bindparam("b_now", type_=DateTime),
        last_error=None,
    )
)
_NOTE_PLATFORM_ID = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_id"))
    .values(platform_message_id=bindparam("b_platform_id"))
)


class _Sent(enum.Enum):
    """How sending an item ended, for its lane."""

    FAILED = "failed"  # the conversation's next items wait for this one
    DONE = "done"  # sent; the store may hold the lane's next item
    LOOKED = "looked"  # sent; its next item, if any, was claimed in the same transaction


class Outbox:
    """Sends queued replies through the channels' senders."""

    def __init__(
        self,
        sessions: sessionmaker,
        senders: Mapping[str, Sender],
        worker_id: str,
        claim_seconds: float = 30.0,
        max_attempts: int = 12,
        poll_interval: float = 1.0,
        paces: Mapping[str, Pace] | None = None,
        clock: Callable[[], datetime] = utcnow,
        reads: sessionmaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        self.senders = senders
        self.worker_id = worker_id
        self.claim_time = timedelta(seconds=claim_seconds)
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.paces = dict(paces or {})
        self.clock = clock
        # Claims this worker made before this moment were made by a process that is
        # gone (a restart with the same worker id): their outcome is unknown.
        self._started = clock()
        self._wake = asyncio.Event()
        # One lane per conversation and channel: a conversation's replies to the
        # customer keep their order, and a slow desk never holds them up.
        self._running: dict[Lane, asyncio.Task[None]] = {}
        # Lanes that were given items while running: they look again before ending.
        self._again: set[Lane] = set()
        # Items claimed for this worker by the router, waiting for their lane...
        self._handed_over: dict[int, Outgoing] = {}
        # ...and of those, per lane and in order, the ones with nothing unsent before
        # them: they go out without another look at the store.
        self._ready: dict[Lane, list[int]] = {}

    def wake(self) -> None:
        """New items were queued."""
        self._wake.set()

    def kick(self, conversation_id: int, handled: Handled) -> None:
        """Sends a conversation's new items now, without waiting for the next look.

        Items the router already claimed for this worker are handed over here;
        the lane sends them in order with anything queued before them.
        """
        for item in handled.claimed:
            self._handed_over[item.id] = item
            if handled.ready:
                self._ready.setdefault((item.conversation_id, item.channel), []).append(item.id)
        for channel in handled.channels:
            lane = (conversation_id, channel)
            if channel not in self.senders:
                continue
            if lane in self._running:
                self._again.add(lane)
            else:
                self._running[lane] = asyncio.create_task(self._send_lane(lane))

    async def run(self) -> None:
        """Runs until cancelled."""
        next_recovery = 0.0
        while True:
            try:
                if time.monotonic() >= next_recovery:
                    await self._recover()
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL
                due = await asyncio.to_thread(self._due_lanes)
            except Exception:
                logger.exception("outbox: finding due items failed")
                due = []
            for lane in due:
                if lane not in self._running:
                    self._running[lane] = asyncio.create_task(self._send_lane(lane))
            await woken_or_timeout(self._wake, self.poll_interval)
            self._wake.clear()

    async def idle(self) -> None:
        """Waits until nothing is being sent (for tests and shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    def _due_lanes(self) -> list[Lane]:
        now = self.clock()
        with self.reads() as session:
            rows = session.execute(
                select(OutboxItem.conversation_id, OutboxItem.channel)
                .where(
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.next_attempt_at <= now,
                    OutboxItem.channel.in_(list(self.senders)),
                )
                .group_by(OutboxItem.conversation_id, OutboxItem.channel)
                .limit(500)
            ).all()
            return [(row[0], row[1]) for row in rows]

    def _take_ready(self, lane: Lane) -> Outgoing | None:
        """The lane's next item that may go out without a look at the store."""
        waiting = self._ready.get(lane)
        while waiting:
            item = self._handed_over.pop(waiting.pop(0), None)
            if item is not None:
                return item
        self._ready.pop(lane, None)
        return None

    def _claim_next(self, lane: Lane) -> Outgoing | None:
        """Claims the lane's first unsent item if it is due (keeps the order)."""
        with self.sessions.begin() as session:
            return self._claim_first(session, lane)

    def _claim_first(self, session: Session, lane: Lane) -> Outgoing | None:
        conversation_id, channel = lane
        now = self.clock()
        connection = session.connection()
        first = connection.execute(
            _FIRST_UNSENT, {"b_conversation": conversation_id, "b_channel": channel}
        ).first()
        if first is None:
            return None
        if first.status == OutboxStatus.SENDING:
            # Already claimed for us by the router: send it (else someone is sending it).
            return self._handed_over.pop(first.id, None)
        if first.next_attempt_at > now or first.channel not in self.senders:
            return None
        claimed = connection.execute(
            _CLAIM, {"b_id": first.id, "b_worker": self.worker_id, "b_now": now}
        )
        if claimed.rowcount != 1:
            return None
        return Outgoing.of(first)

    async def _send_lane(self, lane: Lane) -> None:
        try:
            look = True  # whether the store may hold the lane's next item
            while True:
                item = self._take_ready(lane)
                if item is None and look:
                    item = await asyncio.to_thread(self._claim_next, lane)
                if item is None:
                    if lane not in self._again:
                        return
                    self._again.discard(lane)
                    look = True
                    continue
                outcome = await self._send(item)
                if outcome is _Sent.FAILED:
                    # What was ready behind it waits for it now: the store decides.
                    self._ready.pop(lane, None)
                    return
                look = outcome is _Sent.DONE
        except Exception:
            logger.exception("outbox: lane %s", lane)
        finally:
            # No await since the last look: items handed over from now on start a lane.
            self._running.pop(lane, None)
            self._again.discard(lane)

    async def _send(self, item: Outgoing) -> _Sent:
        """Sends one claimed item and records the outcome."""
        sender = self.senders[item.channel]
        reply = reply_of(item)
        if (item.last_error or "").startswith(MAYBE_SENT):
            found = await sender.find_sent(reply, after=item.created_at - timedelta(seconds=5))
            if isinstance(found, str):
                await asyncio.to_thread(self._settle, item.id, found)
                return _Sent.DONE
            if found is False:
                await asyncio.to_thread(self._note_resend, item)
        pace = self.paces.get(item.channel)
        if pace is not None:
            wait = pace.delay(reply.place)
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            platform_id = await sender.send(reply)
        except SendError as error:
            message = (MAYBE_SENT if error.maybe_sent else "") + str(error)
            await asyncio.to_thread(self._failed, item, message, error.retry_after, error.permanent)
            return _Sent.FAILED
        except Exception as error:  # a bug or an unexpected client error: retry later
            logger.exception("outbox: sending item %s failed unexpectedly", item.id)
            await asyncio.to_thread(self._failed, item, f"{type(error).__name__}: {error}", None)
            return _Sent.FAILED
        lane = (item.conversation_id, item.channel)
        # Items ready behind it go first; else the same transaction claims the next.
        look = not self._ready.get(lane)
        following = await run_transaction(self.sessions, self._sent, item, platform_id, look)
        if following is not None:
            self._handed_over[following.id] = following
            self._ready.setdefault(lane, []).insert(0, following.id)
        return _Sent.LOOKED if look else _Sent.DONE

    def _sent(self, item: Outgoing, platform_id: str, look: bool) -> Outgoing | None:
        """Marks ``item`` sent; with ``look``, claims its lane's next item in the same
        transaction (None when there is none to send now)."""
        now = self.clock()
        with self.sessions.begin() as session:
            connection = session.connection()
            connection.execute(
                _MARK_SENT, {"b_id": item.id, "b_platform_id": platform_id, "b_now": now}
            )
            if item.message_id is not None:
                connection.execute(
                    _NOTE_PLATFORM_ID, {"b_id": item.message_id, "b_platform_id": platform_id}
                )
            if not look:
                return None
            return self._claim_first(session, (item.conversation_id, item.channel))

    def _failed(
        self, item: Outgoing, error: str, retry_after: float | None, permanent: bool = False
    ) -> None:
        live.SEND_ERRORS.labels(item.channel).inc()
        now = self.clock()
        with self.sessions.begin() as session:
            current = session.get(OutboxItem, item.id)
            current.last_error = error[:1000]
            if permanent or current.attempts >= self.max_attempts:
                current.status = OutboxStatus.FAILED
                audit(
                    session,
                    "gateway",
                    "send_failed",
                    now,
                    current.conversation_id,
                    outbox_id=current.id,
                    error=error[:300],
                    attempts=current.attempts,
                )
                return
            backoff = retry_after if retry_after is not None else min(300.0, 2.0**current.attempts)
            current.status = OutboxStatus.PENDING
            current.next_attempt_at = now + timedelta(seconds=backoff)
            current.claimed_by = None

    async def _recover(self) -> None:
        """Settles items left "sending" by a worker that died in mid-send."""
        stale = await asyncio.to_thread(self._stale_claims)
        for item in stale:
            sender = self.senders.get(item.channel)
            if sender is None:
                continue
            found = await sender.find_sent(
                reply_of(item), after=item.claimed_at - timedelta(seconds=5)
            )
            await asyncio.to_thread(self._settle, item.id, found)

    def _stale_claims(self) -> list[OutboxItem]:
        """Items still "sending" that nobody is sending: this worker's from before a
        restart (same worker id), or anyone's whose claim has expired."""
        expired = self.clock() - self.claim_time
        with self.reads() as session:
            items = session.scalars(
                select(OutboxItem).where(
                    OutboxItem.status == OutboxStatus.SENDING,
                    or_(
                        OutboxItem.claimed_at < expired,
                        (OutboxItem.claimed_by == self.worker_id)
                        & (OutboxItem.claimed_at < self._started),
                    ),
                )
            ).all()
            # A claim this process made is not stale until it expires: the router
            # claims replies in its transaction, and hands them to their lane a
            # moment after it commits.
            stale = [
                item
                for item in items
                if item.id not in self._handed_over
                and (
                    item.claimed_at < expired
                    or (item.conversation_id, item.channel) not in self._running
                )
            ]
            for item in stale:
                session.expunge(item)
            return stale

    def _note_resend(self, item: Outgoing) -> None:
        with self.sessions.begin() as session:
            audit(
                session,
                "gateway",
                "resent_after_error",
                self.clock(),
                item.conversation_id,
                outbox_id=item.id,
                error=(item.last_error or "")[:300],
            )

    def _settle(self, item_id: int, found: str | bool | None) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            item = session.get(OutboxItem, item_id)
            if item.status != OutboxStatus.SENDING:
                return
            if isinstance(found, str):
                item.status = OutboxStatus.SENT
                item.platform_message_id = found
                item.sent_at = now
                audit(
                    session,
                    "gateway",
                    "send_reconciled",
                    now,
                    item.conversation_id,
                    outbox_id=item.id,
                )
                return
            item.status = OutboxStatus.PENDING
            item.next_attempt_at = now
            item.claimed_by = None
            if found is False:
                # The platform cannot tell whether the first attempt arrived.
                audit(
                    session,
                    "gateway",
                    "resent_after_crash",
                    now,
                    item.conversation_id,
                    outbox_id=item.id,
                )


def is_sent(session: Session, key: str) -> bool:
    """Whether the outbox item ``key`` went out (used by tests and the desk)."""
    status = session.scalar(select(OutboxItem.status).where(OutboxItem.idempotency_key == key))
    return status == OutboxStatus.SENT
