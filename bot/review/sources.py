"""Where the review inbox's items come from: the stored conversations, read, never changed.

* **Low confidence**: customer messages whose top intent fell under the
  fallback threshold.
* **Handovers**: the message behind each ticket.
* **Contradicted**: a message the bot answered with confidence, when the
  customer's next message says it was wrong: "no", "that's not what I asked"
  (``deny``), or an angry follow-up (``complaint``). Confident mistakes are
  the ones the other sources never catch.

Not proposed at all: a customer's answer to the bot's own question (a bare
record locator after "what's your booking reference?"): it teaches nothing
about intents, and filed as an example it would teach the wrong thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from bot.review.redaction import is_bare_value, redact_for_training
from bot.store.models import (
    Author,
    Direction,
    Message,
    OutboxItem,
    ReviewItem,
    ReviewSource,
    Ticket,
)

# The customer says the bot got the previous message wrong.
CONTRADICTING_INTENTS = ("deny", "complaint")
# A bot answer of its own (not a question, an offer, a handover, small talk):
# what a "no" after it contradicts.
NOT_ANSWERS = frozenset(
    {"deny", "complaint", "request_human", "out_of_scope", "affirm", "nlu_fallback"}
)
# Bot responses after which the customer's next message answers the bot.
QUESTION_PREFIXES = ("ask_", "offer_", "please_rephrase", "sorry_misunderstood")


def _not_an_item_yet(source: ReviewSource) -> Any:
    return ~exists().where(and_(ReviewItem.message_id == Message.id, ReviewItem.source == source))


def _customer_messages() -> Any:
    return select(Message).where(
        Message.direction == Direction.IN, Message.author == Author.CUSTOMER
    )


def low_confidence(session: Session, threshold: float) -> Iterator[Message]:
    """Customer messages under ``threshold`` not yet in the inbox, oldest first (answers to
    the bot's questions left out)."""
    messages = session.scalars(
        _customer_messages()
        .where(
            Message.confidence.is_not(None),
            Message.confidence < threshold,
            _not_an_item_yet(ReviewSource.LOW_CONFIDENCE),
        )
        .order_by(Message.id)
    ).all()
    return (m for m in messages if not answers_the_bot(session, m))


def message_behind(session: Session, ticket: Ticket) -> Message | None:
    """The customer's last understood message before the ticket's handover that says what
    they wanted (not their answer to the bot's question: the refund request, not the
    record locator that followed it)."""
    for message in session.scalars(
        _customer_messages()
        .where(
            Message.conversation_id == ticket.conversation_id,
            Message.intent.is_not(None),
            Message.created_at <= ticket.created_at,
        )
        .order_by(Message.id.desc())
    ):
        if not answers_the_bot(session, message):
            return message
    return None


def contradicted(session: Session, threshold: float) -> Iterator[tuple[Message, str]]:
    """Messages the bot answered with confidence that the customer's next message
    contradicted, each with that message's intent; not yet in the inbox."""
    followers = session.scalars(
        _customer_messages().where(Message.intent.in_(CONTRADICTING_INTENTS)).order_by(Message.id)
    ).all()
    for follower in followers:
        answered = session.scalars(
            _customer_messages()
            .where(
                Message.conversation_id == follower.conversation_id,
                Message.id < follower.id,
            )
            .order_by(Message.id.desc())
        ).first()
        if (
            answered is None
            or answered.intent is None
            or answered.intent in NOT_ANSWERS
            or (answered.confidence or 0.0) < threshold
            or has_item(session, answered.id, ReviewSource.CONTRADICTED)
            or _bot_asked(session, follower)
            or answers_the_bot(session, answered)
        ):
            continue
        yield answered, str(follower.intent)


def answers_the_bot(session: Session, message: Message) -> bool:
    """Whether ``message`` answers the bot's own question: the bot's last word before it was
    a question or an offer, or the message is nothing but a value (a record locator, with
    or without the brand's @handle before it)."""
    return is_bare_value(redact_for_training(message.text or "").text) or _bot_asked(
        session, message
    )


def _bot_asked(session: Session, message: Message) -> bool:
    """Whether the bot's last message before ``message`` was a question or an offer."""
    payload = session.scalars(
        select(OutboxItem.payload)
        .join(Message, Message.id == OutboxItem.message_id)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.direction == Direction.OUT,
            Message.author == Author.BOT,
            Message.id < message.id,
        )
        .order_by(Message.id.desc())
    ).first()
    response = str((payload or {}).get("response") or "")
    return response.startswith(QUESTION_PREFIXES)


def has_item(session: Session, message_id: int, source: ReviewSource) -> bool:
    return (
        session.scalars(
            select(ReviewItem.id).where(
                ReviewItem.message_id == message_id, ReviewItem.source == source
            )
        ).first()
        is not None
    )


def threads_around(session: Session, message_ids: list[int]) -> dict[int, dict[str, str | None]]:
    """What came after each customer message in its conversation, redacted: the first reply
    to it (the bot's, an agent's or the gateway's) and the customer's next message.

    Two statements however many messages (a page of the review inbox shows hundreds):
    the ids of what followed each, then their texts."""
    if not message_ids:
        return {}
    later = aliased(Message)

    def first_after(by_customer: bool) -> Any:
        author = later.author == Author.CUSTOMER if by_customer else later.author != Author.CUSTOMER
        return (
            select(func.min(later.id))
            .where(
                later.conversation_id == Message.conversation_id,
                later.id > Message.id,
                author,
                later.text.is_not(None),
                later.text != "",
            )
            .scalar_subquery()
        )

    rows = session.execute(
        select(Message.id, first_after(False), first_after(True)).where(Message.id.in_(message_ids))
    ).all()
    found = {i for _, reply, following in rows for i in (reply, following) if i is not None}
    texts: dict[int, str] = (
        dict(session.execute(select(Message.id, Message.text).where(Message.id.in_(found))).all())
        if found
        else {}
    )

    def plain(message_id: int | None) -> str | None:
        return None if message_id is None else redact_for_training(texts[message_id]).plain

    threads: dict[int, dict[str, str | None]] = {
        i: {"reply": None, "next_post": None} for i in message_ids
    }
    for message_id, reply, following in rows:
        threads[message_id] = {"reply": plain(reply), "next_post": plain(following)}
    return threads
