"""The grouped fallback: intents handled alike add up; a post that carries two intents is
not a doubt between them."""

from __future__ import annotations

from typing import Any

from rasa.shared.nlu.training_data.message import Message

from in_rasa.nlu.fallback import GroupedFallbackClassifier

CONFIG = {
    **GroupedFallbackClassifier.get_default_config(),
    "threshold": 0.35,
    "ambiguity_threshold": 0.1,
    "intent_groups": [["flight_status", "flight_delayed", "flight_cancelled"]],
}


def decide(ranking: list[tuple[str, float]], also: str | None = None) -> str:
    data: dict[str, Any] = {
        "text": "...",
        "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        "intent_also": {"name": also, "confidence": 0.8} if also else None,
    }
    [message] = GroupedFallbackClassifier(CONFIG).process([Message(data=data)])
    return str(message.get("intent")["name"])


def test_intents_handled_alike_add_up() -> None:
    assert decide([("flight_status", 0.30), ("flight_delayed", 0.25), ("praise", 0.1)]) == (
        "flight_status"
    )
    assert decide([("praise", 0.30), ("thank", 0.25)]) == "nlu_fallback"


def test_close_intents_are_a_doubt_unless_the_post_carries_both() -> None:
    close = [("flight_delayed", 0.46), ("complaint", 0.41), ("praise", 0.05)]
    assert decide(close) == "nlu_fallback"
    assert decide(close, also="complaint") == "flight_delayed"
    # A second intent that is not the close runner-up changes nothing.
    assert decide(close, also="refund_request") == "nlu_fallback"
