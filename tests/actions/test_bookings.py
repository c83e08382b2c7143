"""Booking changes and refunds against the seeded demo airline."""

from __future__ import annotations

import pytest

from actions.bookings import ActionBookingLookup
from tests.actions.conftest import make_tracker, user_event

pytestmark = pytest.mark.usefixtures("airline_db")


def booking_tracker(intent: str, ref: str):  # type: ignore[no-untyped-def]
    # The form asked for the record locator; the intent that started it came first.
    return make_tracker(
        ref,
        "affirm",
        {"booking_ref": ref},
        earlier=[user_event("I need help with my booking", intent)],
    )


async def test_change_of_a_flex_booking_is_free_and_links_manage_booking(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("booking_change", "7HJK2L"))
    assert outcome.responses == ["booking_summary", "change_options_flex"]
    summary = outcome.texts[0]
    assert (
        "Alex" in summary
        and "7HJK2L" in summary
        and "NW 405 Denver to San Francisco tomorrow at 15:10 Denver time" in summary
    )
    assert "https://northwind.example/manage?ref=7HJK2L" in outcome.texts[1]
    assert all(m["metadata"] == {"visibility": "private"} for m in outcome.messages)
    assert outcome.handover is None


async def test_change_when_the_flight_is_cancelled_is_free(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("booking_change", "MRT4LQ"))
    assert outcome.responses == ["booking_summary", "change_disrupted"]
    assert "NW 22 is cancelled" in outcome.texts[1]


async def test_refund_for_a_cancelled_flight_is_full_and_goes_to_a_person(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("refund_request", "MRT4LQ"))
    assert outcome.responses == ["booking_summary", "refund_cancelled", "handover_policy"]
    assert "$149.00" in outcome.texts[1]
    assert outcome.handover is not None and outcome.handover["reason"] == "policy"
    assert outcome.slot("handover_reason") == "policy"


async def test_refund_after_a_long_delay_offers_compensation(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("refund_request", "QX7K2P"))
    assert outcome.responses == ["booking_summary", "refund_delay_compensation", "handover_policy"]
    assert "3 hours 5 minutes" in outcome.texts[1]


async def test_refund_of_an_undisrupted_basic_fare_is_a_credit(run) -> None:
    # H2RK7V flies NW2034 today, 95 minutes late: not enough for compensation.
    outcome = await run(ActionBookingLookup(), booking_tracker("refund_request", "H2RK7V"))
    assert outcome.responses == ["booking_summary", "refund_non_refundable", "handover_policy"]


async def test_unknown_record_locator_is_not_found_and_forgotten(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("booking_change", "ZZZ999"))
    assert outcome.responses == ["booking_not_found"]
    assert "ZZZ999" in outcome.texts[0]
    assert any(e.get("name") == "booking_ref" and e.get("value") is None for e in outcome.events)


async def test_lower_case_locator_is_found(run) -> None:
    outcome = await run(ActionBookingLookup(), booking_tracker("booking_change", "7hjk2l"))
    assert outcome.responses[0] == "booking_summary"
