"""The airline's "now" at several points of the demo day and across midnight.

Each test moves the airline clock (``AIRLINE_NOW``) to a Boston wall-clock
time on the seeded day and asks about the cancelled NW22 (BOS-ORD 09:05;
later the same day NW24 at 13:20 and NW26 at 17:45, both with seats). Times
are converted with the zone database, so the tests hold in summer and winter.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from actions.airline import db
from actions.airline.models import BOARDING_TIME, Flight
from actions.flights import ActionFlightLookup
from tests.actions.conftest import make_tracker
from tests.conftest import TEST_NOW

pytestmark = pytest.mark.usefixtures("airline_db")

BOSTON = ZoneInfo("America/New_York")
SEED_DAY: date = TEST_NOW.date()
OPTION = re.compile(r"NW (\d+) (today|tomorrow|on \w+ \d+ \w+) at (\d\d:\d\d) Boston time")


def boston_clock(monkeypatch: pytest.MonkeyPatch, day_offset: int, wall_clock: str) -> datetime:
    """Sets the airline's clock to ``wall_clock`` in Boston on the seed day + ``day_offset``;
    returns that moment as naive UTC."""
    local = datetime.combine(
        SEED_DAY + timedelta(days=day_offset), time.fromisoformat(wall_clock), tzinfo=BOSTON
    )
    moment = local.astimezone(timezone.utc).replace(tzinfo=None)
    monkeypatch.setenv("AIRLINE_NOW", moment.isoformat())
    return moment


def offered(text: str) -> list[tuple[str, str, str]]:
    """(flight number, day word, Boston clock time) of each option in a rebooking reply."""
    return [(f"NW{number}", day, clock) for number, day, clock in OPTION.findall(text)]


def departure(number: str, service_day: date) -> datetime:
    """The estimated departure (naive UTC) of ``number`` on ``service_day``."""
    with db.session_factory()() as session:
        flight = (
            session.query(Flight)
            .filter(Flight.number == number, Flight.service_date == service_day)
            .one()
        )
        return flight.estimated_departure


def day_of(word: str, boston_today: date) -> date:
    return boston_today + timedelta(days={"today": 0, "tomorrow": 1}[word])


async def cancelled_nw22(run) -> list[str]:  # type: ignore[no-untyped-def]
    tracker = make_tracker(
        "my flight NW22 got cancelled", "flight_cancelled", {"flight_number": "NW22"}
    )
    outcome = await run(ActionFlightLookup(), tracker)
    return outcome.texts  # type: ignore[no-any-return]


async def test_the_issues_case_a_flight_that_left_is_not_offered(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 16:20 in Boston: NW24 left at 13:20; NW26 at 17:45 is still to come.
    boston_clock(monkeypatch, 0, "16:20")
    texts = await cancelled_nw22(run)
    assert "cancelled" in texts[0]
    options = offered(texts[1])
    assert ("NW24", "today", "13:20") not in options
    assert options[0] == ("NW26", "today", "17:45")
    assert "NW 24 today" not in texts[1]


@pytest.mark.parametrize(
    "wall_clock",
    ["06:00", "09:30", "12:30", "12:50", "13:30", "17:00", "17:20", "21:00", "23:55"],
)
async def test_every_option_can_still_be_caught(run, monkeypatch, wall_clock) -> None:  # type: ignore[no-untyped-def]
    now = boston_clock(monkeypatch, 0, wall_clock)
    texts = await cancelled_nw22(run)
    options = offered(texts[1])
    assert options, texts
    for number, day, _clock in options:
        leaves = departure(number, day_of(day, SEED_DAY))
        # Not left, and not already boarding: a rebooked customer could not board.
        assert leaves > now + BOARDING_TIME, (wall_clock, number, day)
    # Soonest first.
    moments = [departure(n, day_of(d, SEED_DAY)) for n, d, _ in options]
    assert moments == sorted(moments)


async def test_a_flight_boarding_now_is_not_offered(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 13:00: NW24 (13:20) boards from 12:40 and has not left; too late to move onto it.
    boston_clock(monkeypatch, 0, "13:00")
    options = offered((await cancelled_nw22(run))[1])
    assert [number for number, day, _ in options if day == "today"] == ["NW26"]


async def test_late_evening_in_boston_is_still_today_there(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 23:30 in Boston is already the next day in UTC; the customer's "today" is Boston's.
    now = boston_clock(monkeypatch, 0, "23:30")
    assert now.date() == SEED_DAY + timedelta(days=1)
    texts = await cancelled_nw22(run)
    # Today's (cancelled) NW22 is the one the customer means, not tomorrow's.
    assert "NW 22 Boston to Chicago today is cancelled" in texts[0]
    options = offered(texts[1])
    # Nothing leaves Boston for Chicago before midnight: every option is tomorrow's.
    assert options and {day for _, day, _ in options} == {"tomorrow"}


async def test_after_midnight_in_boston_the_next_days_flight_is_today(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 00:30 on the next day: that day's NW22 operates normally and leaves "today".
    boston_clock(monkeypatch, 1, "00:30")
    tracker = make_tracker("is NW22 on time?", "flight_status", {"flight_number": "NW22"})
    outcome = await run(ActionFlightLookup(), tracker)
    assert outcome.responses == ["flight_on_time"]
    assert "today" in outcome.texts[0]
    assert "09:05 Boston time" in outcome.texts[0]
    assert "Chicago time" in outcome.texts[0]  # the arrival, in its own zone
