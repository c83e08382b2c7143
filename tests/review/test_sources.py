"""What the review inbox finds in whole conversations: contradicted answers, and answers to
the bot's own questions left out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import sessionmaker

from bot.review.inbox import ReviewInbox
from bot.store.models import (
    Author,
    Conversation,
    Customer,
    Direction,
    InboundStatus,
    Message,
    OutboxItem,
    OutboxStatus,
    Owner,
    Ticket,
)
from tests.review.conftest import START

# ("customer", text, intent, confidence) or ("bot", text, response name)
Turn = tuple[str, ...] | tuple[str, str, str | None, float | None]
_COUNTER = iter(range(1_000_000))


def store_conversation(sessions: sessionmaker, turns: list[Turn], ticket: str = "") -> list[int]:
    """Stores one conversation, as the gateway would; returns the customer messages' ids."""
    ids = []
    n = next(_COUNTER)
    with sessions.begin() as session:
        at = START
        customer = Customer(channel="webchat", platform_user_id=f"user-{n}", created_at=at)
        conversation = Conversation(
            channel="webchat",
            place=f"web:{n}",
            visibility="private",
            customer=customer,
            owner=Owner.QUEUE if ticket else Owner.BOT,
            created_at=at,
            updated_at=at,
        )
        session.add(conversation)
        for second, (who, text, intent_or_response, *confidence) in enumerate(turns):
            at = START + timedelta(seconds=second)
            if who == "customer":
                message = Message(
                    conversation=conversation,
                    channel="webchat",
                    direction=Direction.IN,
                    author=Author.CUSTOMER,
                    text=text,
                    status=InboundStatus.DONE,
                    intent=intent_or_response,
                    confidence=confidence[0],
                    created_at=at,
                )
                session.add(message)
                session.flush()
                ids.append(int(message.id))
            else:
                reply = Message(
                    conversation=conversation,
                    channel="webchat",
                    direction=Direction.OUT,
                    author=Author.BOT,
                    text=text,
                    created_at=at,
                )
                session.add(reply)
                session.flush()
                session.add(
                    OutboxItem(
                        idempotency_key=f"reply:{reply.id}",
                        conversation_id=conversation.id,
                        message_id=reply.id,
                        channel="webchat",
                        payload={"text": text, "response": intent_or_response},
                        status=OutboxStatus.SENT,
                        next_attempt_at=at,
                        created_at=at,
                    )
                )
        if ticket:
            session.add(
                Ticket(
                    conversation=conversation,
                    reason=ticket,
                    context={},
                    created_at=START + timedelta(seconds=len(turns)),
                )
            )
    return ids


def test_an_answer_the_customer_contradicts_enters_the_inbox(
    inbox: ReviewInbox, sessions: sessionmaker
) -> None:
    store_conversation(
        sessions,
        [
            ("customer", "can I bring my cat on board", "flight_status", 0.81),
            ("bot", "Which flight are you on?", "ask_flight_number"),
            ("customer", "no, that's not what I asked", "deny", 0.95),
        ],
    )
    # The bot asked a question: the "no" answers it, it contradicts nothing.
    assert inbox.collect() == 0
    store_conversation(
        sessions,
        [
            ("customer", "can u check my upgrade on the NYC flight", "product_question", 0.77),
            ("bot", "Northwind Miles is free to join...", "utter_product_question/loyalty"),
            ("customer", "no that's not what I asked!!", "deny", 0.93),
        ],
    )
    store_conversation(
        sessions,
        [
            ("customer", "is the lounge in B open", "flight_status", 0.66),
            ("bot", "NW 881 is on time", "flight_on_time"),
            ("customer", "useless. absolutely useless", "complaint", 0.9),
        ],
    )
    assert inbox.collect() == 2
    items = {item.text: item for item in inbox.items()}
    upgrade = items["can u check my upgrade on the NYC flight"]
    assert (upgrade.source, upgrade.reason) == ("contradicted", "deny")
    assert upgrade.predicted_intent == "product_question"
    assert items["is the lounge in B open"].reason == "complaint"
    assert inbox.collect() == 0


def test_an_unsure_answer_to_the_bot_question_is_not_proposed(
    inbox: ReviewInbox, sessions: sessionmaker
) -> None:
    store_conversation(
        sessions,
        [
            ("customer", "I want my money back for the trip", "refund_request", 0.92),
            ("bot", "What's your booking reference?", "ask_booking_ref"),
            ("customer", "MRT4LQ", "nlu_fallback", 0.2),
            ("bot", "...", "refund_cancelled"),
        ],
        ticket="policy",
    )
    store_conversation(sessions, [("customer", "QX7K2P!", "greet", 0.1)])
    # A mention is a bare value too: the brand's handle is kept by the redaction, and
    # another person's becomes "@someone"; neither is a request.
    store_conversation(sessions, [("customer", "@NorthwindAir QX7K2P", "greet", 0.1)])
    store_conversation(sessions, [("customer", "@jane_doe 4471", "greet", 0.1)])
    assert inbox.collect() == 1
    [item] = inbox.items()
    # The handover's item is the request itself, not the record locator that followed it.
    assert (item.source, item.text) == ("handover", "I want my money back for the trip")
