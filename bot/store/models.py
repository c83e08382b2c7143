"""Tables of the care store (SQLAlchemy 1.4 declarative; queries in the 2.0 style).

Just over 400 lines: every table of the one store in one module, read beside
its migrations (bot/store/migrations/versions/).
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

from bot.contract import RATING_SCALE

Base = declarative_base()


def _enum(kind: type[enum.Enum], length: int = 24) -> Enum:
    # Stored as plain strings: adding a value needs no database type change.
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Owner(str, enum.Enum):
    """Who speaks for the brand in a conversation."""

    BOT = "bot"
    QUEUE = "queue"  # handed over, waiting for an agent
    AGENT = "agent"


class Direction(str, enum.Enum):
    """Whether a message came from the customer or went to them."""

    IN = "in"
    OUT = "out"


class Author(str, enum.Enum):
    """Who wrote a message."""

    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"  # the gateway itself (e.g. "a person will reply")


class InboundStatus(str, enum.Enum):
    """Where a customer message is in its handling."""

    PENDING = "pending"
    DONE = "done"


class OutboxStatus(str, enum.Enum):
    """Where a reply is on its way out."""

    PENDING = "pending"
    SENDING = "sending"  # a send was attempted; on restart its outcome is unknown
    SENT = "sent"
    FAILED = "failed"


class TicketStatus(str, enum.Enum):
    """Where a handover is."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"


class Priority(str, enum.Enum):
    """How urgent a ticket is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Customer(Base):  # type: ignore[misc,valid-type]
    """A person on one channel."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    platform_user_id = Column(String(64), nullable=False)
    handle = Column(String(64))
    display_name = Column(String(255))  # Telegram: a first and a last name, 64 each
    created_at = Column(DateTime, nullable=False)


class Conversation(Base):  # type: ignore[misc,valid-type]
    """One customer in one place: a chat, a DM thread, a public thread."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "place"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    place = Column(String(128), nullable=False)
    visibility = Column(String(8), nullable=False)  # bot.contract.Visibility
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    owner = Column(_enum(Owner), nullable=False, default=Owner.BOT)
    agent_id = Column(String(64))
    # The customer's latest public post: where a public reply goes.
    reply_to_platform_id = Column(String(64))
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)
    # Several gateway workers: the one holding the lease handles the conversation.
    lease_owner = Column(String(64))
    lease_expires_at = Column(DateTime)
    # Seeded demo data (bot.analytics.demo): reports read real or demo, never both.
    demo = Column(Boolean, nullable=False, default=False, server_default="0")
    # The ticket whose hand-back the assistant has not been told of yet: set when the
    # conversation is given back to the bot, cleared once Rasa heard it (always before
    # it takes the customer's next message: bot/conversation/handbacks.py).
    handback_owed = Column(Integer)

    customer = relationship(Customer, lazy="joined")

    @property
    def rasa_sender_id(self) -> str:
        """The conversation's id at the assistant (stable, and free of personal data)."""
        return f"{self.channel}-{self.id}"


class Message(Base):  # type: ignore[misc,valid-type]
    """A message in or out, with its platform id and, for customer messages, the NLU result."""

    __tablename__ = "messages"
    __table_args__ = (
        # Redelivery of the same platform message is harmless.
        UniqueConstraint("channel", "direction", "platform_message_id"),
        Index("ix_messages_pending", "status", "conversation_id", "id"),
        Index("ix_messages_created_at", "created_at"),
        # A conversation's messages in order (analytics: what followed each turn).
        Index(
            "ix_messages_conversation_order",
            "conversation_id",
            "id",
            postgresql_include=["author", "direction", "intent", "confidence", "created_at"],
        ),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    direction = Column(_enum(Direction), nullable=False)
    author = Column(_enum(Author), nullable=False)
    kind = Column(String(16), nullable=False, default="text")
    text = Column(Text, nullable=False, default="")
    # Up to "<64 characters>:<64 characters>" (the web chat's session and message id).
    platform_message_id = Column(String(255))
    status = Column(_enum(InboundStatus))  # inbound only
    intent = Column(String(64))
    confidence = Column(Float)
    entities = Column(JSON)
    agent_id = Column(String(64))
    raw = Column(JSON)  # the platform payload, kept beside our own fields
    created_at = Column(DateTime, nullable=False)
    handled_at = Column(DateTime)

    conversation = relationship(Conversation)


class Ticket(Base):  # type: ignore[misc,valid-type]
    """A handover: why, the context for the agent, and its progress."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_created_at", "created_at"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    reason = Column(String(32), nullable=False)
    status = Column(_enum(TicketStatus), nullable=False, default=TicketStatus.OPEN)
    priority = Column(_enum(Priority), nullable=False, default=Priority.NORMAL)
    agent_id = Column(String(64))
    context = Column(JSON, nullable=False)
    created_at = Column(DateTime, nullable=False)
    claimed_at = Column(DateTime)
    first_response_at = Column(DateTime)
    last_customer_at = Column(DateTime)
    last_agent_at = Column(DateTime)
    # The customer's first message the agents have not answered; None when they answered
    # last (bot/conversation/unanswered.py). The service levels count the wait from it.
    customer_waiting_since = Column(DateTime)
    resolved_at = Column(DateTime)
    desk_channel = Column(String(64))
    desk_thread = Column(String(64))
    sla_breached = Column(String(32))

    conversation = relationship(Conversation, lazy="joined")


class OutboxItem(Base):  # type: ignore[misc,valid-type]
    """A reply on its way to a platform; the key makes sending it twice impossible."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String(128), nullable=False, unique=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    message_id = Column(Integer, ForeignKey("messages.id"))
    channel = Column(String(16), nullable=False)
    payload = Column(JSON, nullable=False)
    status = Column(_enum(OutboxStatus), nullable=False, default=OutboxStatus.PENDING)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False)
    last_error = Column(Text)
    platform_message_id = Column(String(64))
    created_at = Column(DateTime, nullable=False)
    sent_at = Column(DateTime)
    # The worker that is sending it, and since when (a crashed worker's claim expires).
    claimed_by = Column(String(64))
    claimed_at = Column(DateTime)


class Rating(Base):  # type: ignore[misc,valid-type]
    """A satisfaction rating offered after a resolution (bot/conversation/csat.py) and the
    score tapped; one per resolution (``resolution``, unique: "ticket:<id>", "bot:<id>")."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(f"score BETWEEN 1 AND {RATING_SCALE}", name="ck_ratings_score"),
        Index("ix_ratings_offered_at", "offered_at"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"))  # an agent's resolution
    channel = Column(String(16), nullable=False)
    resolution = Column(String(64), nullable=False, unique=True)
    message_id = Column(Integer, ForeignKey("messages.id"))  # the question, as sent
    score = Column(Integer)  # None until the customer taps
    offered_at = Column(DateTime, nullable=False)
    rated_at = Column(DateTime)


class AuditEvent(Base):  # type: ignore[misc,valid-type]
    """Who did what, when: ownership changes, refusals, failures."""

    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, index=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(48), nullable=False)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), index=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"))
    details = Column(JSON)


class Cursor(Base):  # type: ignore[misc,valid-type]
    """How far a channel has read its source (Telegram offset, last tweet id...)."""

    __tablename__ = "cursors"

    channel = Column(String(16), primary_key=True)
    name = Column(String(32), primary_key=True)
    value = Column(String(64), nullable=False)
    updated_at = Column(DateTime, nullable=False)


class ProcessedEvent(Base):  # type: ignore[misc,valid-type]
    """Events from a source that retries (Slack), recorded once."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id = Column(Integer, primary_key=True)
    source = Column(String(16), nullable=False)
    event_id = Column(String(128), nullable=False)
    created_at = Column(DateTime, nullable=False)


class ReviewSource(str, enum.Enum):
    """Why a customer message is in the trainers' review inbox."""

    LOW_CONFIDENCE = "low_confidence"  # the top intent's confidence fell under the threshold
    HANDOVER = "handover"  # the message led to a handover to a person
    RELABELLED = "relabelled"  # an agent said the bot understood it wrong
    CONTRADICTED = "contradicted"  # answered with confidence; the customer's next message said no


class ReviewStatus(str, enum.Enum):
    """Where a review item stands."""

    PENDING = "pending"
    APPROVED = "approved"  # written into the training data
    DISCARDED = "discarded"


class ReviewItem(Base):  # type: ignore[misc,valid-type]
    """A customer message a trainer should look at, with personal data already taken out.

    ``text`` is redacted before the row is written (``bot.review.redaction``):
    the original stays only in ``messages``, which the inbox never copies.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("message_id", "source"),
        Index("ix_review_items_status", "status", "id"),
    )

    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id"), nullable=False, index=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False)
    channel = Column(String(16), nullable=False)
    source = Column(_enum(ReviewSource), nullable=False)
    text = Column(Text, nullable=False)  # redacted, in Rasa's annotated training format
    removed = Column(JSON)  # kinds of personal data taken out
    predicted_intent = Column(String(64))
    confidence = Column(Float)
    suggested_intent = Column(String(64))  # an agent's relabel, when there is one
    reason = Column(String(32))  # the handover reason, for handover items
    suggested_by = Column(String(64))
    status = Column(_enum(ReviewStatus), nullable=False, default=ReviewStatus.PENDING)
    final_intent = Column(String(64))
    final_text = Column(Text)
    decided_by = Column(String(64))
    decided_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False)


class ImportStage(str, enum.Enum):
    """How far the import of an archive got; each stage only does what the rows still lack."""

    READ = "read"  # posts read, redacted, deduplicated and stored
    SUGGESTED = "suggested"  # the model's intent on each post, and its sentence vector
    GROUPED = "grouped"  # groups, near-duplicates, outliers and the review order
    DONE = "done"


class ArchiveImport(Base):  # type: ignore[misc,valid-type]
    """One imported archive file (``python -m bot.review import``), by its content's SHA-256:
    how far the import got, so running it again continues."""

    __tablename__ = "archive_imports"

    id = Column(Integer, primary_key=True)
    fingerprint = Column(String(64), nullable=False, unique=True)  # SHA-256 of the file
    name = Column(String(255), nullable=False)
    format = Column(String(16), nullable=False)
    stage = Column(_enum(ImportStage), nullable=False)
    read = Column(Integer, nullable=False, default=0)  # posts in the file
    customers = Column(Integer, nullable=False, default=0)  # of them the customers'
    kept = Column(Integer, nullable=False, default=0)  # distinct posts stored
    skipped = Column(JSON)  # why posts were not kept: {"duplicate": n, "brand": n, ...}
    started_at = Column(DateTime, nullable=False)
    finished_at = Column(DateTime)


class ArchivePost(Base):  # type: ignore[misc,valid-type]
    """A distinct customer post from an imported archive, waiting for a trainer.

    Exact duplicates (the same words ignoring case, punctuation, handles and links) are
    counted in ``copies``, not stored again; the text is redacted as review items' are,
    and the author is never stored.
    """

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
    status = Column(_enum(ReviewStatus), nullable=False, default=ReviewStatus.PENDING)
    final_intent = Column(String(64))
    final_text = Column(Text)
    decided_by = Column(String(64))
    decided_at = Column(DateTime)
