"""conversations.handback_owed: a hand-back the assistant has not heard of yet

A conversation given back to the bot (an agent's hand-back, or the gateway's
give-back when no one came) must be given back at the assistant too, or Rasa
answers the customer's next message still in its handed-over state. The
column holds the ticket whose hand-back the assistant still has to be told,
set in the transaction that gives the conversation back and cleared once the
assistant was told (bot/conversation/handbacks.py); NULL otherwise.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handback_owed", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("handback_owed")
