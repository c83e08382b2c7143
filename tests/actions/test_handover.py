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


@pytest.mark.parametrize(
    ("metadata", "desk"),
    [
        ({"desk": False}, False),
        ({"desk": True}, True),
        ({}, True),
        ({"desk": "no"}, True),
        (None, True),
    ],
)
async def test_session_start_takes_the_desk_from_the_gateway(run, metadata, desk) -> None:
    # Only the gateway's plain "no desk" turns the offers of a person off.
    tracker = make_tracker(slots={"session_started_metadata": metadata})
    outcome = await run(ActionSessionStart(), tracker)
    assert outcome.slot("desk") is desk


@pytest.fixture
def brand_unsure_in_public(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """brand.yml with another ``unsure_in_public`` (a function: returns the setter)."""
    from bot.brand import load_brand
    from tests.conftest import PROJECT_ROOT

    def use(choice: str) -> None:
        text = (PROJECT_ROOT / "brand.yml").read_text(encoding="utf-8")
        brand = tmp_path / "brand.yml"
        brand.write_text(
            text.replace("unsure_in_public: handover", f"unsure_in_public: {choice}"),
            encoding="utf-8",
        )
        monkeypatch.setenv("BRAND_FILE", str(brand))
        load_brand.cache_clear()

    yield use
    load_brand.cache_clear()


@pytest.mark.parametrize("earlier", [[], [user_event("asdf", "nlu_fallback")]])
async def test_unsure_in_public_never_asks_to_rephrase(run, earlier) -> None:  # type: ignore[no-untyped-def]
    tracker = make_tracker(
        "lol ok @NorthwindAir", "nlu_fallback", {"visibility": "public"}, earlier
    )
    outcome = await run(ActionHandleFallback(), tracker)
    assert "please_rephrase" not in outcome.responses
    assert outcome.responses == ["handover_low_confidence_public"]
    assert outcome.handover is not None and outcome.handover["reason"] == "low_confidence"


async def test_unsure_in_public_can_invite_a_dm_instead(run, brand_unsure_in_public) -> None:  # type: ignore[no-untyped-def]
    brand_unsure_in_public("invite_private")
    tracker = make_tracker("lol ok @NorthwindAir", "nlu_fallback", {"visibility": "public"})
    outcome = await run(ActionHandleFallback(), tracker)
    assert outcome.responses == ["unsure_in_public"]
    assert outcome.messages[0]["metadata"] == {"invite_private": True}
    assert outcome.handover is None


async def test_a_handover_names_the_second_intent_of_the_request(run) -> None:  # type: ignore[no-untyped-def]
    earlier = [
        user_event(
            "NW22 cancelled, I want my money back", "flight_cancelled", 0.9, "refund_request"
        )
    ]
    tracker = make_tracker("yes please", "affirm", earlier=earlier)
    outcome = await run(ActionHandover(), tracker)
    assert outcome.handover is not None
    assert outcome.handover["topic"] == "flight_cancelled"
    assert outcome.handover["also"] == "refund_request"
