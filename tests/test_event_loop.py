"""The loop async tests run on does not depend on what a library set at import."""

from __future__ import annotations

import asyncio

# Imports aiogram (Rasa's Telegram channel), which sets uvloop's event loop policy for the
# whole process as soon as it is imported: here at collection, as in_rasa/bridge.py's tests do.
import rasa.core.channels  # noqa: F401


async def test_async_tests_run_on_asyncio_s_own_loop_whatever_the_policy() -> None:
    """tests/conftest.py's loop factory: without it, this test runs on uvloop."""
    assert type(asyncio.get_running_loop()) is asyncio.SelectorEventLoop


async def test_a_subprocess_starts_on_that_loop() -> None:
    """With uvloop's policy left in place, asyncio's child watcher is missing (Playwright
    failed to start its driver that way)."""
    process = await asyncio.create_subprocess_exec("true")
    assert await process.wait() == 0
