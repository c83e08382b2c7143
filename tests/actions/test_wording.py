"""actions/responses.yml and the actions that send its responses agree, both ways."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.wording import Reply, UnknownResponse, choose, placeholders, responses
from tests.actions.conftest import make_tracker

ACTIONS_DIR = Path(__file__).resolve().parents[2] / "actions"


def _names(node: ast.expr) -> set[str]:
    """The response names an argument of ``say`` can be: literals, f-string prefixes as
    patterns (``name*``), both sides of ``a if c else b`` and ``a or b``."""
    if isinstance(node, ast.Constant):
        return {node.value}
    if isinstance(node, ast.JoinedStr):
        return {"".join(v.value for v in node.values if isinstance(v, ast.Constant)) + "*"}
    if isinstance(node, ast.IfExp):
        return _names(node.body) | _names(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_names(value) for value in node.values))
    return {"<dynamic>"}


def names_said_by_actions() -> set[str]:
    """Response names passed to ``say`` (see :func:`_names`), and to ``hand_over`` as its
    response."""
    said: set[str] = set()
    for file in ACTIONS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = getattr(node.func, "attr", "") or getattr(node.func, "id", "")
            if called == "say" and node.args:
                said |= _names(node.args[0])
            elif called == "hand_over" and len(node.args) == 3:
                said |= _names(node.args[2])
    return said


def test_every_response_an_action_names_exists() -> None:
    defined = set(responses())
    for name in names_said_by_actions() - {"<dynamic>"}:
        if name.endswith("*"):
            assert any(d.startswith(name[:-1]) for d in defined), name
        else:
            assert name in defined, name


def test_every_defined_response_is_sent_by_some_action() -> None:
    said = names_said_by_actions()
    patterns = [re.compile(re.escape(n[:-1]) + ".*") for n in said if n.endswith("*")]
    # Phase names come from a mapping in flights.py, passed through a variable.
    flight_phases = {"flight_on_time", "flight_boarding", "flight_departed", "flight_landed"}
    for name in responses():
        assert name in said or name in flight_phases or any(p.fullmatch(name) for p in patterns), (
            name
        )


def test_every_value_of_a_response_family_has_its_response() -> None:
    from actions.airline.models import BagStatus, Fare
    from actions.handover import REASON_BY_INTENT
    from bot.contract import HandoverReason

    defined = set(responses())
    assert {f"bag_{status.value}" for status in BagStatus} <= defined
    assert {f"change_options_{fare.value}" for fare in Fare} <= defined
    # Reasons the assistant gives; bot_unavailable is the gateway's own.
    reasons = set(REASON_BY_INTENT.values()) | {HandoverReason.POLICY}
    assert {f"handover_{reason.value}" for reason in reasons} <= defined
    assert HandoverReason.BOT_UNAVAILABLE not in reasons


def test_public_variant_is_chosen_by_the_visibility_slot() -> None:
    public = choose("ask_booking_ref", make_tracker(slots={"visibility": "public"}))
    private = choose("ask_booking_ref", make_tracker(slots={"visibility": "private"}))
    assert public["metadata"] == {"invite_private": True}
    assert "DM" in public["text"]
    assert "booking reference" in private["text"] and "metadata" not in private


def test_messages_carry_their_name_and_marks() -> None:
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    reply = Reply(dispatcher, make_tracker())
    reply.say("booking_not_found", booking_ref="QX7K2P")
    [message] = dispatcher.messages
    assert message["utter_action"] == "booking_not_found"
    assert message["metadata"] == {"visibility": "private"}
    assert "QX7K2P" in message["text"]


def test_missing_value_is_an_error_not_a_message_with_braces() -> None:
    from rasa_sdk.executor import CollectingDispatcher

    with pytest.raises(KeyError, match="booking_ref"):
        Reply(CollectingDispatcher(), make_tracker()).say("booking_not_found")


def test_unknown_response_is_an_error() -> None:
    with pytest.raises(UnknownResponse):
        choose("no_such_response", make_tracker())


def test_placeholders() -> None:
    assert placeholders("{flight} leaves at {departure}") == {"flight", "departure"}


# What offers a person. The handover_ responses say one is coming: without a desk the
# gateway never sends them (bot/conversation/waiting.py, promises_a_person).
OFFERS_A_PERSON = re.compile(r"colleague|\ba person\b|care team|\bagents?\b", re.IGNORECASE)
NO_DESK = {"type": "slot", "name": "desk", "value": False}


def every_response() -> dict[str, list[dict[str, Any]]]:
    """The actions' responses and domain.yml's, by name."""
    domain = yaml.safe_load((ACTIONS_DIR.parent / "domain.yml").read_text(encoding="utf-8"))
    return {**domain["responses"], **responses()}


def test_without_a_desk_no_response_offers_a_person() -> None:
    offering, unanswered = [], []
    for name, variations in every_response().items():
        if name.startswith("handover_"):
            continue
        no_desk = [v for v in variations if NO_DESK in (v.get("condition") or [])]
        plain = [v for v in variations if not v.get("condition")]
        if any(OFFERS_A_PERSON.search(v["text"]) for v in plain) and not no_desk:
            unanswered.append(name)
        offering += [name for v in no_desk if OFFERS_A_PERSON.search(v["text"])]
    assert unanswered == [], "give these a `desk: false` variation that offers no person"
    assert offering == []


def test_the_no_desk_variation_keeps_the_placeholders_and_the_marks() -> None:
    for name, variations in responses().items():
        plain = [v for v in variations if not v.get("condition")]
        for variation in variations:
            if NO_DESK in (variation.get("condition") or []):
                assert placeholders(variation["text"]) == placeholders(plain[0]["text"]), name
                assert variation.get("metadata") == plain[0].get("metadata"), name


def test_the_desk_slot_picks_the_variation() -> None:
    without = choose("bag_closed", make_tracker(slots={"desk": False}))
    with_desk = choose("bag_closed", make_tracker(slots={"desk": True}))
    unknown = choose("bag_closed", make_tracker())  # a session from before the slot
    assert "colleague" not in without["text"] and "care@" in without["text"]
    assert "colleague" in with_desk["text"] and "colleague" in unknown["text"]
