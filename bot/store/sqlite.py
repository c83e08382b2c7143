"""SQLite files as both databases use them (the care store and the airline's demo systems).

One recipe: the file's directory is created, connections get WAL (readers never
block the writer), foreign keys and a busy timeout. The actions' airline
database (actions/airline/db.py) imports this small module and nothing else
of the gateway.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


def is_file(url: str) -> bool:
    """Whether ``url`` names a SQLite file (not memory, not another database)."""
    path = file_path(url)
    return bool(path) and path != ":memory:"


def file_path(url: str) -> str:
    """The path part of a SQLite URL ("" for another database)."""
    return url.split("///", 1)[-1] if url.startswith("sqlite") else ""


def engine_for(
    url: str, *, busy_timeout_ms: int, synchronous: str | None = None, **options: Any
) -> Engine:
    """An engine for ``url``; a SQLite file gets its directory, WAL, foreign keys and a
    busy timeout (and ``synchronous``, when given) on every connection."""
    if is_file(url):
        path = file_path(url)
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    engine = create_engine(url, future=True, **options)
    if engine.dialect.name == "sqlite":
        pragmas = ["PRAGMA journal_mode=WAL"]
        if synchronous is not None:
            pragmas.append(f"PRAGMA synchronous={synchronous}")
        pragmas += ["PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={busy_timeout_ms}"]

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        event.listen(engine, "connect", on_connect)
    return engine
