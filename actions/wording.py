"""Sends the responses of ``actions/responses.yml`` the way Rasa sends domain responses.

Rasa's own response generator only knows the domain's responses, and every
domain response that no story or rule uses is reported by
``rasa data validate``. The actions' wording therefore lives in its own file
with the same format (variations, ``{slot}`` filling, slot conditions,
``metadata``), and this module renders it. Each message carries its response
name as ``utter_action``, like a domain response does, so the tracker and the
gateway can tell which response was sent.
"""

from __future__ import annotations

import functools
import random
import string
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

RESPONSES_FILE = Path(__file__).with_name("responses.yml")


class UnknownResponse(KeyError):
    """An action asked for a response that responses.yml does not define."""


@functools.cache
def responses(path: Path = RESPONSES_FILE) -> dict[str, list[dict[str, Any]]]:
    """The responses file, read once per process."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(raw.get("responses") or {})


def _matches(variation: dict[str, Any], tracker: Tracker) -> bool:
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot":
            value = tracker.get_slot(condition["name"])
            if str(value).casefold() != str(condition["value"]).casefold():
                return False
    return True


def choose(name: str, tracker: Tracker) -> dict[str, Any]:
    """Picks a variation: among those whose conditions hold, else among unconditional ones."""
    try:
        variations = responses()[name]
    except KeyError:
        raise UnknownResponse(name) from None
    conditional = [v for v in variations if v.get("condition") and _matches(v, tracker)]
    plain = [v for v in variations if not v.get("condition")]
    return random.choice(conditional or plain)


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a response text expects."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Reply:
    """What an action says back in this turn: responses by name, and payloads."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        self.dispatcher = dispatcher
        self.tracker = tracker

    def say(self, name: str, **values: Any) -> None:
        """Sends response ``name`` with ``values`` filled in (slots fill what values don't)."""
        variation = choose(name, self.tracker)
        fill = {**self.tracker.current_slot_values(), **values}
        text = variation["text"]
        missing = placeholders(text) - fill.keys()
        if missing:
            raise KeyError(f"response {name!r} needs {sorted(missing)}")
        self.dispatcher.utter_message(
            text=text.format_map(fill),
            metadata=dict(variation.get("metadata") or {}),
            utter_action=name,
        )

    def payload(self, payload: dict[str, Any]) -> None:
        """Sends a machine-readable payload (Rasa's ``custom`` message)."""
        self.dispatcher.utter_message(json_message=payload)
