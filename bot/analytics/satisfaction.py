"""Customer satisfaction (CSAT), from the ratings the gateway offers after a resolution
(bot/conversation/csat.py): one figure, written once for SQLite and PostgreSQL.

The window's **offers** are the ratings offered in it (``since <= offered_at <
until``) on the conversations in scope (real or demo, the channel); a tap that
comes after the window's end still counts for its offer, so the response rate
has the same offers above and below the line. **Rated**: a score was tapped;
**satisfied**: the score is :data:`SATISFIED` or more (4 or 5 of 5). **CSAT** =
satisfied / rated; **response rate** = rated / offered. docs/analytics.md has
the definitions and the SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from bot.analytics.figures import Satisfaction, SatisfactionFigures, Window
from bot.analytics.sql import day_of
from bot.store.models import Conversation, Rating

RATINGS = Rating.__table__
CONVERSATIONS = Conversation.__table__
#: The lowest score of a satisfied customer (of 1 to 5: "4 or 5", the usual CSAT cut).
SATISFIED = 4


def satisfaction(connection: Connection, window: Window, scope: list[Any]) -> SatisfactionFigures:
    """The window's offers and ratings; ``scope`` are the conditions on the conversation."""
    r = RATINGS.c
    day = day_of(r.offered_at)
    offers = RATINGS.join(CONVERSATIONS, CONVERSATIONS.c.id == r.conversation_id)
    in_window = (r.offered_at >= window.since, r.offered_at < window.until, *scope)
    rows = connection.execute(
        select(
            day,
            r.channel,
            func.count(),
            func.count(r.score),
            func.sum(case((r.score >= SATISFIED, 1), else_=0)),
        )
        .select_from(offers)
        .where(*in_window)
        .group_by(day, r.channel)
    ).all()
    scores = connection.execute(
        select(r.score, func.count())
        .select_from(offers)
        .where(*in_window, r.score.is_not(None))
        .group_by(r.score)
    ).all()
    channels: dict[str, Satisfaction] = {}
    days: dict[str, Satisfaction] = {}
    for day_text, channel, offered, rated, satisfied in rows:
        one = Satisfaction(int(offered), int(rated), int(satisfied or 0))
        channels[channel] = _add(channels.get(channel), one)
        days[day_text] = _add(days.get(day_text), one)
    return SatisfactionFigures(
        total=_add(None, *channels.values()),
        channels=dict(sorted(channels.items())),
        days=dict(sorted(days.items())),
        scores={int(score): int(count) for score, count in sorted(scores)},
    )


def _add(first: Satisfaction | None, *more: Satisfaction) -> Satisfaction:
    parts = ([first] if first is not None else []) + list(more)
    return Satisfaction(
        sum(p.offered for p in parts), sum(p.rated for p in parts), sum(p.satisfied for p in parts)
    )
