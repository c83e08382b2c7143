"""Alembic environment: runs migrations on the engine handed over by bot.store.db."""

from __future__ import annotations

from alembic import context

from bot.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from bot.store.db import make_engine

    engine = make_engine(str(config.get_main_option("sqlalchemy.url")))

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a column by rebuilding its table (batch mode): with foreign
        # keys on, dropping the old copy of a table that others refer to (messages,
        # customers) deletes its rows first, and fails once any row refers to them.
        # The pragma only works outside a transaction: set on the DBAPI connection
        # before SQLAlchemy begins one; the references are checked before commit.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            # Alembic commits each SQLite migration on its own; check what they left.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"a migration left rows with broken references: {broken}")
    finally:
        if sqlite:
            if connection.in_transaction():  # begun by the reads above: nothing to keep
                connection.rollback()
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
