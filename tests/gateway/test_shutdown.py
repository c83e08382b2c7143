"""A stopping gateway stops: no loop may lose the cancellation that ends it."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bot.wake import woken_or_timeout


async def _wait_for_style(wake: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=timeout)


async def _lost_cancellations(wait: object, rounds: int = 50) -> int:
    lost = 0
    for _ in range(rounds):
        wake = asyncio.Event()
        task = asyncio.create_task(wait(wake, 10.0))  # type: ignore[operator]
        await asyncio.sleep(0)
        # The worst moment: new work is announced just as shutdown cancels the loop.
        wake.set()
        task.cancel()
        try:
            await task
            lost += 1
        except asyncio.CancelledError:
            pass
    return lost


async def test_a_cancel_that_arrives_with_a_wake_up_is_never_lost() -> None:
    assert await _lost_cancellations(woken_or_timeout) == 0


async def test_the_pattern_it_replaces_loses_it() -> None:
    # Python 3.10's wait_for returns the result when the inner wait finished
    # together with the cancel (bpo-42130); 3.12 fixed it. This shows the
    # test above can fail.
    lost = await _lost_cancellations(_wait_for_style)
    assert lost > 0 if sys.version_info < (3, 12) else lost == 0


async def test_woken_or_timeout_wakes_and_times_out() -> None:
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await woken_or_timeout(wake, 0.05)
    assert loop.time() - started >= 0.04
    wake.set()
    started = loop.time()
    await woken_or_timeout(wake, 5.0)
    assert loop.time() - started < 1.0
