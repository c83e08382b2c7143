"""Small pieces every action needs: the clock, the database session, the tracker's context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from actions.airline import db
from bot.contract import Visibility


@contextmanager
def airline_session() -> Iterator[Session]:
    """A session in a transaction that commits on success and rolls back on error."""
    with db.session_factory().begin() as session:
        yield session


def visibility(tracker: Tracker) -> Visibility:
    """Whether the conversation is public (a tweet thread) or private (a DM, a chat)."""
    value = tracker.get_slot("visibility")
    return Visibility.PUBLIC if value == Visibility.PUBLIC.value else Visibility.PRIVATE


def latest_intent_among(tracker: Tracker, intents: set[str]) -> str | None:
    """The most recent customer intent that is one of ``intents``.

    A form asks questions in between, so the intent that started a look-up is
    not always the latest one.
    """
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if name in intents:
                return str(name)
    return None


def latest_intent(tracker: Tracker) -> tuple[str | None, float | None]:
    """Name and confidence of the latest message's intent."""
    intent = tracker.latest_message.get("intent") or {}
    confidence = intent.get("confidence")
    return intent.get("name"), float(confidence) if confidence is not None else None


def local_time(moment: datetime, timezone_name: str) -> str:
    """A UTC moment as local clock time at an airport ("14:35")."""
    aware = moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(timezone_name))
    return aware.strftime("%H:%M")


def day_phrase(day: date, today: date) -> str:
    """How a person would name a travel day relative to today."""
    offset = (day - today).days
    if offset == 0:
        return "today"
    if offset == 1:
        return "tomorrow"
    if offset == -1:
        return "yesterday"
    return f"on {day.strftime('%a')} {day.day} {day.strftime('%b')}"


def duration(minutes: int) -> str:
    """A delay as people say it: "50 minutes", "3 hours 5 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def money(cents: int, currency: str) -> str:
    """An amount as a customer reads it ("$289.00")."""
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{cents / 100:,.2f}"
