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
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
