"""Customer satisfaction (CSAT): one short question with one-tap ratings after a resolution.

A conversation is **resolved** when an agent resolves its ticket
(bot/desk/operations.py calls :meth:`Ratings.after_ticket`), or when the bot
resolved it: the customer thanks it or says goodbye (``contract.CLOSING``, the
assistant's top intent, not a fallback's guess) after the bot answered their
latest request, within 24 hours and with no ticket opened since: the
analytics' containment, seen from the customer's side (docs/analytics.md).

**Once per resolution.** The offer is a rating row whose ``resolution`` key
(``ticket:<id>``, ``bot:<the request's message id>``) is unique, the
question's message and its outbox item, all written in the transaction that
records the resolution: a crash before its commit offers nothing; after it,
the outbox sends the question (its idempotency key is the rating's). A
platform that cannot tell whether a send arrived may show the question twice
(bot/outbox.py), but both copies carry the one rating: it is still rated once.

**Only where one tap answers it**: private conversations on the channels whose
adapter shows the buttons (``channels``: the web chat and Telegram's private
chats). Twitter mentions are public and our Twitter DMs have no buttons: no
question there. A typed "5" is a message like any other, never a rating.

**A tap** (:class:`Tap`) is recorded once: the first score stays; the same
tap again (a double tap, a retried request) changes nothing; a tap naming a
rating that is not the tapping customer's own, or a score off the scale, is
ignored (:attr:`Recorded.UNKNOWN`) and touches no conversation.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.brand import Brand
from bot.contract import CLOSING, RATING_SCALE, SMALL_TALK, Visibility
from bot.conversation.ingest import StoreUnavailable
from bot.conversation.replies import Target, queue_text
from bot.store.models import Author, Conversation, Customer, Message, Rating, Ticket
from bot.store.records import Outgoing, utcnow

RATINGS: Table = Rating.__table__
#: How long after the bot answered a request the customer's thanks still resolves it.
BOT_RESOLUTION_WITHIN = timedelta(hours=24)
#: The outbox payload's keys for the question's buttons (the channels read them).
RATING_KEY = "rating"
LABELS_KEY = "labels"


@dataclass(frozen=True)
class Tap:
    """A customer's tap on a rating button, as a channel read it."""

    channel: str
    place: str  # the conversation's place on the channel, where the tap came from
    customer: str  # the tapping customer's platform id
    rating_id: int
    score: int


class Recorded(str, enum.Enum):
    """What became of a tap."""

    NEW = "recorded"
    SAME = "same"  # this score was recorded before: a double tap, a retried request
    KEPT = "kept"  # another score was recorded first, and stays
    UNKNOWN = "unknown"  # no such rating of this customer's, or a score off the scale


@dataclass(frozen=True)
class Outcome:
    """A tap's outcome, with the rating's score as it stands (None when unknown)."""

    recorded: Recorded
    score: int | None = None


class Ratings:
    """Offers ratings after resolutions and records the customers' taps."""

    def __init__(
        self,
        sessions: sessionmaker,
        brand: Brand,
        channels: frozenset[str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.brand = brand
        # The channels whose adapter shows one-tap buttons in a private conversation.
        self.channels = channels
        self.clock = clock

    @property
    def labels(self) -> tuple[str, ...]:
        """The buttons' labels, worst first (brand.yml ``rating_labels``)."""
        return self.brand.rating_labels

    def thanks(self) -> str:
        """What the customer is told once their tap is recorded."""
        return self.brand.message("rating_thanks")

    def offered_on(self, channel: str, visibility: str) -> bool:
        """Whether a conversation on ``channel`` with ``visibility`` is offered ratings."""
        private = visibility == Visibility.PRIVATE.value
        return bool(self.labels) and private and channel in self.channels

    def offer(
        self,
        session: Session,
        to: Target,
        resolution: str,
        now: datetime,
        *,
        ticket_id: int | None = None,
        claimed_by: str | None = None,
    ) -> list[Outgoing]:
        """Queues the question for ``resolution`` in the caller's transaction, unless it was
        offered before or the conversation cannot answer it with a tap; returns its item."""
        if not self.offered_on(to.channel, to.visibility):
            return []
        connection = session.connection()
        if connection.scalar(select(RATINGS.c.id).where(RATINGS.c.resolution == resolution)):
            return []
        created = connection.execute(
            insert(RATINGS).values(
                conversation_id=to.id,
                ticket_id=ticket_id,
                channel=to.channel,
                resolution=resolution,
                offered_at=now,
            )
        )
        rating_id = int(created.inserted_primary_key[0])
        items = queue_text(
            connection,
            to,
            f"rating:{rating_id}",
            Author.SYSTEM,
            self.brand.message("rating_question"),
            now,
            claimed_by=claimed_by,
            extra={RATING_KEY: rating_id, LABELS_KEY: list(self.labels)},
        )
        for item in items:  # the question as the web chat shows it, with its buttons
            connection.execute(
                update(RATINGS).where(RATINGS.c.id == rating_id).values(message_id=item.message_id)
            )
        return items

    def after_ticket(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """An agent resolved ``ticket`` (in the caller's transaction): its question."""
        to = Target.of(ticket.conversation)
        self.offer(session, to, f"ticket:{ticket.id}", now, ticket_id=ticket.id)

    def after_turn(
        self,
        session: Session,
        to: Target,
        message_id: int,
        intent: str | None,
        now: datetime,
        claimed_by: str | None,
    ) -> list[Outgoing]:
        """The bot answered the customer's message ``message_id`` (its top intent
        ``intent``), with no handover: the question if that message closed a request the
        bot resolved (see the module's docstring)."""
        if intent not in CLOSING or not self.offered_on(to.channel, to.visibility):
            return []
        request = _resolved_request(session, to.id, message_id, now)
        if request is None:
            return []
        return self.offer(session, to, f"bot:{request}", now, claimed_by=claimed_by)

    def record(self, tap: Tap) -> Outcome:
        """Records a tap in its own transaction (see the module's docstring); raises
        :class:`StoreUnavailable` when the store fails (nothing recorded: tap again)."""
        if not 1 <= tap.score <= RATING_SCALE:
            return Outcome(Recorded.UNKNOWN)
        try:
            with self.sessions.begin() as session:
                return _record(session, tap, self.clock())
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"{type(error).__name__}: {error}"[:300]) from error


def _resolved_request(
    session: Session, conversation_id: int, before: int, now: datetime
) -> int | None:
    """The conversation's latest request before message ``before``, if the bot answered
    it, within :data:`BOT_RESOLUTION_WITHIN`, and no ticket was opened since."""
    m = Message
    request = session.execute(
        select(m.id, m.created_at)
        .where(
            m.conversation_id == conversation_id,
            m.id < before,
            m.author == Author.CUSTOMER,
            m.intent.is_not(None),
            m.intent.not_in(SMALL_TALK),
        )
        .order_by(m.id.desc())
        .limit(1)
    ).first()
    if request is None or request.created_at < now - BOT_RESOLUTION_WITHIN:
        return None
    # Who answered it: the first message to the customer after it (a quick "thanks" may
    # be stored before the reply to the request it thanks for: messages are handled in
    # order, so that reply is there by now).
    answered_by = session.scalar(
        select(m.author)
        .where(
            m.conversation_id == conversation_id,
            m.id > request.id,
            m.author != Author.CUSTOMER,
        )
        .order_by(m.id)
        .limit(1)
    )
    if answered_by != Author.BOT:
        return None
    handed_over = session.scalar(
        select(Ticket.id)
        .where(Ticket.conversation_id == conversation_id, Ticket.created_at >= request.created_at)
        .limit(1)
    )
    return None if handed_over is not None else int(request.id)


def _record(session: Session, tap: Tap, now: datetime) -> Outcome:
    connection = session.connection()
    # The rating must be this customer's, in the conversation the tap came from.
    owned = connection.scalar(
        select(RATINGS.c.id)
        .join(Conversation, Conversation.id == RATINGS.c.conversation_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(
            RATINGS.c.id == tap.rating_id,
            Conversation.channel == tap.channel,
            Conversation.place == tap.place,
            Customer.platform_user_id == tap.customer,
        )
    )
    if owned is None:
        return Outcome(Recorded.UNKNOWN)
    # One statement decides the first tap (row lock on PostgreSQL, write lock on SQLite).
    first = connection.execute(
        update(RATINGS)
        .where(RATINGS.c.id == owned, RATINGS.c.score.is_(None))
        .values(score=tap.score, rated_at=now)
    )
    if first.rowcount == 1:
        return Outcome(Recorded.NEW, tap.score)
    score = connection.scalar(select(RATINGS.c.score).where(RATINGS.c.id == owned))
    return Outcome(Recorded.SAME if score == tap.score else Recorded.KEPT, score)
