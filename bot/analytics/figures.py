"""The figures of a report as plain typed data (what metrics.py computes, report.py writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Window:
    """What a report covers: ``since <= created_at < until``, one channel or all, real or
    demo conversations (never both)."""

    since: datetime
    until: datetime
    channel: str | None = None
    demo: bool = False


@dataclass(frozen=True)
class Volume:
    """Customer messages and conversations on one channel, in public or in private."""

    channel: str
    visibility: str
    messages: int
    conversations: int


@dataclass(frozen=True)
class IntentFigures:
    """What the bot made of one intent's turns."""

    intent: str
    turns: int
    topic: bool  # containment is measured (not small talk)
    contained: int
    fallbacks: int  # confidence under the fallback threshold
    denied: int  # the customer's next message was "no, that's not it"


@dataclass(frozen=True)
class Durations:
    """How many, and the median and 90th percentile in seconds (None when there are none)."""

    count: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class ReasonCount:
    """Handovers for one reason."""

    reason: str
    tickets: int


@dataclass(frozen=True)
class Day:
    """One UTC day's figures."""

    day: str
    messages: int
    topic_turns: int
    contained: int
    positive: int
    negative: int
    handovers: int = 0


@dataclass(frozen=True)
class Person:
    """A customer and how many messages of a kind they wrote."""

    channel: str
    handle: str
    messages: int


@dataclass(frozen=True)
class Satisfaction:
    """Satisfaction ratings offered, rated (a score tapped) and satisfied (rated 4 or 5 of 5)."""

    offered: int = 0
    rated: int = 0
    satisfied: int = 0

    @property
    def csat(self) -> float | None:
        """Satisfied over rated (None without ratings)."""
        return self.satisfied / self.rated if self.rated else None

    @property
    def response_rate(self) -> float | None:
        """Rated over offered (None without offers)."""
        return self.rated / self.offered if self.offered else None


@dataclass(frozen=True)
class SatisfactionFigures:
    """The window's ratings in all, by channel and by the day they were offered, and how
    many of each score."""

    total: Satisfaction = field(default_factory=Satisfaction)
    channels: dict[str, Satisfaction] = field(default_factory=dict)
    days: dict[str, Satisfaction] = field(default_factory=dict)
    scores: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """Every figure of a window (plain data: report.py writes it as JSON, CSV or Markdown)."""

    window: Window
    conversations: int
    messages: int
    volume: list[Volume]
    topic_turns: int
    contained: int
    intents: list[IntentFigures]
    handovers: int
    reasons: list[ReasonCount]
    bot_response: Durations
    agent_first_response: Durations
    time_to_claim: Durations
    time_to_resolve: Durations
    sla_breaches: dict[str, int]
    days: list[Day]
    fans: list[Person] = field(default_factory=list)
    repeat_complainers: list[Person] = field(default_factory=list)
    satisfaction: SatisfactionFigures = field(default_factory=SatisfactionFigures)

    @property
    def containment(self) -> float | None:
        """Contained topic turns over all topic turns."""
        return self.contained / self.topic_turns if self.topic_turns else None

    @property
    def handover_rate(self) -> float | None:
        """Handovers over conversations with a customer message in the window."""
        return self.handovers / self.conversations if self.conversations else None
