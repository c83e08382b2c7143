"""Bag reports: status of an existing one, a new one for a booking."""

from __future__ import annotations

import re

import pytest

from actions.baggage import ActionBaggageLookup, ValidateBaggageForm
from tests.actions.conftest import make_tracker, user_event

pytestmark = pytest.mark.usefixtures("airline_db")


async def test_known_report_reference_gives_its_status(run) -> None:
    tracker = make_tracker(
        "any news on JFKNW10234?", "baggage_issue", {"baggage_ref": "JFKNW10234"}
    )
    outcome = await run(ActionBaggageLookup(), tracker)
    assert outcome.responses == ["bag_out_for_delivery"]
    assert "JFKNW10234" in outcome.texts[0]
    # Delivered where the last flight landed: New York, and said so.
    assert re.search(r"by \d\d:\d\d New York time", outcome.texts[0])


async def test_booking_with_an_open_report_gets_that_report(run) -> None:
    tracker = make_tracker(
        "B4GG9E",
        "affirm",
        {"booking_ref": "B4GG9E"},
        earlier=[user_event("my bag never showed up", "baggage_issue")],
    )
    outcome = await run(ActionBaggageLookup(), tracker)
    assert outcome.responses == ["bag_out_for_delivery"]
    assert outcome.slot("baggage_ref") == "JFKNW10234"


async def test_booking_without_a_report_gets_a_new_one_once(run) -> None:
    tracker = make_tracker(
        "K9PLZ3",
        "affirm",
        {"booking_ref": "K9PLZ3"},
        earlier=[user_event("black suitcase missing at DEN", "baggage_issue")],
    )
    first = await run(ActionBaggageLookup(), tracker)
    assert first.responses == ["bag_report_created"]
    reference = first.slot("baggage_ref")
    # NW610 lands in Denver: the file is opened there.
    assert reference == "DENNW10001"
    assert reference in first.texts[0] and "K9PLZ3" in first.texts[0]

    again = await run(ActionBaggageLookup(), tracker)
    assert again.responses == ["bag_searching"]
    assert again.slot("baggage_ref") == reference

    from actions.airline import db, repository

    with db.session_factory()() as session:
        report = repository.find_baggage_report(session, reference)
        assert report is not None and report.description == "black suitcase missing at DEN"


async def test_unknown_report_reference(run) -> None:
    tracker = make_tracker("ORDNW99999", "baggage_issue", {"baggage_ref": "ORDNW99999"})
    outcome = await run(ActionBaggageLookup(), tracker)
    assert outcome.responses == ["bag_report_not_found"]


async def test_form_skips_the_booking_question_when_a_report_reference_is_known(domain) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    form = ValidateBaggageForm()
    with_ref = make_tracker(slots={"baggage_ref": "JFKNW10234"})
    without = make_tracker()
    assert (
        await form.required_slots(["booking_ref"], CollectingDispatcher(), with_ref, domain) == []
    )
    assert await form.required_slots(["booking_ref"], CollectingDispatcher(), without, domain) == [
        "booking_ref"
    ]
