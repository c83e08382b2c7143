"""A report of a problem that is also a complaint gets an apology first."""

from __future__ import annotations

import pytest

from actions.apology import ActionAcknowledge
from tests.actions.conftest import make_tracker


@pytest.mark.parametrize(
    ("intent", "response"),
    [
        ("flight_delayed", "apology_flight_delayed"),
        ("flight_cancelled", "apology_flight_cancelled"),
        ("baggage_issue", "apology_baggage_issue"),
        ("refund_request", "apology"),
    ],
)
async def test_a_complaint_as_second_intent_gets_an_apology(run, intent, response) -> None:  # type: ignore[no-untyped-def]
    tracker = make_tracker("delayed AGAIN, ridiculous", intent, also="complaint")
    outcome = await run(ActionAcknowledge(), tracker)
    assert outcome.responses == [response]
    assert outcome.events == []


@pytest.mark.parametrize("also", [None, "refund_request"])
async def test_otherwise_it_says_nothing(run, also) -> None:  # type: ignore[no-untyped-def]
    tracker = make_tracker("NW22 cancelled", "flight_cancelled", also=also)
    outcome = await run(ActionAcknowledge(), tracker)
    assert outcome.messages == [] and outcome.events == []
