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
# Dates and clock times, masked before looking for phones: "2026-11-03 14:35"
# is otherwise one run of ten digits with separators. Not when more digits
# follow, so that "06.12.34.56.78" (a French phone) stays whole.
_DATE_OR_TIME = re.compile(
    r"(?<![\d.:/-])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
    r"|\d{1,2}:\d{2}(?::\d{2})?)(?!\d|[.:/-]\d)"
)
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
# No length limit: Twitter handles have up to 15 characters, Telegram
# usernames up to 32, and a longer one is still somebody's.
_HANDLE = re.compile(r"(?<![\w@])@\w+")
# "@5pm", "@14:35", "@JFK": a time or an airport, not somebody to hide.
_NOT_HANDLE = re.compile(r"@(?:\d{1,2}(?:[AaPp][Mm])?|[A-Z]{3})(?!\w)")
# A word of a name in any script: "Müller", "José", "O'Brien", "Mary-Jane".
_NAME_WORD = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"
# After "my name is" or a "Name:" label the next word is the name even in
# lower case; after "this is" or "I'm" only a capitalised word is one.
# Words of a name are on one line: "Name: Jürgen Weiß\nBooking ref: ..."
_NAME = re.compile(
    r"\b(?:(?P<said>(?:my )?name(?: is|['’]s)\s+|(?:full |passenger )?name\s*:\s*)"
    r"|(?:this is|i am|i['’]m)\s+)"
    rf"(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})",
    re.IGNORECASE,
)
_NOT_NAMES = {
    *("here", "so", "not", "very", "on", "at", "in", "stuck", "still", "just", "sorry"),
    # "my name is misspelled on my ticket": what customers say about a name.
    *("spelled", "spelt", "misspelled", "misspelt", "wrong", "incorrect", "missing", "different"),
    *("the", "and", "a", "an", "also", "too", "changed", "correct", "right"),
}


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
    # Same length, no digits: positions stay those of ``text``.
    masked = _DATE_OR_TIME.sub(lambda m: "x" * len(m.group()), text)
    for match in _PHONE.finditer(masked):
        candidate = match.group().strip()
        digits = re.sub(r"\D", "", candidate)
        if not 7 <= len(digits) <= 15:
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


def _handles(text: str) -> Iterable[Finding]:
    for match in _HANDLE.finditer(text):
        if not _NOT_HANDLE.match(text, match.start()):
            yield Finding(Kind.HANDLE, match.start(), match.end(), match.group())


def _names(text: str) -> Iterable[Finding]:
    for match in _NAME.finditer(text):
        words = list(re.finditer(r"\S+", match.group("name")))
        kept = 0
        for word in (w.group() for w in words):
            # Only the first word after "my name is" may be lower case: "my name
            # is kevin and ..." must not take "and" as a surname.
            said_in_lower_case = match.group("said") is not None and kept == 0
            if word.lower() in _NOT_NAMES or not (word[0].isupper() or said_in_lower_case):
                break
            kept += 1
        if kept:
            start, end = match.start("name"), match.start("name") + words[kept - 1].end()
            yield Finding(Kind.NAME, start, end, text[start:end])


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
        *_handles(text),
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
