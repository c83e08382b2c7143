"""Runs custom actions the way the action server does: a real Tracker and dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from tests.conftest import PROJECT_ROOT


def user_event(
    text: str, intent: str, confidence: float = 0.95, also: str | None = None
) -> dict[str, Any]:
    """A customer message as it appears in a tracker's events (``also``: its second intent)."""
    return {
        "event": "user",
        "text": text,
        "parse_data": parse(intent, confidence, also),
    }


def parse(intent: str, confidence: float = 0.95, also: str | None = None) -> dict[str, Any]:
    """The NLU's parse of a message with ``intent`` (and a second intent ``also``)."""
    return {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "intent_also": {"name": also, "confidence": 0.9} if also else None,
    }


def bot_event(response: str, text: str = "") -> dict[str, Any]:
    """A bot message sent by response ``response``."""
    return {"event": "bot", "text": text, "metadata": {"utter_action": response}}


def make_tracker(
    text: str = "",
    intent: str = "greet",
    slots: dict[str, Any] | None = None,
    earlier: list[dict[str, Any]] | None = None,
    confidence: float = 0.95,
    also: str | None = None,
) -> Tracker:
    """A tracker whose latest customer message is ``text`` with ``intent`` (and ``also``)."""
    latest = user_event(text, intent, confidence, also)
    events = [{"event": "session_started"}, *(earlier or []), latest]
    return Tracker(
        sender_id="test-customer",
        slots={"visibility": "private", **(slots or {})},
        latest_message={"text": text, **latest["parse_data"]},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@dataclass
class Outcome:
    """What an action did: its events and what it said."""

    events: list[dict[str, Any]]
    messages: list[dict[str, Any]]

    @property
    def responses(self) -> list[str]:
        return [m["utter_action"] for m in self.messages if m.get("utter_action")]

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages if m.get("text")]

    def slot(self, name: str) -> Any:
        values = [e["value"] for e in self.events if e.get("event") == "slot" and e["name"] == name]
        return values[-1] if values else None

    @property
    def handover(self) -> dict[str, Any] | None:
        for message in self.messages:
            if message.get("custom", {}).get("handover"):
                return message["custom"]["handover"]  # type: ignore[no-any-return]
        return None


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The assistant's domain, as the action server receives it."""
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def run(domain: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``await run(action, tracker)`` runs an action and returns its :class:`Outcome`."""

    async def _run(action: Action, tracker: Tracker) -> Outcome:
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, tracker, domain)
        return Outcome(events=list(events), messages=dispatcher.messages)

    return _run
