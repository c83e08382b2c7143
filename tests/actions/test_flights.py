"""Flight look-ups against the seeded demo airline (see actions/airline/seed.py)."""

from __future__ import annotations

import pytest

from actions.flights import ActionFlightLookup, ValidateFlightForm, display_number
from tests.actions.conftest import make_tracker

pytestmark = pytest.mark.usefixtures("airline_db")


async def test_delayed_flight_reports_delay_reason_new_time_and_compensation(run) -> None:
    tracker = make_tracker("is NW881 delayed again?", "flight_delayed", {"flight_number": "NW881"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == [
        "flight_delayed",
        "missed_connection",
        "delay_compensation",
        "rebooking_options",
        "offer_rebooking",
    ]
    delayed = outcome.texts[0]
    assert "NW 881" in delayed and "Chicago" in delayed and "London" in delayed
    assert "3 hours 5 minutes" in delayed
    assert "late arrival of the aircraft" in delayed
    # 18:30 in Chicago, 185 minutes late.
    assert "21:35 Chicago time instead of 18:30" in delayed
    assert outcome.slot("pending_offer") == "rebooking"


async def test_cancelled_flight_lists_later_flights_with_seats(run) -> None:
    tracker = make_tracker("my flight got cancelled", "flight_cancelled", {"flight_number": "NW22"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_cancelled", "rebooking_options", "offer_rebooking"]
    assert "technical issue" in outcome.texts[0]
    options = outcome.texts[1]
    assert "NW 24 today at 13:20 Boston time" in options
    assert "NW 26 today at 17:45 Boston time" in options
    assert outcome.slot("pending_offer") == "rebooking"


async def test_on_time_flight_gives_gate_and_local_times(run) -> None:
    tracker = make_tracker("is NW 405 on time", "flight_status", {"flight_number": "NW405"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_on_time"]
    text = outcome.texts[0]
    assert "Denver" in text and "San Francisco" in text
    assert "15:10 Denver time" in text
    assert "San Francisco time" in text  # the arrival, in its own zone
    assert outcome.slot("pending_offer") is None


async def test_a_date_selects_that_days_flight(run) -> None:
    tracker = make_tracker(
        "NW881 tomorrow on time?", "flight_status", {"flight_number": "NW881", "date": "tomorrow"}
    )
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_on_time"]
    assert "tomorrow" in outcome.texts[0]
    assert outcome.slot("date") is None  # a date applies to one look-up only


async def test_flight_that_already_left(run, monkeypatch: pytest.MonkeyPatch) -> None:
    # NW1150 leaves Boston 06:55 local (11:55 UTC); at noon UTC it is in the air.
    tracker = make_tracker("where is NW1150", "flight_status", {"flight_number": "NW1150"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_departed"]


async def test_boarding_flight(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import TEST_NOW

    # NW23 leaves Chicago 07:10 local; 30 minutes before, it is boarding.
    monkeypatch.setenv("AIRLINE_NOW", TEST_NOW.replace(hour=12, minute=40).isoformat())
    tracker = make_tracker("gate for NW23?", "flight_status", {"flight_number": "NW23"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_boarding"]


async def test_unknown_northwind_number_is_not_found(run) -> None:
    tracker = make_tracker("status of NW 9999", "flight_status", {"flight_number": "NW9999"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_not_found"]
    assert "NW 9999" in outcome.texts[0]


async def test_other_airlines_flight_is_not_guessed(run) -> None:
    tracker = make_tracker("is AA 1234 on time", "flight_status", {"flight_number": "AA1234"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_other_airline"]
    assert "AA 1234" in outcome.texts[0]


async def test_missing_number_is_asked_for(run) -> None:
    tracker = make_tracker("is my flight on time", "flight_status")
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["ask_flight_number"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("NW881", "NW881"), ("nw 881", "NW881"), ("flight 2034", "NW2034"), (["x", "UA12"], "UA12")],
)
async def test_form_accepts_flight_numbers_as_written(domain, value, expected) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    result = ValidateFlightForm().validate_flight_number(
        value, CollectingDispatcher(), make_tracker(), domain
    )
    assert result == {"flight_number": expected}


async def test_form_rejects_what_is_not_a_flight_number(domain) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    result = ValidateFlightForm().validate_flight_number(
        "tomorrow", dispatcher, make_tracker(), domain
    )
    assert result == {"flight_number": None}
    assert [m["utter_action"] for m in dispatcher.messages] == ["invalid_flight_number"]


def test_display_number() -> None:
    assert display_number("NW881") == "NW 881"


async def test_a_cancellation_with_a_refund_request_gets_the_look_up_then_the_refund(run) -> None:  # type: ignore[no-untyped-def]
    tracker = make_tracker(
        "NW22 cancelled, I want my money back",
        "flight_cancelled",
        {"flight_number": "NW22"},
        also="refund_request",
    )
    outcome = await run(ActionFlightLookup(), tracker)
    # No other flight offered to someone who wants their money back.
    assert outcome.responses == ["flight_cancelled", "refund_next"]
    assert {"event": "followup", "name": "booking_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in outcome.events
    ]
    assert outcome.slot("pending_offer") is None


async def test_in_public_the_refund_part_moves_to_a_dm(run) -> None:  # type: ignore[no-untyped-def]
    tracker = make_tracker(
        "NW22 cancelled, I want my money back",
        "flight_cancelled",
        {"flight_number": "NW22", "visibility": "public"},
        also="refund_request",
    )
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_cancelled", "refund_in_private"]
    assert all(e["event"] != "followup" for e in outcome.events)
