"""tickets.customer_waiting_since: when the customer's unanswered stretch began

The service levels counted the customer's wait for the agents' reply from
their LATEST unanswered message (tickets.last_customer_at), so a customer who
wrote again looked as if they had just started waiting, and the next-response
target restarted with every message. The column holds their FIRST message the
agents have not answered: set when a customer message arrives and it is empty,
cleared when an agent's reply is sent (bot/conversation/unanswered.py); NULL
when the agents answered last.

The backfill gives the tickets waiting now what the old rows know: the
handover for a ticket no agent has answered yet (what the new code writes),
else the customer's latest message after the agents' last reply (their earlier
unanswered messages were not recorded).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

tickets = sa.table(
    "tickets",
    sa.column("created_at", sa.DateTime()),
    sa.column("last_customer_at", sa.DateTime()),
    sa.column("last_agent_at", sa.DateTime()),
    sa.column("customer_waiting_since", sa.DateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_waiting_since", sa.DateTime()))
    op.execute(
        tickets.update()
        .where(
            sa.or_(
                tickets.c.last_agent_at.is_(None),
                tickets.c.last_customer_at > tickets.c.last_agent_at,
            )
        )
        .values(
            customer_waiting_since=sa.case(
                (tickets.c.last_agent_at.is_(None), tickets.c.created_at),
                else_=tickets.c.last_customer_at,
            )
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("customer_waiting_since")
