"""Engine, sessions and schema migrations of the care store.

SQLite (WAL) is the embedded default; the same code runs on PostgreSQL given
a ``postgresql://`` URL. The schema is created and changed by Alembic
migrations (``bot/store/migrations``), applied at start-up.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.store import sqlite

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        if sqlite.is_file(url):
            # Keep connections open: opening one (and its pragmas) costs more
            # than the short transactions the gateway runs.
            options.setdefault("poolclass", QueuePool)
            options.setdefault("pool_size", 8)
            options.setdefault("max_overflow", 32)
    else:
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", 10)
    engine = sqlite.engine_for(
        url, busy_timeout_ms=BUSY_TIMEOUT_MS, synchronous="NORMAL", **options
    )
    if engine.dialect.name == "sqlite":
        # Transactions begin where _serialise_sqlite_writes says, not in the driver.
        event.listen(engine, "connect", _no_driver_transactions, insert=True)
        _serialise_sqlite_writes(engine)
    return engine


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _serialise_sqlite_writes(engine: Engine) -> None:
    """One write transaction at a time per process, handed over without sleeping.

    SQLite allows one writer. A transaction that may write starts with BEGIN
    IMMEDIATE (a deferred one could fail when it upgrades after another
    writer's commit); waiting writers queue on a lock here instead of in
    SQLite's busy handler, which sleeps in steps of milliseconds. Read-only
    sessions (:func:`read_session_factory`) begin deferred and never wait: WAL
    readers see the last commit.
    """
    writer = _SqliteWriter()
    _WRITERS[engine] = writer
    event.listen(engine, "begin", writer.begin)
    event.listen(engine, "commit", writer.committed)
    event.listen(engine, "rollback", writer.rolled_back)


class Contended(Exception):
    """The write lock was taken when a transaction on the event loop wanted it."""


# States of a thread's run_transaction call (see _SqliteWriter.begin).
_READY, _BEGAN, _COMMITTED = "ready", "began", "committed"


class _SqliteWriter:
    """The process's SQLite write lock, and the never-waiting mode of
    :func:`run_transaction` (per thread: the event loop's thread uses it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()

    def begin(self, conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        state = getattr(self.local, "inline", None)
        if state is None:
            self.lock.acquire()
            self._begin_immediate(conn)
            return
        if state != _READY:
            raise RuntimeError("run_transaction: the work began a second write transaction")
        if not self.lock.acquire(blocking=False):
            raise Contended()
        raw = conn.connection.dbapi_connection
        # Another process may hold the file's lock: fail at once instead of
        # sleeping on the event loop (the caller runs the work in a thread).
        raw.execute("PRAGMA busy_timeout=0")
        try:
            self._begin_immediate(conn)
        except OperationalError as error:
            raise Contended() from error
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.local.inline = _BEGAN

    def _begin_immediate(self, conn: Connection) -> None:
        conn.info[_HOLDS_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._release(conn)
            raise

    def committed(self, conn: Connection) -> None:
        self._release(conn)
        if getattr(self.local, "inline", None) == _BEGAN:
            self.local.inline = _COMMITTED

    def rolled_back(self, conn: Connection) -> None:
        self._release(conn)
        if getattr(self.local, "inline", None) == _BEGAN:
            # Nothing was written: a retry of the work may begin again.
            self.local.inline = _READY

    def _release(self, conn: Connection) -> None:
        if conn.info.pop(_HOLDS_LOCK, False):
            self.lock.release()


_WRITERS: weakref.WeakKeyDictionary[Engine, _SqliteWriter] = weakref.WeakKeyDictionary()
BUSY_TIMEOUT_MS = 30000

T = TypeVar("T")


async def run_transaction(sessions: sessionmaker, work: Callable[..., T], *args: Any) -> T:
    """Runs ``work(*args)``, one short write transaction, without stalling the event loop.

    On SQLite, when no other writer holds the lock, it runs right here on the
    event loop: a transaction of a few statements takes about half a
    millisecond, less than the two thread hops of :func:`asyncio.to_thread`
    (measured in docs/gateway.md), and a turn has two of them on its way. It
    never waits there: when the lock is taken (in this process or by another
    one), the work runs in a worker thread like any other. On PostgreSQL
    every statement is a network round trip, so it always runs in a thread.

    ``work`` may commit one write transaction (a second is an error) and roll
    back and retry before that; what it does before its transaction begins
    must be harmless to repeat: a contended start runs it again in the thread.
    """
    writer = _WRITERS.get(sessions.kw.get("bind"))
    if writer is None:
        return await asyncio.to_thread(work, *args)
    writer.local.inline = _READY
    try:
        return work(*args)
    except Contended:
        pass
    finally:
        writer.local.inline = None
    return await asyncio.to_thread(work, *args)


READ_ONLY = "care_read_only"
_HOLDS_LOCK = "care_holds_write_lock"


def session_factory(engine: Engine) -> sessionmaker:
    """The one sessionmaker of a process; callers own their sessions' lifecycle."""
    return sessionmaker(engine, class_=Session, future=True, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that only read: on SQLite they never wait for a writer."""
    return sessionmaker(
        engine.execution_options(**{READ_ONLY: True}),
        class_=Session,
        future=True,
        expire_on_commit=False,
    )


def reads_beside(sessions: sessionmaker) -> sessionmaker:
    """Read-only sessions (:func:`read_session_factory`) on the engine of ``sessions``."""
    return read_session_factory(sessions.kw["bind"])


@contextmanager
def reading(reads: sessionmaker, session: Session | None = None) -> Iterator[Session]:
    """``session`` when the caller has one (one request, one session), else a read-only
    session of its own from ``reads``, closed afterwards."""
    if session is not None:
        yield session
        return
    with reads() as own:
        yield own


def alembic_config(engine: Engine) -> Any:
    """An Alembic configuration bound to ``engine`` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Brings the schema to the latest migration."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
