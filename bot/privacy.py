"""Finds personal data in text, to keep it out of public replies and out of training data.

Two users: the gateway refuses to post a public reply that carries any of it
(the last line of defence behind the assistant's ``visibility`` marks), and
the trainers' review inbox replaces it with placeholders before a message can
end up in ``data/nlu.yml``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass


class Kind(str, enum.Enum):
    """What sort of personal data was found."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card_number"
    BOOKING_REF = "booking_ref"
    BAGGAGE_REF = "baggage_ref"
    HANDLE = "handle"
    NAME = "name"


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and where it is."""

    kind: Kind
    start: int
    end: int
    text: str


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d[\d\s.-]{5,16}\d(?!\w)"
)
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_BAGGAGE = re.compile(r"\b[A-Za-z]{3}[A-Za-z0-9]{2}\d{5}\b")
# Six letters and digits, with both, upper case: how record locators are printed.
_LOCATOR = re.compile(r"\b(?=[A-Z0-9]{6}\b)(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z0-9]{6}\b")
_FLIGHT_SHAPE = re.compile(r"^[A-Z]{2}\d{1,4}$|^\d+[A-Z]+$")
# Any case after words that announce a locator: "conf code qx7k2p".
_LOCATOR_IN_CONTEXT = re.compile(
    r"\b(?:ref(?:erence)?|pnr|booking|confirmation|conf|locator|record|reservation)"
    r"(?:\s*(?:#|no\.?|number|code|is|:|-))*\s*([A-Za-z0-9]{6})\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,15}\b")
_NAME = re.compile(
    r"\b(?:my name is|my name's|name is|name's|this is|i am|i'm)\s+"
    r"([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+){0,2})",
    re.IGNORECASE,
)
_NOT_NAMES = {"here", "so", "not", "very", "on", "at", "in", "stuck", "still", "just", "sorry"}


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _cards(text: str) -> Iterable[Finding]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            yield Finding(Kind.CARD, match.start(), match.end(), match.group())


def _phones(text: str) -> Iterable[Finding]:
    for match in _PHONE.finditer(text):
        candidate = match.group().strip()
        digits = re.sub(r"\D", "", candidate)
        if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(candidate):
            continue
        # A bare run of digits is an order or flight number more often than a
        # phone; phones are written with separators or a country code.
        if candidate.isdigit() and len(digits) < 10:
            continue
        yield Finding(Kind.PHONE, match.start(), match.start() + len(candidate), candidate)


def _locators(text: str) -> Iterable[Finding]:
    for match in _LOCATOR.finditer(text):
        if not _FLIGHT_SHAPE.match(match.group()):
            yield Finding(Kind.BOOKING_REF, match.start(), match.end(), match.group())
    for match in _LOCATOR_IN_CONTEXT.finditer(text):
        value = match.group(1)
        if any(c.isdigit() for c in value) or value.isupper():
            yield Finding(Kind.BOOKING_REF, match.start(1), match.end(1), value)


def _names(text: str) -> Iterable[Finding]:
    for match in _NAME.finditer(text):
        words = match.group(1).split()
        kept: list[str] = []
        for word in words:
            if word.lower() in _NOT_NAMES or not word[0].isupper():
                break
            kept.append(word)
        if kept:
            name = " ".join(kept)
            yield Finding(Kind.NAME, match.start(1), match.start(1) + len(name), name)


def find_personal_data(text: str, kinds: Iterable[Kind] = tuple(Kind)) -> list[Finding]:
    """Personal data in ``text``, of the given kinds, without overlaps, in order."""
    wanted = set(kinds)
    found: list[Finding] = []
    emails = [Finding(Kind.EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    candidates: list[Finding] = [
        *emails,
        *_cards(text),
        *(
            Finding(Kind.BAGGAGE_REF, m.start(), m.end(), m.group())
            for m in _BAGGAGE.finditer(text)
        ),
        *_locators(text),
        *_phones(text),
        *(Finding(Kind.HANDLE, m.start(), m.end(), m.group()) for m in _HANDLE.finditer(text)),
        *_names(text),
    ]
    # Earlier kinds win an overlap: an email's "@example" is not a handle.
    for finding in candidates:
        if finding.kind not in wanted:
            continue
        if any(f.start < finding.end and finding.start < f.end for f in found):
            continue
        if finding.kind == Kind.HANDLE and any(e.start <= finding.start < e.end for e in emails):
            continue
        found.append(finding)
    return sorted(found, key=lambda f: f.start)


def redact(text: str, kinds: Iterable[Kind] = tuple(Kind)) -> str:
    """``text`` with each piece of personal data replaced by a placeholder like ``<email>``."""
    pieces = []
    position = 0
    for finding in find_personal_data(text, kinds):
        pieces.append(text[position : finding.start])
        pieces.append(f"<{finding.kind.value}>")
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


#: What must never appear in a public reply. Handles are fine there (a public
#: reply addresses the customer by handle); names cannot be told from other
#: capitalised words in the bot's own sentences, so replies that carry a
#: customer's name are caught by their ``visibility: private`` mark instead.
PUBLIC_REPLY_KINDS = (Kind.EMAIL, Kind.PHONE, Kind.CARD, Kind.BOOKING_REF, Kind.BAGGAGE_REF)
