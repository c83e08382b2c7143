"""Connection to the airline database, created once per process and on first use."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.brand import PROJECT_ROOT

DEFAULT_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'airline.db'}"

_factory: sessionmaker | None = None


def database_url() -> str:
    """``AIRLINE_DATABASE_URL``, or a SQLite file under ``var/``."""
    return os.environ.get("AIRLINE_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str) -> Engine:
    """Creates an engine; SQLite files get WAL so readers don't block the seeder."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def configure(url: str | None = None) -> sessionmaker:
    """(Re)binds the process-wide session factory to ``url`` (default: :func:`database_url`)."""
    global _factory
    _factory = sessionmaker(make_engine(url or database_url()), class_=Session, future=True)
    return _factory


def session_factory() -> sessionmaker:
    """The process-wide session factory, configured from the environment on first use."""
    return _factory or configure()
