"""What a handed-over customer is told about the wait, and when: pure functions, no store.

From the care team's opening hours and the queue (``care_team`` in brand.yml)
and the time now:

* at the handover, when a person will answer: "usually within about 20
  minutes" while the team is in, "they're back tomorrow at 08:00 Boston
  time" when it is not (:func:`on_handover`);
* one honest update once the ticket's first-response target passes with no
  person on it, and after ``give_back_after_minutes`` the conversation goes
  back to the bot with an apology and what the customer can do
  (:func:`follow_up`). Both count only the team's opening hours: a message
  sent at night is not "late" before the team is in.

The wording is the brand's (``gateway_messages``); this module picks the
message and fills in its values. ``bot/conversation/waiting.py`` applies it to the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CareTeam:
    """When the care team works, and how fast its queue moves."""

    timezone: str
    city: str  # how times are named to customers: "08:00 Boston time"
    # weekday (0 = Monday) -> (opens, closes), local time; a day not listed is closed
    hours: dict[int, tuple[time, time]]
    minutes_per_ticket: int  # how much longer each ticket ahead makes the wait
    give_back_after_minutes: int  # open minutes with no person, then the bot takes it back

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> CareTeam:
        """Reads brand.yml's ``care_team`` (see there); a clear error for a wrong value."""
        hours: dict[int, tuple[time, time]] = {}
        for day, span in (raw.get("hours") or {}).items():
            if str(day).lower() not in DAYS:
                raise ValueError(f"brand.yml: care_team.hours: {day!r} is not one of {DAYS}")
            opens, _, closes = str(span).partition("-")
            try:
                start = time.fromisoformat(opens.strip())
                # "24:00": open until midnight (a team that never closes: 00:00-24:00)
                end = time.max if closes.strip() == "24:00" else time.fromisoformat(closes.strip())
            except ValueError:
                raise ValueError(
                    f"brand.yml: care_team.hours.{day}: {span!r} is not like 08:00-20:00"
                ) from None
            if end <= start:
                raise ValueError(f"brand.yml: care_team.hours.{day}: closes before it opens")
            hours[DAYS.index(str(day).lower())] = (start, end)
        ZoneInfo(str(raw["timezone"]))  # an unknown zone fails here, at start-up
        return cls(
            timezone=str(raw["timezone"]),
            city=str(raw["city"]),
            hours=hours,
            minutes_per_ticket=int(raw.get("minutes_per_ticket", 10)),
            give_back_after_minutes=int(raw.get("give_back_after_minutes", 240)),
        )

    def local(self, moment: datetime) -> datetime:
        """A naive UTC moment as the team's local time."""
        return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(self.timezone))

    def _span(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening hours as aware local datetimes, if the team works that day."""
        hours = self.hours.get(day.weekday())
        if hours is None:
            return None
        zone = ZoneInfo(self.timezone)
        return datetime.combine(day, hours[0], zone), datetime.combine(day, hours[1], zone)

    def is_open(self, now: datetime) -> bool:
        """Whether the team is in at ``now`` (naive UTC)."""
        local = self.local(now)
        span = self._span(local.date())
        return span is not None and span[0] <= local < span[1]

    def next_opening(self, now: datetime) -> datetime | None:
        """When the team is next in after ``now`` (aware, local); None if it never is."""
        local = self.local(now)
        for offset in range(8):
            span = self._span(local.date() + timedelta(days=offset))
            if span is not None and span[0] > local:
                return span[0]
        return None

    def open_minutes(self, start: datetime, end: datetime) -> float:
        """Minutes between ``start`` and ``end`` (naive UTC) while the team was in."""
        first, last = self.local(start), self.local(end)
        total = 0.0
        day = first.date()
        while day <= last.date():
            span = self._span(day)
            if span is not None:
                overlap = min(span[1], last) - max(span[0], first)
                total += max(0.0, overlap.total_seconds() / 60)
            day += timedelta(days=1)
        return total

    def hours_text(self) -> str:
        """ "Mon-Fri 08:00-20:00 and Sat-Sun 09:00-17:00, Boston time": days with the same
        hours grouped, as a customer reads them."""
        groups: list[tuple[list[int], tuple[time, time]]] = []
        for weekday in range(7):
            hours = self.hours.get(weekday)
            if hours is None:
                continue
            if groups and groups[-1][1] == hours and groups[-1][0][-1] == weekday - 1:
                groups[-1][0].append(weekday)
            else:
                groups.append(([weekday], hours))
        parts = []
        for days, (opens, closes) in groups:
            names = [DAYS[d].title() for d in (days[0], days[-1])]
            label = names[0] if len(days) == 1 else f"{names[0]}-{names[1]}"
            until = "24:00" if closes == time.max else f"{closes:%H:%M}"
            parts.append(f"{label} {opens:%H:%M}-{until}")
        if not parts:
            return "by appointment"
        listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        return f"{listed}, {self.city} time"


@dataclass(frozen=True)
class Notice:
    """One of the brand's gateway messages, and the values that fill it in."""

    name: str
    values: dict[str, str]


def wait_phrase(minutes: float) -> str:
    """ "about 15 minutes", "about 2 hours": a promise a person can keep, rounded up."""
    if minutes <= 55:
        rounded = max(5, int(-(-minutes // 5) * 5))
        return f"about {rounded} minutes"
    hours = max(1, round(minutes / 60))
    return f"about {hours} hour{'s' if hours != 1 else ''}"


def when_phrase(moment: datetime, now_local: datetime, city: str) -> str:
    """ "today at 08:00 Boston time", "tomorrow at ...", "on Monday at ..."."""
    days = (moment.date() - now_local.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"on {moment:%A}"
    return f"{day} at {moment:%H:%M} {city} time"


def on_handover(team: CareTeam, ahead: int, target_minutes: int, now: datetime) -> Notice:
    """What the customer is told when their conversation joins the queue.

    ``ahead``: tickets waiting for a first answer before this one. The wait is
    the queue's (``minutes_per_ticket`` each, this one included), never more
    than the service-level target the team commits to (``target_minutes``):
    past that, the team is late and the customer gets an update instead.
    """
    if not team.is_open(now):
        opens = team.next_opening(now)
        if opens is None:
            return Notice("expect_reply_unknown", {})
        return Notice(
            "expect_reply_closed",
            {
                "opens": when_phrase(opens, team.local(now), team.city),
                "hours": team.hours_text(),
            },
        )
    wait = min((ahead + 1) * team.minutes_per_ticket, target_minutes)
    queue = (
        "you're next"
        if ahead == 0
        else f"{ahead} {'person is' if ahead == 1 else 'people are'} ahead of you"
    )
    return Notice("expect_reply", {"wait": wait_phrase(wait), "queue": queue})


class Step(str, enum.Enum):
    """What happens next to a ticket no person has answered."""

    UPDATE = "update"  # the one honest update: still in the queue, sorry for the wait
    GIVE_BACK = "give_back"  # the bot takes the conversation back, with an apology


def follow_up(
    team: CareTeam, target_minutes: int, created: datetime, now: datetime, updated: bool
) -> Step | None:
    """The next step for a ticket opened at ``created`` that no person has answered yet
    (``updated``: the customer already had their update), counting opening hours only."""
    waited = team.open_minutes(created, now)
    if waited >= team.give_back_after_minutes:
        return Step.GIVE_BACK
    if waited >= target_minutes and not updated:
        return Step.UPDATE
    return None
