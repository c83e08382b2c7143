"""Takes personal data out of a customer's message before it can become training data.

What replaces it depends on what the model should learn from it:

* record locators and bag-tag numbers are part of what the customer asks
  about, and the assistant extracts them as entities; they become a fixed,
  made-up value annotated as that entity (``[ABC123](booking_ref)``), so the
  example still teaches the shape;
* emails, phone numbers, card numbers, names and other people's @handles carry
  nothing the intent depends on; they become placeholders in angle brackets
  (``<email>``), which a trainer sees at once and which cannot be mistaken for
  a real value.

The brand's own handle stays: "@NorthwindAir my bag is gone" is how customers
write, and it is not personal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.brand import load_brand
from bot.privacy import Finding, Kind, find_personal_data

#: Made-up values for what stays an entity; distinct ones for a second and third.
SURROGATES: dict[Kind, tuple[str, ...]] = {
    Kind.BOOKING_REF: ("ABC123", "DEF456", "GHJ789"),
    Kind.BAGGAGE_REF: ("NWXAB12345", "NWXCD67890", "NWXEF13579"),
}
ENTITY_OF = {Kind.BOOKING_REF: "booking_ref", Kind.BAGGAGE_REF: "baggage_ref"}
PLACEHOLDER_OF = {
    Kind.EMAIL: "<email>",
    Kind.PHONE: "<phone>",
    Kind.CARD: "<card number>",
    Kind.NAME: "<name>",
    Kind.HANDLE: "@someone",
}
#: Rasa's training-text entity annotation, ``[value](entity)``.
ANNOTATION = re.compile(r"\[([^\]]+)\]\((\w+)\)")
_ANNOTATION_START = re.compile(r"\](?=[({\[])")
# A handle left in a redacted text: the brand's own, or "@someone" for another's.
_HANDLE = re.compile(r"@\w+")


@dataclass(frozen=True)
class Redacted:
    """A message made safe to keep: annotated training text, plain text, what was removed."""

    text: str  # in Rasa's training format: entities annotated as [value](entity)
    plain: str  # the same words without the annotation markup
    removed: tuple[str, ...]  # kinds of personal data taken out (privacy.Kind values)


def is_bare_value(annotated: str) -> bool:
    """Nothing but values (a record locator, a number) and @handles: an answer to the bot,
    not a request. ``annotated``: redacted training text (:func:`redact_for_training`)."""
    words = _HANDLE.sub("", ANNOTATION.sub("", annotated))
    return not any(ch.isalpha() for ch in words)


def plain_text(annotated: str) -> str:
    """Rasa training text without its ``[value](entity)`` markup."""
    return ANNOTATION.sub(lambda m: m.group(1), annotated)


def redact_for_training(text: str, keep_handles: Iterable[str] | None = None) -> Redacted:
    """``text`` without personal data, ready for ``data/nlu.yml``."""
    kept = {h.lstrip("@").lower() for h in (keep_handles or (load_brand().twitter_handle,))}
    findings = [
        f
        for f in find_personal_data(text)
        if not (f.kind == Kind.HANDLE and f.text.lstrip("@").lower() in kept)
    ]
    annotated, plain = _replace(text, findings, annotate=True), _replace(text, findings, False)
    return Redacted(annotated, plain, tuple(sorted({f.kind.value for f in findings})))


def _replace(text: str, findings: list[Finding], annotate: bool) -> str:
    keep = _escape if annotate else (lambda piece: piece)
    pieces: list[str] = []
    position = 0
    surrogate_for: dict[tuple[Kind, str], str] = {}
    for finding in findings:
        pieces.append(keep(text[position : finding.start]))
        pieces.append(_stand_in(finding, surrogate_for, annotate))
        position = finding.end
    pieces.append(keep(text[position:]))
    return "".join(pieces)


def _stand_in(finding: Finding, surrogate_for: dict[tuple[Kind, str], str], annotate: bool) -> str:
    if finding.kind in SURROGATES:
        key = (finding.kind, finding.text.upper())
        if key not in surrogate_for:
            used = sum(1 for kind, _ in surrogate_for if kind == finding.kind)
            pool = SURROGATES[finding.kind]
            surrogate_for[key] = pool[used % len(pool)]
        value = surrogate_for[key]
        return f"[{value}]({ENTITY_OF[finding.kind]})" if annotate else value
    return PLACEHOLDER_OF[finding.kind]


def _escape(text: str) -> str:
    # Rasa reads "[x](...)", "[x]{...}" and "[x][...]" as entity annotations: a
    # customer's own markdown link must not become one. A space after the
    # bracket keeps the words and breaks the syntax.
    return _ANNOTATION_START.sub("] ", text)
