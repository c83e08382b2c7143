"""ratings: customer satisfaction offered after a resolution, and the score tapped

One row per resolution (an agent resolved a ticket, or the bot resolved a
request): ``resolution`` is unique, so a resolution is offered a rating once
(bot/conversation/csat.py); ``score`` (1 to 5) stays empty until the customer
taps. The analytics read them by ``offered_at`` (docs/analytics.md, CSAT).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id")),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(64), nullable=False, unique=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id")),
        sa.Column("score", sa.Integer()),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.Column("rated_at", sa.DateTime()),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
    )
    op.create_index("ix_ratings_conversation_id", "ratings", ["conversation_id"])
    op.create_index("ix_ratings_offered_at", "ratings", ["offered_at"])


def downgrade() -> None:
    op.drop_table("ratings")
