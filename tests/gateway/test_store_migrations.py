"""Migrations applied to a store that already holds conversations (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from alembic import command
from sqlalchemy import DateTime, bindparam, func, inspect, select, text

from bot.desk.service_levels import waiting_since
from bot.store.db import alembic_config, make_engine, migrate, session_factory
from bot.store.models import Customer, Message, OutboxItem, Ticket


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


def test_tickets_waiting_at_the_upgrade_wait_from_what_the_store_knew(
    empty_database_url: str,
) -> None:
    """Migration 0008 on a store made at 0007: a ticket whose customer wrote after the
    agents' last reply waits since that message, one no agent has answered yet since its
    handover, an answered one not at all; and the migration goes down and up again."""
    engine = make_engine(empty_database_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0007")
        with engine.begin() as db:
            db.execute(
                text(
                    "INSERT INTO customers (id, channel, platform_user_id, created_at)"
                    " VALUES (1, 'webchat', 's1', '2026-11-23 12:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO conversations (id, channel, place, visibility, customer_id,"
                    " owner, agent_id, created_at, updated_at) VALUES (1, 'webchat', 'web:s1',"
                    " 'private', 1, 'agent', 'alice', '2026-11-23 12:00:00',"
                    " '2026-11-23 12:00:00')"
                )
            )
            opened, first = datetime(2026, 11, 23, 12, 0), datetime(2026, 11, 23, 12, 5)
            for ticket, status, agent_at, customer_at in (
                (1, "claimed", opened + minutes(10), opened + minutes(40)),  # waiting
                (2, "open", None, opened + minutes(20)),  # no agent yet
                (3, "claimed", opened + minutes(30), opened + minutes(20)),  # answered
                (4, "resolved", opened + minutes(30), opened + minutes(30)),  # answered
            ):
                db.execute(
                    text(
                        "INSERT INTO tickets (id, conversation_id, reason, status, priority,"
                        " context, created_at, first_response_at, last_agent_at,"
                        " last_customer_at) VALUES (:id, 1, 'request_human', :status,"
                        " 'normal', '{}', :opened, :first, :agent_at, :customer_at)"
                    ).bindparams(
                        bindparam("opened", type_=DateTime()),
                        bindparam("first", type_=DateTime()),
                        bindparam("agent_at", type_=DateTime()),
                        bindparam("customer_at", type_=DateTime()),
                    ),
                    {
                        "id": ticket,
                        "status": status,
                        "opened": opened,
                        "first": None if agent_at is None else first,
                        "agent_at": agent_at,
                        "customer_at": customer_at,
                    },
                )
        migrate(engine)

        def waiting() -> dict[int, datetime | None]:
            with engine.connect() as db:
                return dict(db.execute(select(Ticket.id, Ticket.customer_waiting_since)).all())

        backfilled = {
            1: opened + minutes(40),  # the customer's latest message: all the store knew
            2: opened,  # the handover, as a new ticket's
            3: None,
            4: None,
        }
        assert waiting() == backfilled
        with session_factory(engine)() as db:
            assert waiting_since(db.get(Ticket, 1)) == opened + minutes(40)
        command.downgrade(config, "0007")
        with engine.connect() as db:
            assert "customer_waiting_since" not in {
                c["name"] for c in inspect(db).get_columns("tickets")
            }
        command.upgrade(config, "head")
        assert waiting() == backfilled
    finally:
        engine.dispose()


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)
