"""Connection to the airline database, created once per process and on first use."""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.brand import PROJECT_ROOT
from bot.store import sqlite

DEFAULT_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'airline.db'}"

_factory: sessionmaker | None = None


def database_url() -> str:
    """``AIRLINE_DATABASE_URL``, or a SQLite file under ``var/``."""
    return os.environ.get("AIRLINE_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str) -> Engine:
    """Creates an engine; SQLite files get WAL so readers don't block the seeder."""
    return sqlite.engine_for(url, busy_timeout_ms=5000, pool_pre_ping=True)


def configure(url: str | None = None) -> sessionmaker:
    """(Re)binds the process-wide session factory to ``url`` (default: :func:`database_url`)."""
    global _factory
    _factory = sessionmaker(make_engine(url or database_url()), class_=Session, future=True)
    return _factory


def session_factory() -> sessionmaker:
    """The process-wide session factory, configured from the environment on first use."""
    return _factory or configure()
