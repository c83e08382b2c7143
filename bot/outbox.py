"""The gateway's outbox: queued replies sent through the channels' senders.

Safe to run in several processes at once and to kill at any moment: each item
is claimed before it is sent and marked sent right after. Items of one
conversation go out in order; a failed send is retried with back-off, or when
the platform says (429 ``retry_after``, rate-limit reset). An item left
"sending" by a killed worker is checked against the platform where it can tell
(Twitter), else sent again and the possible duplicate recorded in the audit
trail.

On the hot path the outbox does not look at the store on its own: the
transaction that records a turn claims its replies, which come to their lane
with their content (``Outbox.kick``) and, when nothing is unsent before them,
go out without another query; marking one sent claims the next in the same
transaction. A lane that gets new items while it is ending looks once more
before it ends (``_again``).

This module is a little over 400 lines: the lanes, the sends and the store
work of one item's life (claim, sent, failed, settled) read best together.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import counters
from bot.contract import Visibility
from bot.conversation.turns import Handled
from bot.messages import OutboundReply, Sender, SendError, SentLookup
from bot.pace import Pace
from bot.store.db import run_transaction
from bot.store.models import OutboxItem, OutboxStatus
from bot.store.records import MESSAGES, OUTBOX, Outgoing, audit, utcnow
from bot.wake import woken_or_timeout

logger = logging.getLogger(__name__)

# How often the outbox looks for sends left unfinished by a dead worker.
RECOVERY_INTERVAL = 5.0
# Marks the last error of an item whose send may have reached the platform.
MAYBE_SENT = "[maybe sent] "


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
        wake: asyncio.Event | None = None,
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
        # Set when something was queued (by anyone holding the event: the desk).
        self._wake = wake or asyncio.Event()
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
            if found.platform_id is not None:
                await asyncio.to_thread(self._settle, item.id, found)
                return _Sent.DONE
            if not found.can_tell:
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
        with self.sessions.begin() as session:
            _mark_sent(session, item.id, item.message_id, platform_id, self.clock())
            if not look:
                return None
            return self._claim_first(session, (item.conversation_id, item.channel))

    def _failed(
        self, item: Outgoing, error: str, retry_after: float | None, permanent: bool = False
    ) -> None:
        counters.SEND_ERRORS.labels(item.channel).inc()
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
            _send_again(current, now + timedelta(seconds=backoff))

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

    def _settle(self, item_id: int, found: SentLookup) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            item = session.get(OutboxItem, item_id)
            if item.status != OutboxStatus.SENDING:
                return
            if found.platform_id is not None:
                _mark_sent(session, item.id, item.message_id, found.platform_id, now)
                audit(
                    session,
                    "gateway",
                    "send_reconciled",
                    now,
                    item.conversation_id,
                    outbox_id=item.id,
                )
                return
            _send_again(item, now)
            if not found.can_tell:
                # The platform cannot tell whether the first attempt arrived.
                audit(
                    session,
                    "gateway",
                    "resent_after_crash",
                    now,
                    item.conversation_id,
                    outbox_id=item.id,
                )


def _mark_sent(
    session: Session, item_id: int, message_id: int | None, platform_id: str, now: datetime
) -> None:
    """The item reached the platform, whether its send said so or a look found it after a
    failure or a crash: sent, with the platform's id on the item and on its message."""
    connection = session.connection()
    connection.execute(_MARK_SENT, {"b_id": item_id, "b_platform_id": platform_id, "b_now": now})
    if message_id is not None:
        connection.execute(_NOTE_PLATFORM_ID, {"b_id": message_id, "b_platform_id": platform_id})


def _send_again(item: OutboxItem, at: datetime) -> None:
    """The item did not reach the platform (or may not have): pending again from ``at``,
    for any worker to claim."""
    item.status = OutboxStatus.PENDING
    item.next_attempt_at = at
    item.claimed_by = None
