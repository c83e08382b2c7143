"""The gateway's inbox: stored customer messages handed to the router, in order.

Safe to run in several processes at once and to kill at any moment: a worker
takes a lease on a conversation (bot/conversation/leases.py) before handling
its messages, and handles them one at a time, oldest first. Different
conversations run in parallel. A killed worker's lease expires and another
(or the restarted one) carries on from the first message not yet done.

On the hot path the inbox does not look at the store on its own: accepting a
message leases its conversation and hands the message over (:meth:`Inbox.take`);
the transaction that records a turn finds the conversation's next message.
What a turn queued goes to ``on_handled`` (the outbox's ``kick``). A task that
gets new work while it is ending looks once more before it ends (``_again``),
so nothing handed over in that moment waits for the next poll, or forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import sessionmaker

from bot.assistant import AssistantBusy
from bot.conversation import leases
from bot.conversation.leases import PendingMessage
from bot.conversation.turns import ConversationRouter, Handled
from bot.store.records import utcnow
from bot.wake import woken_or_timeout

logger = logging.getLogger(__name__)


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
        busy_retry_seconds: float = 2.0,
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
        # A turn Rasa did not start (its lock store away) is asked again this much later,
        # until the router's limit (RASA_WAIT_SECONDS); it is nobody's failure meanwhile.
        self.busy_retry_seconds = busy_retry_seconds
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
            leases.renew_all(
                session.connection(), conversation_ids, self.worker_id, self.clock() + self.lease
            )

    def _claim(self, limit: int = 200, busy: Sequence[int] = ()) -> list[tuple[int, int]]:
        """Leases conversations with pending messages, except ``busy`` ones (handled here, or
        waiting to retry); returns each with its oldest message."""
        now = self.clock()
        with self.sessions.begin() as session:
            return leases.claim_waiting(
                session.connection(), self.worker_id, now, now + self.lease, limit, busy
            )

    def _next(self, conversation_id: int) -> PendingMessage | None:
        """The oldest pending message, renewing the lease; when there is none, or the lease
        was lost, None (and the lease is released in the same transaction)."""
        lease_until = self.clock() + self.lease
        with self.sessions.begin() as session:
            return leases.next_pending(
                session.connection(), conversation_id, self.worker_id, lease_until
            )

    async def _handle(self, conversation_id: int, message: int | PendingMessage) -> Handled | None:
        """The router's handling of ``message``; None when it failed and waits for a retry."""
        key = message.message_id if isinstance(message, PendingMessage) else message
        try:
            handled = await self.router.handle(message, look_ahead=self._look_ahead)
            if self._failures:
                self._failures.pop(key, None)
            return handled
        except AssistantBusy as error:
            logger.warning("inbox: message %s waits for the assistant: %s", key, error)
            self._retry_after[conversation_id] = time.monotonic() + self.busy_retry_seconds
            return None
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
