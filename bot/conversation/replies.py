"""What goes to the customer: replies stored and queued, never personal data in public.

A reply is an outgoing message row plus an outbox item (bot/outbox.py sends
it), written in the caller's transaction; its idempotency key makes queuing it
twice harmless. A public conversation's reply is checked for personal data
here, the last line of defence: a reply the assistant marked private, or one
that carries personal data, is withheld and replaced by the brand's
invitation to write privately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.assistant import BotMessage
from bot.brand import Brand
from bot.contract import Visibility
from bot.privacy import PUBLIC_REPLY_KINDS, find_personal_data
from bot.store.models import (
    Author,
    Conversation,
    Direction,
    Message,
    OutboxItem,
    OutboxStatus,
    Rating,
)
from bot.store.records import CONVERSATIONS, CUSTOMERS, MESSAGES, Outgoing, audit, enqueue


@dataclass(frozen=True)
class Target:
    """Where a conversation's replies go (from a conversation row or object)."""

    id: int
    channel: str
    place: str
    visibility: str
    customer: str  # the customer's platform id
    reply_to: str | None

    @classmethod
    def of(cls, conversation: Conversation) -> Target:
        """From a conversation object (its customer is loaded)."""
        return cls(
            id=conversation.id,
            channel=conversation.channel,
            place=conversation.place,
            visibility=conversation.visibility,
            customer=conversation.customer.platform_user_id,
            reply_to=conversation.reply_to_platform_id,
        )


_TARGET = (
    select(
        CONVERSATIONS.c.place,
        CONVERSATIONS.c.visibility,
        CONVERSATIONS.c.reply_to_platform_id,
        CUSTOMERS.c.platform_user_id,
    )
    .join_from(CONVERSATIONS, CUSTOMERS, CONVERSATIONS.c.customer_id == CUSTOMERS.c.id)
    .where(CONVERSATIONS.c.id == bindparam("b_conversation"))
)
_INSERT_MESSAGE = insert(MESSAGES)


def target(connection: Connection, conversation_id: int, channel: str) -> Target:
    """Where the replies of the conversation ``conversation_id`` on ``channel`` go."""
    row = connection.execute(_TARGET, {"b_conversation": conversation_id}).one()
    return Target(
        id=conversation_id,
        channel=channel,
        place=row.place,
        visibility=row.visibility,
        customer=row.platform_user_id,
        reply_to=row.reply_to_platform_id,
    )


def queue_text(
    connection: Connection,
    to: Target,
    key: str,
    author: Author,
    text: str,
    now: datetime,
    *,
    invite_private: bool = False,
    response: str | None = None,
    agent_id: str | None = None,
    claimed_by: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Outgoing]:
    """Stores an outgoing message and queues it; with ``claimed_by`` the outbox item is
    claimed for that worker, to be sent as soon as the caller commits. ``extra`` goes into
    the outbox payload for the channel (a rating's buttons). Returns the new item (none
    when ``key`` was queued before)."""
    outbound = connection.execute(
        _INSERT_MESSAGE,
        {
            "conversation_id": to.id,
            "channel": to.channel,
            "direction": Direction.OUT,
            "author": author,
            "kind": "text",
            "text": text,
            "agent_id": agent_id,
            "created_at": now,
        },
    )
    payload: dict[str, Any] = {
        "text": text,
        "place": to.place,
        "visibility": to.visibility,
        "customer": to.customer,
        "reply_to": to.reply_to,
        "invite_private": invite_private,
        "response": response,
        **(extra or {}),
    }
    item = enqueue(
        connection,
        key,
        to.id,
        to.channel,
        payload,
        now,
        int(outbound.inserted_primary_key[0]),
        claimed_by=claimed_by,
    )
    return [item] if item is not None else []


def bot_reply(
    session: Session,
    to: Target,
    key: str,
    bot_message: BotMessage,
    brand: Brand,
    now: datetime,
    claimed_by: str | None,
) -> list[Outgoing]:
    """Queues one of the assistant's replies; in public, withheld if it may be private."""
    text = bot_message.text or ""
    invite = bot_message.invite_private
    if to.visibility == Visibility.PUBLIC.value:
        leaks = [f.kind.value for f in find_personal_data(text, PUBLIC_REPLY_KINDS)]
        if bot_message.private or leaks:
            # The last line of defence: a public reply never carries personal data.
            audit(
                session,
                "gateway",
                "withheld_private_reply",
                now,
                to.id,
                response=bot_message.response,
                marked_private=bot_message.private,
                found=leaks,
            )
            text = brand.message("public_privacy_fallback")
            invite = True
    return queue_text(
        session.connection(),
        to,
        key,
        Author.BOT,
        text,
        now,
        invite_private=invite,
        response=bot_message.response,
        claimed_by=claimed_by,
    )


def send_text(
    session: Session,
    conversation: Conversation,
    key: str,
    author: Author,
    text: str,
    now: datetime,
    agent_id: str | None = None,
) -> None:
    """Queues a message to the customer from an agent or the bot (the desk uses this, in
    its own transaction); ``key`` makes queuing it twice harmless."""
    queue_text(
        session.connection(), Target.of(conversation), key, author, text, now, agent_id=agent_id
    )


@dataclass(frozen=True)
class SentReply:
    """A message of the conversation as a channel that shows its history reads it: a
    reply that went out or, when asked for, one of the customer's own."""

    id: int
    text: str | None
    author: str
    created_at: datetime
    # A customer's message: the id its channel gave it (the web chat page's own id).
    customer_message_id: str | None = None
    # A satisfaction question: its rating, and the score once the customer tapped.
    rating_id: int | None = None
    rating_score: int | None = None


def sent_replies(
    session: Session, channel: str, place: str, after: int, *, own: bool = False
) -> list[SentReply]:
    """The replies sent in the conversation of ``place`` on ``channel`` after message
    ``after`` and, with ``own``, the customer's messages too, in the order they were
    stored (one id sequence for both directions; the web chat page reads them)."""
    sent = (Message.direction == Direction.OUT) & (OutboxItem.status == OutboxStatus.SENT)
    shown = or_(sent, Message.direction == Direction.IN) if own else sent
    found = session.execute(
        select(
            Message.id,
            Message.text,
            Message.author,
            Message.created_at,
            Message.platform_message_id,
            Rating.id.label("rating_id"),
            Rating.score,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .outerjoin(Rating, Rating.message_id == Message.id)
        .where(
            Conversation.channel == channel,
            Conversation.place == place,
            shown,
            Message.id > after,
        )
        .order_by(Message.id)
    ).all()
    return [
        SentReply(
            int(r.id),
            r.text,
            r.author.value,
            r.created_at,
            r.platform_message_id if r.author == Author.CUSTOMER else None,
            r.rating_id,
            r.score,
        )
        for r in found
    ]
