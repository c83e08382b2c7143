"""Where imported archive posts wait for a trainer: two tables beside the care store's.

They live in the same database as the review inbox (``CARE_DATABASE_URL``)
but belong to the review tools alone, so they have their own metadata,
created on first use (``create_all`` only adds what is missing): the
gateway's migrations never need to know about them.

* ``archive_imports``: one row per imported file (by its content's SHA-256):
  how far the import got, so running it again continues.
* ``archive_posts``: one row per distinct customer post (exact duplicates,
  same words ignoring case, punctuation, handles and links, are counted, not
  stored again), redacted, with the model's suggestion, its group and its
  place in the review order. The author is never stored.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base

metadata = MetaData()
Base = declarative_base(metadata=metadata)


class Stage(str, enum.Enum):
    """How far an import got; each stage only does what the rows still lack."""

    READ = "read"  # posts read, redacted, deduplicated and stored
    SUGGESTED = "suggested"  # the model's intent on each post, and its sentence vector
    GROUPED = "grouped"  # groups, near-duplicates, outliers and the review order
    DONE = "done"


class PostStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DISCARDED = "discarded"


class ArchiveImport(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "archive_imports"

    id = Column(Integer, primary_key=True)
    fingerprint = Column(String(64), nullable=False, unique=True)  # SHA-256 of the file
    name = Column(String(255), nullable=False)
    format = Column(String(16), nullable=False)
    stage = Column(Enum(Stage, native_enum=False, length=16), nullable=False)
    read = Column(Integer, nullable=False, default=0)  # posts in the file
    customers = Column(Integer, nullable=False, default=0)  # of them the customers'
    kept = Column(Integer, nullable=False, default=0)  # distinct posts stored
    skipped = Column(JSON)  # why posts were not kept: {"duplicate": n, "brand": n, ...}
    started_at = Column(DateTime, nullable=False)
    finished_at = Column(DateTime)


class ArchivePost(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "archive_posts"
    __table_args__ = (Index("ix_archive_posts_order", "status", "priority"),)

    id = Column(Integer, primary_key=True)
    import_id = Column(Integer, ForeignKey("archive_imports.id"), nullable=False, index=True)
    source_key = Column(String(64), nullable=False)  # the post's id in its file
    posted_at = Column(String(40))
    text = Column(Text, nullable=False)  # redacted, in Rasa's annotated training format
    removed = Column(JSON)
    # SHA-256 of the normalised text: exact duplicates, across imports too.
    text_key = Column(String(64), nullable=False, unique=True)
    copies = Column(Integer, nullable=False, default=1)
    reply = Column(Text)  # the brand's reply to it, redacted
    next_post = Column(Text)  # the customer's next post in the thread, redacted
    intent = Column(String(64))  # the current model's best intent
    confidence = Column(Float)
    runner_up = Column(String(64))
    runner_up_confidence = Column(Float)
    vector = Column(LargeBinary)  # the sentence encoder's vector (float16)
    group_id = Column(Integer, index=True)  # the id of the group's centre post
    group_size = Column(Integer)
    centre = Column(Boolean, nullable=False, default=False)
    outlier = Column(Boolean, nullable=False, default=False)
    near_duplicate_of = Column(Integer)  # says the same as that post: decided with it
    priority = Column(Float)  # lower is reviewed first
    status = Column(
        Enum(PostStatus, native_enum=False, length=16),
        nullable=False,
        default=PostStatus.PENDING,
    )
    final_intent = Column(String(64))
    final_text = Column(Text)
    decided_by = Column(String(64))
    decided_at = Column(DateTime)


def create_tables(engine: Engine) -> None:
    """Adds the archive tables where they are missing."""
    metadata.create_all(engine)
