"""A month of made-up conversations, so that ``make run`` shows a dashboard with meaning.

Kept apart from real ones by ``conversations.demo``: every report and the
dashboard read real or demo conversations, never both (the dashboard shows
the demo month, with a banner, only while the store has no real
conversation; then its "Data" filter). Demo customers and places are named
``demo-<n>``: no platform id has that shape, so a real message never lands in
a demo conversation. Seeded once (``python -m bot.analytics demo``; ``--again``
replaces it); the same every time (a fixed random seed), ending yesterday.
Resolutions on the channels with rating buttons are offered a satisfaction
rating, about four in ten answered (their scores from a seed of their own, so
the month's conversations stay as they were before ratings existed).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine

from bot.store.models import (
    Author,
    Conversation,
    Customer,
    Direction,
    InboundStatus,
    Message,
    Owner,
    Priority,
    Rating,
    Ticket,
    TicketStatus,
)

DAYS = 30
PER_DAY = (40, 70)  # conversations a day, from quiet to busy
# (intent, weight, what the customer writes, what happens): "bot" answered, "person"
# handed over (with the reason), "small" small talk.
TOPICS: list[tuple[str, int, str, str]] = [
    ("flight_status", 24, "is NW{n} on time today?", "bot"),
    ("flight_delayed", 14, "my flight NW{n} is delayed again, will I make my connection?", "bot"),
    ("baggage_issue", 12, "my bag didn't arrive on NW{n}", "bot"),
    ("booking_change", 10, "can I move my booking to tomorrow?", "bot"),
    ("flight_cancelled", 6, "NW{n} was cancelled, what now?", "bot"),
    ("refund_request", 8, "I want a refund for NW{n}", "person:policy"),
    ("complaint", 9, "worst service ever, 3 hours on the tarmac", "person:complaint"),
    ("request_human", 4, "let me talk to a person please", "person:requested"),
    ("out_of_scope", 3, "what's the weather in Lisbon", "person:out_of_scope"),
    ("praise", 6, "the crew on NW{n} was wonderful, thank you!", "small"),
    ("greet", 4, "hi there", "small"),
]
CHANNELS = [("webchat", "private", 4), ("telegram", "private", 3), ("twitter", "public", 3)]
#: The channels with rating buttons (bot/assembly.py, RATED_CHANNELS), private in the demo.
RATED = ("webchat", "telegram")
#: Who answers a rating, and with which score (1 to 5), by what was resolved.
ANSWERED = {"bot": 0.45, "complaint": 0.4, "ticket": 0.33}
SCORES = {
    "bot": [3, 4, 10, 33, 50],
    "complaint": [20, 20, 25, 20, 15],
    "ticket": [8, 10, 17, 35, 30],
}
NAMES = [
    "ana_lisboa", "ben.travels", "chloe_m", "dmitri", "elif_k", "farah", "gus_flies",
    "hana", "ivo", "jules_r", "kemal", "lena.w", "marco", "nadia", "oskar", "priya_s",
    "quinn", "rosa", "sam_t", "tomas", "uma", "vik", "wen", "xavi", "yara", "zoe_k",
]  # fmt: skip


@dataclass
class _Rows:
    messages: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    # (conversation, channel, what was resolved: "bot", "complaint" or "ticket", when)
    resolutions: list[tuple[int, str, str, datetime]] = field(default_factory=list)


def seed_demo(engine: Engine, now: datetime, again: bool = False) -> int:
    """Seeds the demo month ending the day before ``now``; how many conversations (0: it
    was there already and ``again`` was not asked)."""
    with engine.begin() as connection:
        present = connection.execute(
            select(Conversation.id).where(Conversation.demo.is_(True)).limit(1)
        ).first()
        if present is not None and not again:
            return 0
        remove_demo(connection)
        return _seed(connection, now.replace(hour=0, minute=0, second=0, microsecond=0))


def remove_demo(connection: Connection) -> None:
    """Deletes every demo conversation, with its messages, tickets and customers."""
    demo = select(Conversation.id).where(Conversation.demo.is_(True)).scalar_subquery()
    customers = select(Conversation.customer_id).where(Conversation.demo.is_(True))
    customer_ids = [row[0] for row in connection.execute(customers)]
    connection.execute(delete(Rating).where(Rating.conversation_id.in_(demo)))
    connection.execute(delete(Message).where(Message.conversation_id.in_(demo)))
    connection.execute(delete(Ticket).where(Ticket.conversation_id.in_(demo)))
    connection.execute(delete(Conversation).where(Conversation.demo.is_(True)))
    if customer_ids:
        connection.execute(delete(Customer).where(Customer.id.in_(customer_ids)))


def _seed(connection: Connection, today: datetime) -> int:
    rng = random.Random(17)
    rows = _Rows()
    customers: dict[tuple[str, str], int] = {}
    count = 0
    for days_ago in range(DAYS, 0, -1):
        day = today - timedelta(days=days_ago)
        busy = 1.0 if day.weekday() < 5 else 0.7
        for _ in range(int(rng.randint(*PER_DAY) * busy)):
            channel, visibility = _pick(rng, [((c, v), w) for c, v, w in CHANNELS])
            # Most customers write once a month; a few come back.
            name = f"{rng.choice(NAMES)}{rng.randint(1, 300)}"
            key = (channel, name)
            if key not in customers:
                customers[key] = _insert(
                    connection,
                    Customer,
                    channel=channel,
                    platform_user_id=f"demo-{len(customers) + 1}",
                    handle=name,
                    display_name=name,
                    created_at=day,
                )
            start = day + timedelta(seconds=rng.randint(7 * 3600, 23 * 3600))
            count += 1
            conversation = _insert(
                connection,
                Conversation,
                channel=channel,
                place=f"demo-{count}",
                visibility=visibility,
                customer_id=customers[key],
                owner=Owner.BOT,
                created_at=start,
                updated_at=start,
                demo=True,
            )
            _conversation(rng, rows, conversation, channel, start)
    if rows.messages:
        connection.execute(insert(Message.__table__), rows.messages)
    if rows.tickets:
        connection.execute(insert(Ticket.__table__), rows.tickets)
    _ratings(connection, rows.resolutions)
    return count


def _ratings(connection: Connection, resolutions: list[tuple[int, str, str, datetime]]) -> None:
    """A rating offered after each resolution on a channel with buttons; some answered."""
    rng = random.Random(1717)
    tickets = dict(
        connection.execute(
            select(Ticket.conversation_id, Ticket.id).where(
                Ticket.conversation_id.in_({r[0] for r in resolutions if r[2] != "bot"})
            )
        ).all()
    )
    offers = []
    for index, (conversation, channel, kind, at) in enumerate(resolutions):
        if channel not in RATED:
            continue
        answered = rng.random() < ANSWERED[kind]
        offers.append(
            {
                "conversation_id": conversation,
                "ticket_id": tickets.get(conversation) if kind != "bot" else None,
                "channel": channel,
                "resolution": f"demo:{index}",
                "score": _pick(rng, list(enumerate(SCORES[kind], start=1))) if answered else None,
                "offered_at": at,
                "rated_at": at + timedelta(seconds=rng.randint(8, 900)) if answered else None,
            }
        )
    if offers:
        connection.execute(insert(Rating.__table__), offers)


def _conversation(
    rng: random.Random, rows: _Rows, conversation: int, channel: str, at: datetime
) -> None:
    """One to three requests; each answered, denied, asked again or handed over."""
    say = functools.partial(_message, rows, conversation, channel)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        intent, _weight, text, outcome = _pick(rng, [(t, t[1]) for t in TOPICS])
        confidence = round(rng.uniform(0.25, 0.99), 2)
        say(
            at,
            Author.CUSTOMER,
            text.format(n=rng.randint(100, 999)),
            intent,
            confidence,
        )
        at += timedelta(seconds=round(rng.uniform(0.4, 2.8), 1))
        if outcome.startswith("person"):
            say(
                at,
                Author.SYSTEM,
                "A person from our team will reply here shortly.",
            )
            _ticket(rng, rows, conversation, outcome.split(":")[1], at)
            resolved = rows.tickets[-1]["resolved_at"]
            if resolved is not None:
                kind = "complaint" if outcome == "person:complaint" else "ticket"
                rows.resolutions.append((conversation, channel, kind, resolved))
            return
        say(at, Author.BOT, "Here is what I found.")
        if outcome == "bot" and rng.random() < 0.12:  # "no, that's not it"
            at += timedelta(seconds=rng.randint(20, 120))
            say(
                at,
                Author.CUSTOMER,
                "no that's not what I asked",
                "deny",
                0.9,
            )
            at += timedelta(seconds=1.2)
            say(at, Author.BOT, "Sorry, could you say it another way?")
        if outcome == "bot" and rng.random() < 0.35:
            at += timedelta(seconds=rng.randint(30, 300))
            say(at, Author.CUSTOMER, "thanks!", "thank", 0.95)
            at += timedelta(seconds=0.8)
            say(at, Author.BOT, "You're welcome!")
            rows.resolutions.append((conversation, channel, "bot", at))
        at += timedelta(minutes=rng.randint(2, 90))


def _ticket(rng: random.Random, rows: _Rows, conversation: int, reason: str, at: datetime) -> None:
    claim = at + timedelta(seconds=rng.randint(40, 1500))
    first = claim + timedelta(seconds=rng.randint(20, 600))
    resolved = first + timedelta(seconds=rng.randint(300, 14400)) if rng.random() < 0.9 else None
    rows.tickets.append(
        {
            "conversation_id": conversation,
            "reason": reason,
            "status": TicketStatus.RESOLVED if resolved else TicketStatus.CLAIMED,
            "priority": Priority.HIGH if reason == "complaint" else Priority.NORMAL,
            "agent_id": rng.choice(["alice", "bob", "carmen"]),
            "context": {"demo": True},
            "created_at": at,
            "claimed_at": claim,
            "first_response_at": first,
            "last_customer_at": at,
            # The agent's reply answered the customer: they wait no more
            # (customer_waiting_since stays empty: bot/conversation/unanswered.py).
            "last_agent_at": first,
            "resolved_at": resolved,
            "sla_breached": "first" if (first - at).total_seconds() > 1200 else None,
        }
    )


def _message(
    rows: _Rows,
    conversation: int,
    channel: str,
    at: datetime,
    author: Author,
    text: str,
    intent: str | None = None,
    confidence: float | None = None,
) -> None:
    customer = author == Author.CUSTOMER
    rows.messages.append(
        {
            "conversation_id": conversation,
            "channel": channel,
            "direction": Direction.IN if customer else Direction.OUT,
            "author": author,
            "kind": "text",
            "text": text,
            "platform_message_id": None,
            "status": InboundStatus.DONE if customer else None,
            "intent": intent,
            "confidence": confidence,
            "created_at": at,
            "handled_at": at if customer else None,
        }
    )


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _insert(connection: Connection, model: Any, **values: Any) -> int:
    """One row; its id (SQLAlchemy 1.4 has no RETURNING for SQLite)."""
    return int(connection.execute(insert(model.__table__).values(**values)).inserted_primary_key[0])
