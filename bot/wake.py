"""Waiting for work: the inbox's and the outbox's loops sleep until woken or a poll is due."""

from __future__ import annotations

import asyncio


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
