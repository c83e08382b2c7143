"""Canonical values for the entities customers write in many shapes.

"AA 1234", "aa1234" and "flight 2034" become "AA1234" and "NW2034"; "tmrw",
"Dec 3" and "12/03" become dates. The NLU extractor and the custom actions both
use these, so a slot holds the same value whichever way it was filled.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

# A carrier code is two characters, letters or a letter and a digit (IATA),
# followed by 1-4 digits and sometimes an operational suffix letter.
_FLIGHT = re.compile(
    r"^(?:(?P<carrier>[A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])\s*-?\s*)?#?\s*(?P<number>[0-9]{1,4})(?P<suffix>[A-Z]?)$"
)
_FLIGHT_WORDS = re.compile(r"^(?:flight|flt|fl|flght|flite)\b\.?\s*(?:no\.?|number|num)?\s*", re.I)
_BOOKING = re.compile(r"^[A-Z0-9]{6}$")
_BAGGAGE = re.compile(r"^(?P<station>[A-Z]{3})(?P<carrier>[A-Z0-9]{2})(?P<number>[0-9]{5})$")


def flight_number(text: str, default_carrier: str) -> str | None:
    """Returns the canonical flight number ("NW2034") or None if ``text`` is not one.

    A bare number ("2034", "flight #2034") belongs to ``default_carrier``.
    """
    cleaned = _FLIGHT_WORDS.sub("", text.strip()).strip().upper()
    match = _FLIGHT.match(cleaned)
    if not match:
        return None
    number = int(match["number"])
    if number == 0:
        return None
    carrier = match["carrier"] or default_carrier.upper()
    return f"{carrier}{number}{match['suffix']}"


def booking_ref(text: str) -> str | None:
    """Returns the record locator in upper case, or None if ``text`` is not 6 letters/digits."""
    cleaned = text.strip().strip(".,;:!?#").upper()
    return cleaned if _BOOKING.match(cleaned) else None


def baggage_ref(text: str) -> str | None:
    """Returns a baggage file reference ("ORDNW10234": station, carrier, 5 digits) or None."""
    cleaned = re.sub(r"[\s-]", "", text.strip()).upper()
    return cleaned if _BAGGAGE.match(cleaned) else None


_RELATIVE_DAYS = {
    "today": 0,
    "tonight": 0,
    "tonite": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "now": 0,
    "tomorrow": 1,
    "tmrw": 1,
    "tmr": 1,
    "tomorow": 1,
    "tommorow": 1,
    "tommorrow": 1,
    "tomorrow morning": 1,
    "tomorrow night": 1,
    "yesterday": -1,
    "last night": -1,
    "yday": -1,
}
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAYS.update({name.lower(): i for i, name in enumerate(calendar.day_abbr)})
_WEEKDAYS.update({"tues": 1, "thur": 3, "thurs": 3, "weds": 2})
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_ORDINAL = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
_MONTH = r"(?P<month>[a-z]+)\.?"
_DAY_MONTH = re.compile(
    rf"^(?:the\s+)?{_ORDINAL}(?:\s+of)?\s+{_MONTH}(?:\s+(?P<year>[0-9]{{4}}))?$"
)
_MONTH_DAY = re.compile(rf"^{_MONTH}\s+(?:the\s+)?{_ORDINAL}(?:,?\s+(?P<year>[0-9]{{4}}))?$")
_NUMERIC = re.compile(r"^(?P<a>[0-9]{1,2})[/.](?P<b>[0-9]{1,2})(?:[/.](?P<year>[0-9]{2,4}))?$")
_ISO = re.compile(r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})$")


def travel_date(text: str, today: date) -> date | None:
    """Resolves what a customer wrote about a travel day to a date, relative to ``today``.

    Numeric dates are read month first ("12/03" is 3 December), as most of the
    airline's customers write them; a date without a year is the next such day
    within the coming months, or a recent one if it is less than a week ago.
    """
    phrase = re.sub(r"\s+", " ", text.strip().lower().rstrip(".!?,"))
    if phrase in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[phrase])
    weekday = _weekday(phrase, today)
    if weekday is not None:
        return weekday
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        match = pattern.match(phrase)
        if match and match["month"] in _MONTHS:
            return _closest(today, _MONTHS[match["month"]], int(match["day"]), match["year"])
    match = _NUMERIC.match(phrase)
    if match:
        return _closest(today, int(match["a"]), int(match["b"]), match["year"])
    match = _ISO.match(phrase)
    if match:
        return _closest(today, int(match["month"]), int(match["day"]), match["year"])
    return None


def _weekday(phrase: str, today: date) -> date | None:
    words = phrase.split()
    if not words or words[-1] not in _WEEKDAYS or len(words) > 2:
        return None
    modifier = words[0] if len(words) == 2 else ""
    if modifier not in ("", "this", "next", "on", "last"):
        return None
    target = _WEEKDAYS[words[-1]]
    ahead = (target - today.weekday()) % 7
    if modifier == "last":
        return today - timedelta(days=(7 - ahead) % 7 or 7)
    if modifier == "next" and ahead == 0:
        ahead = 7
    return today + timedelta(days=ahead)


def _closest(today: date, month: int, day: int, year: str | None) -> date | None:
    try:
        if year:
            full_year = int(year) + (2000 if len(year) == 2 else 0)
            return date(full_year, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    if candidate < today - timedelta(days=7):
        try:
            candidate = date(today.year + 1, month, day)
        except ValueError:
            return None
    return candidate
