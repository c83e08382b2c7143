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
PERSON = ["complaint", "request_human", "out_of_scope"]


def decide(
    ranking: list[tuple[str, float]], also: str | None = None, config: dict[str, Any] = CONFIG
) -> str:
    data: dict[str, Any] = {
        "text": "...",
        "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        "intent_also": {"name": also, "confidence": 0.8} if also else None,
    }
    [message] = GroupedFallbackClassifier(config).process([Message(data=data)])
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


def test_a_close_runner_up_is_no_doubt_when_the_top_intent_goes_to_a_person() -> None:
    with_people = {**CONFIG, "person_intents": PERSON}
    close = [("complaint", 0.46), ("flight_delayed", 0.41), ("praise", 0.05)]
    assert decide(close) == "nlu_fallback"
    assert decide(close, config=with_people) == "complaint"
    # The other way round it is still a doubt: a flight look-up is no person.
    reverse = [("flight_delayed", 0.46), ("complaint", 0.41), ("praise", 0.05)]
    assert decide(reverse, config=with_people) == "nlu_fallback"
    # And a person intent under the threshold is still unsure.
    weak = [("out_of_scope", 0.30), ("praise", 0.28), ("thank", 0.2)]
    assert decide(weak, config=with_people) == "nlu_fallback"


def test_a_person_intent_on_top_is_still_a_doubt_when_another_group_weighs_more() -> None:
    """As config.yml has it: the person intents are a group too."""
    shipped = {
        **CONFIG,
        "intent_groups": [CONFIG["intent_groups"][0], PERSON],
        "person_intents": PERSON,
    }
    flights_weigh_more = [
        ("complaint", 0.30),
        ("flight_delayed", 0.29),
        ("flight_status", 0.20),
        ("out_of_scope", 0.05),
    ]
    assert decide(flights_weigh_more, config=shipped) == "nlu_fallback"
    person_leads = [
        ("complaint", 0.30),
        ("flight_delayed", 0.29),
        ("out_of_scope", 0.06),
        ("praise", 0.05),
    ]
    assert decide(person_leads, config=shipped) == "complaint"
    # Without the person intents, the same ranking is a doubt (0.36 against 0.29).
    assert decide(person_leads, config={**shipped, "person_intents": []}) == "nlu_fallback"


def handling(rules: list[dict[str, Any]], intent: str) -> frozenset[str]:
    """The actions the rules run for ``intent`` (an acknowledgement first set aside)."""
    actions = set()
    for rule in rules:
        steps = rule.get("steps") or []
        for index, step in enumerate(steps):
            if step.get("intent") == intent:
                following = [s["action"] for s in steps[index + 1 :] if "action" in s]
                following = [a for a in following if a != "action_acknowledge"]
                if following:
                    actions.add(following[0])
    return frozenset(actions)


def test_config_groups_only_intents_that_the_rules_handle_alike() -> None:
    """Adding confidences up is right only where the customer gets the same handling."""
    import yaml

    from tests.conftest import PROJECT_ROOT

    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    [fallback] = [c for c in config["pipeline"] if c["name"].endswith("GroupedFallbackClassifier")]
    rules = yaml.safe_load((PROJECT_ROOT / "data" / "rules.yml").read_text(encoding="utf-8"))
    assert fallback["intent_groups"]
    for group in fallback["intent_groups"]:
        handled = {intent: handling(rules["rules"], intent) for intent in group}
        assert all(handled.values()), handled
        assert len(set(handled.values())) == 1, handled
    # The intents whose doubts a person settles are those the rules hand over.
    assert fallback["person_intents"]
    for intent in fallback["person_intents"]:
        assert handling(rules["rules"], intent) == {"action_handover"}, intent
    # The check can tell intents apart: praise is not handled as a complaint.
    assert handling(rules["rules"], "praise") != handling(rules["rules"], "complaint")
