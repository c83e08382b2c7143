"""archive: a brand's imported posts waiting for a trainer

``python -m bot.review import`` stores an archive's customer posts here
(``archive_imports``, ``archive_posts``), in the same store as the live
review items and under the same migrations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON()),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_table(
        "archive_posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("archive_imports.id"), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("posted_at", sa.String(40)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("removed", sa.JSON()),
        sa.Column("text_key", sa.String(64), nullable=False, unique=True),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("reply", sa.Text()),
        sa.Column("next_post", sa.Text()),
        sa.Column("intent", sa.String(64)),
        sa.Column("confidence", sa.Float()),
        sa.Column("runner_up", sa.String(64)),
        sa.Column("runner_up_confidence", sa.Float()),
        sa.Column("vector", sa.LargeBinary()),
        sa.Column("group_id", sa.Integer()),
        sa.Column("group_size", sa.Integer()),
        sa.Column("centre", sa.Boolean(), nullable=False),
        sa.Column("outlier", sa.Boolean(), nullable=False),
        sa.Column("near_duplicate_of", sa.Integer()),
        sa.Column("priority", sa.Float()),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("final_intent", sa.String(64)),
        sa.Column("final_text", sa.Text()),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime()),
    )
    op.create_index("ix_archive_posts_import_id", "archive_posts", ["import_id"])
    op.create_index("ix_archive_posts_group_id", "archive_posts", ["group_id"])
    op.create_index("ix_archive_posts_order", "archive_posts", ["status", "priority"])


def downgrade() -> None:
    op.drop_table("archive_posts")
    op.drop_table("archive_imports")
