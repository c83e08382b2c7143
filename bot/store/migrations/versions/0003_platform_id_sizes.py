"""ids of every platform fit: a web chat message id, a Telegram display name

The web chat's message id is ``<session>:<id>``, two ids of up to 64
characters (the page makes 32-hex ones: 65 characters in all); a Telegram
display name is a first and a last name of up to 64 characters each. Both
were longer than their columns, which PostgreSQL enforces and SQLite does not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "platform_message_id",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "display_name",
            existing_type=sa.String(length=128),
            type_=sa.String(length=255),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "display_name",
            existing_type=sa.String(length=255),
            type_=sa.String(length=128),
            existing_nullable=True,
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "platform_message_id",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
