"""Engine, sessions and schema migrations of the care store.

SQLite (WAL) is the embedded default; the same code runs on PostgreSQL given
a ``postgresql://`` URL. The schema is created and changed by Alembic
migrations (``bot/store/migrations``), applied at start-up.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        if path and path != ":memory:":
            # Keep connections open: opening one (and its pragmas) costs more
            # than the short transactions the gateway runs.
            options.setdefault("poolclass", QueuePool)
            options.setdefault("pool_size", 8)
            options.setdefault("max_overflow", 32)
    else:
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", 10)
    engine = create_engine(url, future=True, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        _serialise_sqlite_writes(engine)
    return engine


def _serialise_sqlite_writes(engine: Engine) -> None:
    """One write transaction at a time per process, handed over without sleeping.

    SQLite allows one writer. A transaction that may write starts with BEGIN
    IMMEDIATE (a deferred one could fail when it upgrades after another
    writer's commit); waiting writers queue on a lock here instead of in
    SQLite's busy handler, which sleeps in steps of milliseconds. Read-only
    sessions (:func:`read_session_factory`) begin deferred and never wait: WAL
    readers see the last commit.
    """
    lock = threading.Lock()

    def begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        lock.acquire()
        conn.info[_HOLDS_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Connection) -> None:
        if conn.info.pop(_HOLDS_LOCK, False):
            lock.release()

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


READ_ONLY = "care_read_only"
_HOLDS_LOCK = "care_holds_write_lock"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


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
