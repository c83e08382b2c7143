"""Analytics tests: a store on SQLite and on PostgreSQL, filled with a small known story."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.store.db import make_engine, migrate
from bot.store.models import (
    Author,
    Conversation,
    Customer,
    Direction,
    Message,
    Owner,
    Rating,
    Ticket,
    TicketStatus,
)
from tests.gateway.conftest import (  # noqa: F401 (fixtures)
    database_url,
    fake_assistant,
    fake_slack,
    postgres_server,
    postgres_template,
    start_gateway,
    twitter_cert,
)

DAY = datetime(2026, 11, 2)
THRESHOLD = 0.35


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:  # noqa: F811
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


class Story:
    """Writes customers, conversations, messages and tickets as a test tells them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.places = 0

    def conversation(
        self, channel: str, handle: str, visibility: str = "private", demo: bool = False
    ) -> Conversation:
        self.places += 1
        customer = Customer(channel=channel, platform_user_id=handle, handle=handle, created_at=DAY)
        conversation = Conversation(
            channel=channel,
            place=f"place-{self.places}",
            visibility=visibility,
            customer=customer,
            owner=Owner.BOT,
            demo=demo,
            created_at=DAY,
            updated_at=DAY,
        )
        self.session.add(conversation)
        self.session.flush()
        return conversation

    def says(
        self, conversation: Conversation, at: datetime, intent: str, confidence: float = 0.9
    ) -> None:
        self._message(conversation, at, Direction.IN, Author.CUSTOMER, intent, confidence)

    def answers(
        self, conversation: Conversation, at: datetime, author: Author = Author.BOT
    ) -> None:
        self._message(conversation, at, Direction.OUT, author, None, None)

    def _message(self, conversation: Conversation, at: datetime, *fields: Any) -> None:
        direction, author, intent, confidence = fields
        self.session.add(
            Message(
                conversation_id=conversation.id,
                channel=conversation.channel,
                direction=direction,
                author=author,
                text="…",
                intent=intent,
                confidence=confidence,
                created_at=at,
            )
        )
        self.session.flush()  # ids in the order the story tells

    def ticket(self, conversation: Conversation, at: datetime, reason: str, **times: Any) -> Ticket:
        ticket = Ticket(
            conversation_id=conversation.id,
            reason=reason,
            status=TicketStatus.RESOLVED if times.get("resolved_at") else TicketStatus.OPEN,
            context={},
            created_at=at,
            **times,
        )
        self.session.add(ticket)
        self.session.flush()
        return ticket

    def rating(
        self,
        conversation: Conversation,
        offered: datetime,
        score: int | None = None,
        ticket: Ticket | None = None,
    ) -> None:
        """A rating offered at ``offered``; tapped ``score`` a minute later, if any."""
        self.session.add(
            Rating(
                conversation_id=conversation.id,
                ticket_id=ticket.id if ticket else None,
                channel=conversation.channel,
                resolution=f"story:{offered.isoformat()}:{conversation.id}",
                score=score,
                offered_at=offered,
                rated_at=offered + timedelta(minutes=1) if score else None,
            )
        )


def seconds(at: datetime, n: float) -> datetime:
    return at + timedelta(seconds=n)


def tell_the_story(engine: Engine) -> None:
    """Two days of care (2 and 3 November 2026), and conversations that must not count.

    The figures each test expects are worked out by hand from this story, in the test.
    """
    at = DAY.replace(hour=9)
    with Session(engine, future=True) as session, session.begin():
        story = Story(session)
        # alice: a flight's status, answered in 2 s; nothing after. Contained.
        alice = story.conversation("webchat", "alice")
        story.says(alice, at, "flight_status")
        story.answers(alice, seconds(at, 2))
        # Ratings (offered, scored 1-5 or not): alice 5 on the 2nd and 4 on the 3rd; bob 2
        # after his ticket; erin never taps; frank (demo) 1, gina's before the window 3.
        story.rating(alice, seconds(at, 60), 5)
        story.rating(alice, DAY.replace(day=3, hour=8), 4)
        # bob: a refund, answered in 4 s, then a ticket (policy): claimed after 120 s,
        # first agent reply after 300 s, resolved after an hour.
        bob = story.conversation("telegram", "bob")
        story.says(bob, at, "refund_request", 0.8)
        story.answers(bob, seconds(at, 4))
        opened = seconds(at, 5)
        resolved = story.ticket(
            bob,
            opened,
            "policy",
            claimed_at=seconds(opened, 120),
            first_response_at=seconds(opened, 300),
            resolved_at=seconds(opened, 3600),
            # Later the customer waited past the next-response target once.
            sla_breached=f"next:{seconds(opened, 900).isoformat(timespec='seconds')}",
        )
        story.rating(bob, seconds(opened, 3600), 2, ticket=resolved)
        # carol, in public: a bag (confidence under the threshold) answered in 1 s;
        # "no" (answered in 3 s); the bag again, answered in 6 s.
        carol = story.conversation("twitter", "carol", "public")
        at = DAY.replace(hour=10)
        story.says(carol, at, "baggage_issue", 0.3)
        story.answers(carol, seconds(at, 1))
        story.says(carol, seconds(at, 60), "deny")
        story.answers(carol, seconds(at, 63))
        story.says(carol, seconds(at, 120), "baggage_issue", 0.7)
        story.answers(carol, seconds(at, 126))
        # dave, in public: a complaint, the gateway's own notice (not the bot), a
        # ticket (claimed after 600 s, first reply after 1200 s, first-response
        # target breached, never resolved); a second complaint, an agent answers.
        dave = story.conversation("twitter", "dave", "public")
        at = DAY.replace(hour=11)
        story.says(dave, at, "complaint", 0.95)
        story.answers(dave, seconds(at, 1), Author.SYSTEM)
        opened = seconds(at, 1)
        story.ticket(
            dave,
            opened,
            "complaint",
            claimed_at=seconds(opened, 600),
            first_response_at=seconds(opened, 1200),
            sla_breached="first",
        )
        story.says(dave, DAY.replace(hour=14), "complaint")
        story.answers(dave, DAY.replace(hour=14, minute=5), Author.AGENT)
        # erin, the next day: praise (answered in 1 s) and thanks (in 2 s).
        erin = story.conversation("telegram", "erin")
        at = DAY.replace(day=3, hour=12)
        story.says(erin, at, "praise")
        story.answers(erin, seconds(at, 1))
        story.says(erin, seconds(at, 1800), "thank")
        story.answers(erin, seconds(at, 1802))
        story.rating(erin, seconds(at, 1803))
        # Not counted: demo data, and messages before and after the window.
        frank = story.conversation("webchat", "frank", demo=True)
        story.says(frank, DAY.replace(hour=9), "flight_status")
        story.answers(frank, DAY.replace(hour=9, second=3))
        story.rating(frank, DAY.replace(hour=9, second=4), 1)
        gina = story.conversation("webchat", "gina")
        story.says(gina, DAY - timedelta(hours=1), "flight_status")
        story.answers(gina, DAY - timedelta(minutes=59))
        story.rating(gina, DAY - timedelta(minutes=58), 3)
        story.says(gina, DAY + timedelta(days=2, minutes=30), "flight_status")
        story.answers(gina, DAY + timedelta(days=2, minutes=31))


WINDOW_DAYS = 2  # the story's window: DAY and the day after
