"""Small pieces every action needs: the clock, the database session, the tracker's context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from actions.airline import db
from bot.contract import INTENT_ALSO, Visibility


@contextmanager
def airline_session() -> Iterator[Session]:
    """A session in a transaction that commits on success and rolls back on error."""
    with db.session_factory().begin() as session:
        yield session


def visibility(tracker: Tracker) -> Visibility:
    """Whether the conversation is public (a tweet thread) or private (a DM, a chat)."""
    value = tracker.get_slot("visibility")
    return Visibility.PUBLIC if value == Visibility.PUBLIC.value else Visibility.PRIVATE


def _parses(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """The parse of each customer message, newest first."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            yield event.get("parse_data") or {}


def _second(parse: dict[str, Any]) -> str | None:
    also = parse.get(INTENT_ALSO) or {}
    return str(also["name"]) if isinstance(also, dict) and also.get("name") else None


def latest_intent_among(tracker: Tracker, intents: set[str]) -> str | None:
    """The most recent customer intent that is one of ``intents``, a message's own or its
    second one ("flight cancelled, I want my money back" asks for a refund too).

    A form asks questions in between, so the intent that started a look-up is
    not always the latest one.
    """
    for parse in _parses(tracker):
        name = (parse.get("intent") or {}).get("name")
        if name in intents:
            return str(name)
        second = _second(parse)
        if second in intents:
            return second
    return None


# Messages that carry no request of their own: answers to the bot's questions, small talk.
NO_TOPIC = {"affirm", "deny", "greet", "goodbye", "thank", "nlu_fallback"}


def latest_topic(tracker: Tracker) -> tuple[str | None, str | None]:
    """The latest customer request (its intent) and the second intent it carried, if any."""
    for parse in _parses(tracker):
        name = (parse.get("intent") or {}).get("name")
        if name and name not in NO_TOPIC:
            return str(name), _second(parse)
    return None, None


def second_intent(tracker: Tracker, intents: set[str]) -> str | None:
    """The second intent of the latest message whose own intent is one of ``intents``
    (the message that started the flow), if it carried one."""
    for parse in _parses(tracker):
        if (parse.get("intent") or {}).get("name") in intents:
            return _second(parse)
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


def city_time(moment: datetime, city: str, timezone_name: str) -> str:
    """A UTC moment as a customer can read it without guessing the zone: "14:35 Boston time".

    A bare "14:35" in a reply to a customer in another zone (or on another
    continent, for a long-haul flight) reads as their own clock time.
    """
    return f"{local_time(moment, timezone_name)} {city} time"


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
