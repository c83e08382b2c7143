"""The care figures, computed in the store with SQLAlchemy Core (SQLite and PostgreSQL alike).

Every definition here is written out, with the SQL it comes from, in
docs/analytics.md; change both together. Times are naive UTC, like the store's.

A **turn** is a customer's message (inbound, author ``customer``) in the
window. The bot **answered** it when the next message in its conversation is
the bot's. A turn on a topic (an intent that asks for something: not small
talk) is **contained** when the bot answered it, no ticket was opened in the
conversation within 24 hours of it, and the customer did not ask the same again
(the same intent in one of their next two messages in the conversation)
within 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from bot.analytics.figures import (
    Day,
    Durations,
    IntentFigures,
    Person,
    ReasonCount,
    Report,
    Volume,
    Window,
)
from bot.analytics.satisfaction import satisfaction
from bot.analytics.sql import day_of, percentiles, ranks, seconds_between
from bot.contract import SMALL_TALK
from bot.store.models import Author, Conversation, Customer, Direction, Message, Ticket

CONVERSATIONS = Conversation.__table__
CUSTOMERS = Customer.__table__
MESSAGES = Message.__table__
TICKETS = Ticket.__table__

#: How long after a turn a handover or the same question again counts against it.
FOLLOW_UP = timedelta(hours=24)
FOLLOW_UP_SECONDS = FOLLOW_UP.total_seconds()
#: Sentiment read from intents (the store keeps no other): praise and thanks
#: are positive, complaints negative.
POSITIVE = ("praise", "thank")
NEGATIVE = ("complaint",)
#: The customer's "no, that's not it".
DENY = "deny"
#: How many fans and repeat complainers a report lists.
PEOPLE_LISTED = 20


def _in_scope(window: Window) -> list[Any]:
    """Conditions on the conversation: real or demo, and the channel when one is chosen."""
    conditions: list[Any] = [CONVERSATIONS.c.demo == window.demo]
    if window.channel is not None:
        conditions.append(CONVERSATIONS.c.channel == window.channel)
    return conditions


def turns(window: Window, threshold: float, part: int = 0, parts: int = 1) -> Select:
    """One row per turn in the window, with what followed it (see the module's docstring).

    Messages up to 24 hours after the window are read too: what follows a
    turn near its end still counts. With ``parts`` > 1, only the turns of
    customers whose id is ``part`` modulo ``parts`` (bot/analytics/parts.py).
    """
    m = MESSAGES.c
    # Only the columns the windows need flow through them (the conversation's
    # channel, visibility and customer are joined to the turns at the end): the
    # window functions keep every row they read, and over a million messages
    # narrower rows are much cheaper.
    in_scope = select(CONVERSATIONS.c.id).where(*_in_scope(window))
    if parts > 1:
        # By customer, not conversation: a customer's turns all fall in one part, so
        # the fans and repeat complainers a part counts are counted whole. Written
        # "not one of the other remainders" (the same for ids, which are positive):
        # PostgreSQL guesses that "= part" keeps 0.5 % of the conversations, and
        # then plans a nested loop, a parallel worker and a sort on disk for the
        # half it gets (1.1 s of CPU, against 0.97 s for the whole store's plan,
        # which it keeps for "<>": one ordered pass over the messages, dropping
        # the other parts' conversations).
        others = [other for other in range(parts) if other != part]
        in_scope = in_scope.where((CONVERSATIONS.c.customer_id % parts).not_in(others))
    sequence = (
        select(
            m.id,
            m.conversation_id,
            m.author,
            m.direction,
            m.intent,
            m.confidence,
            m.created_at,
            func.lead(m.author, type_=m.author.type)
            .over(partition_by=m.conversation_id, order_by=m.id)
            .label("next_author"),
            func.lead(m.created_at, type_=m.created_at.type)
            .over(partition_by=m.conversation_id, order_by=m.id)
            .label("next_at"),
        )
        .where(
            m.created_at >= window.since,
            m.created_at < window.until + FOLLOW_UP,
            m.conversation_id.in_(in_scope),
        )
        .subquery("sequence")
    )
    s = sequence.c
    # One window over the customer's messages in order: their next two, and whether
    # this is the conversation's first turn in the window. (Partitioning by intent
    # as well, for "the same intent again, whenever", cost a second sort of half a
    # million rows: 0.35 s of the 1M-message benchmark.)
    in_order = {"partition_by": s.conversation_id, "order_by": s.id}
    customer = (
        select(
            s.id,
            s.conversation_id,
            s.intent,
            s.confidence,
            s.created_at,
            s.next_author,
            s.next_at,
            func.lead(s.intent, 1, type_=s.intent.type).over(**in_order).label("next_intent"),
            func.lead(s.created_at, 1, type_=s.created_at.type).over(**in_order).label("next_at_c"),
            func.lead(s.intent, 2, type_=s.intent.type).over(**in_order).label("intent_2"),
            func.lead(s.created_at, 2, type_=s.created_at.type).over(**in_order).label("at_2"),
            func.row_number().over(**in_order).label("turn_number"),
        )
        .where(s.direction == Direction.IN, s.author == Author.CUSTOMER)
        .subquery("customer")
    )
    c = customer.c
    answered = c.next_author == Author.BOT
    # Conversations with a ticket in reach: a hash the store builds once, so the
    # exact look-up below runs only for them (most conversations have none).
    with_tickets = select(TICKETS.c.conversation_id).where(
        TICKETS.c.created_at >= window.since, TICKETS.c.created_at < window.until + FOLLOW_UP
    )
    handed_over = and_(
        c.conversation_id.in_(with_tickets),
        exists().where(
            TICKETS.c.conversation_id == c.conversation_id,
            TICKETS.c.created_at >= c.created_at,
            seconds_between(c.created_at, TICKETS.c.created_at) <= FOLLOW_UP_SECONDS,
        ),
    )
    came_back = or_(
        # (NULL-safe: a missing next message is "not again", not unknown.)
        and_(
            c.next_intent.is_not(None),
            c.next_intent == c.intent,
            seconds_between(c.created_at, c.next_at_c) <= FOLLOW_UP_SECONDS,
        ),
        and_(
            c.intent_2.is_not(None),
            c.intent_2 == c.intent,
            seconds_between(c.created_at, c.at_2) <= FOLLOW_UP_SECONDS,
        ),
    )
    topic = and_(c.intent.is_not(None), c.intent.not_in(SMALL_TALK))
    conversation = CONVERSATIONS.c
    return (
        select(
            c.id,
            conversation.customer_id,
            conversation.channel,
            conversation.visibility,
            c.conversation_id,
            c.intent,
            c.created_at,
            case((topic, 1), else_=0).label("topic"),
            case((and_(topic, answered, ~handed_over, ~came_back), 1), else_=0).label("contained"),
            case((c.confidence < threshold, 1), else_=0).label("fallback"),
            case((c.next_intent == DENY, 1), else_=0).label("denied"),
            case((answered, seconds_between(c.created_at, c.next_at))).label("bot_seconds"),
            case((c.turn_number == 1, 1), else_=0).label("opens"),
        )
        .select_from(customer.join(CONVERSATIONS, conversation.id == c.conversation_id))
        .where(c.created_at < window.until)
    )


@dataclass(frozen=True)
class TurnCounts:
    """What a report reads from the turns (:func:`turns`): counts that add up across
    customers, so parts of the customers can be counted apart and merged
    (bot/analytics/parts.py)."""

    groups: list[Group]
    bot_tenths: dict[float, int]  # the bot's response times, per tenth of a second
    # (customer id, person): the first PEOPLE_LISTED by most messages, then customer id.
    fans: list[tuple[int, Person]]
    repeat_complainers: list[tuple[int, Person]]


def report_of(connection: Connection, window: Window, counts: TurnCounts) -> Report:
    """Every figure for ``window``, from its turns' counts; the tickets are read here.

    Callers use :func:`bot.analytics.parts.report`, which counts the turns.
    """
    # The volume, per-intent and per-day figures are sums of the groups' rows.
    groups = counts.groups
    # Each conversation's first turn in the window opens it: summed, they count
    # conversations (a conversation has one channel and one visibility).
    conversations: dict[tuple[str, str], int] = {}
    for g in groups:
        conversations[g.place] = conversations.get(g.place, 0) + g.opens
    answered, (bot_p50, bot_p90) = ranks(counts.bot_tenths)
    # The window's tickets by day, reason and breach, in one pass; each figure a sum.
    ticket_day = day_of(TICKETS.c.created_at)
    tickets = connection.execute(
        _tickets(
            window, ticket_day, TICKETS.c.reason, TICKETS.c.sla_breached, func.count()
        ).group_by(ticket_day, TICKETS.c.reason, TICKETS.c.sla_breached)
    ).all()
    handover_days: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    breaches: dict[str, int] = {}
    for day_text, reason, breach, count in tickets:
        handover_days[day_text] = handover_days.get(day_text, 0) + count
        by_reason[reason] = by_reason.get(reason, 0) + count
        if breach is not None:
            # A mark is "first", or "next:" and when the unanswered stretch began
            # (bot/desk/service_levels.py): counted by kind, not one row per stretch.
            kind = breach.split(":", 1)[0]
            breaches[kind] = breaches.get(kind, 0) + count
    reasons = [
        ReasonCount(reason, count)
        for reason, count in sorted(by_reason.items(), key=lambda r: (-r[1], r[0]))
    ]
    intents = _intents(groups)
    return Report(
        window=window,
        conversations=sum(conversations.values()),
        messages=sum(g.turns for g in groups),
        volume=[
            Volume(channel, visibility, sum(g.turns for g in groups if g.place == place), count)
            for place, count in sorted(conversations.items())
            for channel, visibility in [place]
        ],
        topic_turns=sum(i.turns for i in intents if i.topic),
        contained=sum(i.contained for i in intents if i.topic),
        intents=intents,
        handovers=sum(r.tickets for r in reasons),
        reasons=reasons,
        bot_response=Durations(answered, bot_p50, bot_p90),
        agent_first_response=_durations(connection, window, TICKETS.c.first_response_at),
        time_to_claim=_durations(connection, window, TICKETS.c.claimed_at),
        time_to_resolve=_durations(connection, window, TICKETS.c.resolved_at),
        sla_breaches=breaches,
        days=_days(groups, handover_days),
        fans=[person for _, person in counts.fans],
        repeat_complainers=[person for _, person in counts.repeat_complainers],
        satisfaction=satisfaction(connection, window, _in_scope(window)),
    )


@dataclass(frozen=True)
class Group:
    """Turns of one day, channel, visibility and intent."""

    day: str
    channel: str
    visibility: str
    intent: str | None
    turns: int
    topic: int
    contained: int
    fallbacks: int
    denied: int
    opens: int

    @property
    def place(self) -> tuple[str, str]:
        return self.channel, self.visibility


def _intents(groups: list[Group]) -> list[IntentFigures]:
    """Per intent, most turns first."""
    by_intent: dict[str, list[Group]] = {}
    for group in groups:
        if group.intent is not None:
            by_intent.setdefault(group.intent, []).append(group)
    figures = [
        IntentFigures(
            intent,
            turns=sum(g.turns for g in rows),
            topic=any(g.topic for g in rows),
            contained=sum(g.contained for g in rows),
            fallbacks=sum(g.fallbacks for g in rows),
            denied=sum(g.denied for g in rows),
        )
        for intent, rows in by_intent.items()
    ]
    return sorted(figures, key=lambda f: (-f.turns, f.intent))


def _days(groups: list[Group], handovers: dict[str, int]) -> list[Day]:
    """Per day, in order."""
    days = sorted({g.day for g in groups})
    return [
        Day(
            day,
            messages=sum(g.turns for g in groups if g.day == day),
            topic_turns=sum(g.topic for g in groups if g.day == day),
            contained=sum(g.contained for g in groups if g.day == day),
            positive=sum(g.turns for g in groups if g.day == day and g.intent in POSITIVE),
            negative=sum(g.turns for g in groups if g.day == day and g.intent in NEGATIVE),
            handovers=handovers.get(day, 0),
        )
        for day in days
    ]


def _tickets(window: Window, *columns: Any) -> Select:
    """Tickets opened in the window (on conversations in scope)."""
    return (
        select(*columns)
        .select_from(TICKETS.join(CONVERSATIONS, CONVERSATIONS.c.id == TICKETS.c.conversation_id))
        .where(
            TICKETS.c.created_at >= window.since,
            TICKETS.c.created_at < window.until,
            *_in_scope(window),
        )
    )


def _durations(connection: Connection, window: Window, until: Any) -> Durations:
    """From each ticket's opening to ``until`` (a ticket column), for tickets that got there."""
    seconds = _tickets(window, seconds_between(TICKETS.c.created_at, until)).where(
        until.is_not(None)
    )
    count, (p50, p90) = percentiles(connection, seconds)
    return Durations(count, p50, p90)
