"""Migrations applied to a store that already holds conversations (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import func, select, text

from bot.store.db import alembic_config, make_engine, migrate
from bot.store.models import Customer, Message, OutboxItem


def test_a_store_in_use_is_migrated_with_its_rows_and_their_references(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        command.upgrade(alembic_config(engine), "0002")
        with engine.begin() as db:
            db.execute(
                text(
                    "INSERT INTO customers (id, channel, platform_user_id, display_name,"
                    " created_at)"
                    " VALUES (1, 'webchat', 's1', 'Jane', '2026-11-23 12:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO conversations (id, channel, place, visibility, customer_id,"
                    " owner, created_at, updated_at) VALUES (1, 'webchat', 'web:s1', 'private',"
                    " 1, 'bot', '2026-11-23 12:00:00', '2026-11-23 12:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, channel, direction, author, kind,"
                    " text, platform_message_id, created_at) VALUES (1, 1, 'webchat', 'out',"
                    " 'bot', 'text', 'hi', 'web-1', '2026-11-23 12:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO outbox (id, idempotency_key, conversation_id, message_id, channel,"
                    " payload, status, attempts, next_attempt_at, created_at) VALUES (1, 'k', 1,"
                    " 1, 'webchat', '{}', 'sent', 1, '2026-11-23 12:00:00',"
                    " '2026-11-23 12:00:00')"
                )
            )
        migrate(engine)
        with engine.begin() as db:
            assert db.scalar(select(func.count()).select_from(Message)) == 1
            assert db.scalar(select(OutboxItem.message_id)) == 1
            assert db.scalar(select(Customer.display_name)) == "Jane"
            db.execute(
                Message.__table__.update().values(platform_message_id="a" * 64 + ":" + "b" * 64)
            )
            if engine.dialect.name == "sqlite":
                assert db.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert db.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
