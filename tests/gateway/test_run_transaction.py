"""run_transaction: on the event loop while SQLite's write lock is free, never waiting there.

Real SQLite files, real threads and a second real connection standing in for
another process; the loop's responsiveness is measured by a ticking coroutine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.store.db import make_engine, run_transaction, session_factory


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'care.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield engine
    engine.dispose()


def write(sessions: sessionmaker, body: str) -> int:
    """One write transaction; returns the thread it ran on."""
    with sessions.begin() as session:
        session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
    return threading.get_ident()


def bodies(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT body FROM notes ORDER BY id")))


# How long the lock is held against the work. The loop must tick at least 10 (15) times
# meanwhile: a loop blocked by the work ticks once at most. Long enough that a loaded
# machine's 10 ms sleeps taking several times that still count to it (a 0.2 s hold
# needed every tick within 20 ms).
HOLD_SECONDS = 1.0


async def ticks_while(work: asyncio.Future[object] | asyncio.Task[object]) -> int:
    """How many 10 ms ticks the event loop ran while ``work`` was pending."""
    count = 0
    while not work.done():
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_uncontended_work_runs_on_the_loop(engine: Engine) -> None:
    sessions = session_factory(engine)
    ran_on = await run_transaction(sessions, write, sessions, "first")
    assert ran_on == threading.get_ident()
    # The lock was given back: a writer in another thread gets it at once.
    assert await asyncio.wait_for(asyncio.to_thread(write, sessions, "second"), 5) != ran_on
    assert bodies(engine) == ["first", "second"]


async def test_a_writer_in_this_process_sends_the_work_to_a_thread(engine: Engine) -> None:
    sessions = session_factory(engine)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sessions.begin() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('holder')"))
            holding.set()
            release.wait(10)

    holder = asyncio.ensure_future(asyncio.to_thread(hold))
    await asyncio.to_thread(holding.wait, 5)
    work = asyncio.ensure_future(run_transaction(sessions, write, sessions, "waiter"))
    loop = asyncio.get_running_loop()
    loop.call_later(HOLD_SECONDS, release.set)
    ticks = await ticks_while(work)
    await holder
    assert work.result() != threading.get_ident()
    assert ticks >= 10  # the loop kept running while the work waited for the lock
    assert bodies(engine) == ["holder", "waiter"]


async def test_another_process_holding_the_file_never_blocks_the_loop(
    engine: Engine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    other = sqlite3.connect(tmp_path / "care.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('other process')")
    work = asyncio.ensure_future(run_transaction(sessions, write, sessions, "ours"))
    asyncio.get_running_loop().call_later(HOLD_SECONDS, other.execute, "COMMIT")
    started = time.monotonic()
    ticks = await ticks_while(work)
    other.close()
    assert work.result() != threading.get_ident()
    assert time.monotonic() - started >= HOLD_SECONDS
    assert ticks >= 15
    assert bodies(engine) == ["other process", "ours"]
    # The connection that met the busy file has its patience back for threads.
    with engine.connect() as connection:
        timeouts = {connection.exec_driver_sql("PRAGMA busy_timeout").scalar()}
    assert timeouts == {30000}


async def test_a_rolled_back_attempt_may_retry_on_the_loop(engine: Engine) -> None:
    sessions = session_factory(engine)
    write(sessions, "taken")
    attempts: list[int] = []

    def insert_with_retry() -> int:
        for body in ("taken", "free"):
            try:
                return write(sessions, body)
            except IntegrityError:
                attempts.append(threading.get_ident())
        raise AssertionError("unreachable")

    ran_on = await run_transaction(sessions, insert_with_retry)
    assert attempts == [threading.get_ident()] and ran_on == threading.get_ident()
    assert bodies(engine) == ["taken", "free"]


async def test_a_second_transaction_after_a_commit_is_refused(engine: Engine) -> None:
    sessions = session_factory(engine)

    def two_commits() -> None:
        write(sessions, "one")
        write(sessions, "two")

    with pytest.raises(RuntimeError, match="second write transaction"):
        await run_transaction(sessions, two_commits)
    assert bodies(engine) == ["one"]
    # Refused before taking the lock: the next writer is not stuck.
    await asyncio.wait_for(asyncio.to_thread(write, sessions, "three"), 5)
    assert await run_transaction(sessions, write, sessions, "four") == threading.get_ident()


async def test_a_failing_work_gives_the_lock_back(engine: Engine) -> None:
    sessions = session_factory(engine)

    def fails() -> None:
        with sessions.begin() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await run_transaction(sessions, fails)
    await asyncio.wait_for(asyncio.to_thread(write, sessions, "after"), 5)
    assert bodies(engine) == ["after"]


@pytest.mark.postgres
async def test_postgres_work_runs_in_a_thread(postgres_server: str) -> None:
    engine = make_engine(postgres_server)
    try:
        sessions = session_factory(engine)

        def where() -> int:
            with sessions.begin() as session:
                session.execute(text("SELECT 1"))
            return threading.get_ident()

        assert await run_transaction(sessions, where) != threading.get_ident()
    finally:
        engine.dispose()
