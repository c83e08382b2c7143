"""Handover: the reason a program can act on, and the paths that lead there."""

from __future__ import annotations

import pytest

from actions.handover import (
    ActionHandback,
    ActionHandleAffirm,
    ActionHandleDeny,
    ActionHandleFallback,
    ActionHandover,
)
from actions.session import ActionSessionStart
from tests.actions.conftest import bot_event, make_tracker, user_event


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        ("request_human", "requested"),
        ("complaint", "complaint"),
        ("out_of_scope", "out_of_scope"),
    ],
)
async def test_handover_reason_follows_the_intent(run, intent: str, reason: str) -> None:
    outcome = await run(ActionHandover(), make_tracker("...", intent, confidence=0.87))
    assert outcome.handover == {"reason": reason, "intent": intent, "confidence": 0.87}
    assert outcome.responses == [f"handover_{reason}"]
    assert outcome.slot("handover_reason") == reason


async def test_first_fallback_asks_to_rephrase(run) -> None:
    tracker = make_tracker("asdf qwer", "nlu_fallback", earlier=[user_event("hi", "greet")])
    outcome = await run(ActionHandleFallback(), tracker)
    assert outcome.responses == ["please_rephrase"]
    assert outcome.handover is None


async def test_second_fallback_in_a_row_hands_over_for_low_confidence(run) -> None:
    tracker = make_tracker("zzz", "nlu_fallback", earlier=[user_event("asdf", "nlu_fallback")])
    outcome = await run(ActionHandleFallback(), tracker)
    assert outcome.handover is not None and outcome.handover["reason"] == "low_confidence"


async def test_fallbacks_apart_do_not_hand_over(run) -> None:
    earlier = [user_event("asdf", "nlu_fallback"), user_event("hi", "greet")]
    outcome = await run(
        ActionHandleFallback(), make_tracker("zzz", "nlu_fallback", earlier=earlier)
    )
    assert outcome.handover is None


async def test_yes_to_our_offer_brings_a_person(run) -> None:
    tracker = make_tracker("yes please", "affirm", {"pending_offer": "rebooking"})
    outcome = await run(ActionHandleAffirm(), tracker)
    assert outcome.handover is not None and outcome.handover["reason"] == "requested"
    assert outcome.slot("pending_offer") is None


async def test_yes_without_an_offer_is_acknowledged(run) -> None:
    outcome = await run(ActionHandleAffirm(), make_tracker("ok", "affirm"))
    assert outcome.responses == ["affirm_ack"] and outcome.handover is None


async def test_no_to_our_offer_is_fine(run) -> None:
    outcome = await run(
        ActionHandleDeny(), make_tracker("no", "deny", {"pending_offer": "rebooking"})
    )
    assert outcome.handover is None
    assert outcome.slot("pending_offer") is None
    assert outcome.messages[0]["response"] == "utter_no_problem"


async def test_being_told_we_are_wrong_twice_hands_over(run) -> None:
    first = await run(ActionHandleDeny(), make_tracker("no thats wrong", "deny"))
    assert first.responses == ["sorry_misunderstood"]
    earlier = [user_event("no thats wrong", "deny"), bot_event("sorry_misunderstood")]
    second = await run(ActionHandleDeny(), make_tracker("still wrong", "deny", earlier=earlier))
    assert second.handover is not None
    assert second.handover["reason"] == "repeated_misunderstanding"


async def test_handback_clears_the_handover(run) -> None:
    outcome = await run(ActionHandback(), make_tracker(slots={"handover_reason": "complaint"}))
    assert outcome.responses == ["back_from_handover"]
    assert any(e.get("name") == "handover_reason" and e["value"] is None for e in outcome.events)


@pytest.mark.parametrize(
    ("metadata", "visibility"),
    [
        ({"visibility": "public"}, "public"),
        ({"visibility": "private"}, "private"),
        ({}, "private"),
        ({"visibility": "PUBLIC!"}, "private"),
        (None, "private"),
    ],
)
async def test_session_start_takes_visibility_from_the_gateway(run, metadata, visibility) -> None:
    tracker = make_tracker(slots={"session_started_metadata": metadata})
    outcome = await run(ActionSessionStart(), tracker)
    assert outcome.events[0]["event"] == "session_started"
    assert outcome.slot("visibility") == visibility
    assert (outcome.events[-1]["event"], outcome.events[-1]["name"]) == ("action", "action_listen")
