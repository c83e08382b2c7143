"""What a handed-over customer is told about the wait: brand.yml's care team against the clock.

The shipped team (Boston): Mon-Fri 08:00-20:00, Sat-Sun 09:00-17:00, 10 minutes
a ticket, the bot back after 240 open minutes. Moments are written in Boston
time and converted, so the tests hold across daylight saving.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.brand import load_brand
from bot.expectations import CareTeam, Step, follow_up, on_handover, wait_phrase

BOSTON = ZoneInfo("America/New_York")
TEAM = load_brand().care_team
assert TEAM is not None
NORMAL_FIRST = load_brand().service_levels["normal"]["first"]  # 120


def boston(text: str) -> datetime:
    """ "2026-12-07 08:00" in Boston as naive UTC (7 Dec 2026 is a Monday)."""
    local = datetime.fromisoformat(text).replace(tzinfo=BOSTON)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-12-07 07:59", False),  # Monday, before opening
        ("2026-12-07 08:00", True),
        ("2026-12-07 19:59", True),
        ("2026-12-07 20:00", False),
        ("2026-12-12 08:30", False),  # Saturday opens at 09:00
        ("2026-12-12 16:59", True),
        ("2026-12-13 17:00", False),  # Sunday closes at 17:00
        ("2026-07-06 12:00", True),  # a Monday in summer (EDT)
    ],
)
def test_the_team_is_in_during_its_hours_only(moment: str, is_open: bool) -> None:
    assert TEAM.is_open(boston(moment)) is is_open


def test_while_the_team_is_in_the_wait_follows_the_queue_up_to_the_target() -> None:
    monday = boston("2026-12-07 10:00")
    first = on_handover(TEAM, 0, NORMAL_FIRST, monday)
    assert first.name == "expect_reply"
    assert first.values == {"wait": "about 10 minutes", "queue": "you're next"}
    third = on_handover(TEAM, 2, NORMAL_FIRST, monday)
    assert third.values == {"wait": "about 30 minutes", "queue": "2 people are ahead of you"}
    assert on_handover(TEAM, 1, NORMAL_FIRST, monday).values["queue"] == "1 person is ahead of you"
    # 40 tickets ahead: never more than the target the team commits to (then an update).
    assert on_handover(TEAM, 40, NORMAL_FIRST, monday).values["wait"] == "about 2 hours"
    text = load_brand().message(third.name, **third.values)
    assert text == (
        "A person from our care team usually replies within about 30 minutes "
        "(2 people are ahead of you)."
    )


@pytest.mark.parametrize(
    ("moment", "opens"),
    [
        ("2026-12-07 06:30", "today at 08:00 Boston time"),  # Monday, early
        ("2026-12-07 21:00", "tomorrow at 08:00 Boston time"),  # Monday night
        ("2026-12-08 00:30", "today at 08:00 Boston time"),  # just past midnight
        ("2026-12-11 22:00", "tomorrow at 09:00 Boston time"),  # Friday night: Saturday's hours
        ("2026-12-13 18:00", "tomorrow at 08:00 Boston time"),  # Sunday evening
    ],
)
def test_outside_opening_hours_the_customer_is_told_when_the_team_is_back(
    moment: str, opens: str
) -> None:
    notice = on_handover(TEAM, 3, NORMAL_FIRST, boston(moment))
    assert notice.name == "expect_reply_closed"
    assert notice.values["opens"] == opens
    assert notice.values["hours"] == "Mon-Fri 08:00-20:00 and Sat-Sun 09:00-17:00, Boston time"


def test_a_team_that_is_never_in_promises_no_time() -> None:
    nobody = CareTeam("America/New_York", "Boston", {}, 10, 240)
    assert on_handover(nobody, 0, 120, boston("2026-12-07 10:00")).name == "expect_reply_unknown"


def test_open_minutes_count_only_opening_hours() -> None:
    # Friday 19:00 to Saturday 10:00: the last hour of Friday and the first of Saturday.
    assert TEAM.open_minutes(boston("2026-12-11 19:00"), boston("2026-12-12 10:00")) == 120
    assert TEAM.open_minutes(boston("2026-12-07 21:00"), boston("2026-12-08 07:00")) == 0


def test_one_update_after_the_target_then_the_bot_takes_it_back() -> None:
    created = boston("2026-12-07 09:00")
    assert follow_up(TEAM, 120, created, boston("2026-12-07 10:59"), updated=False) is None
    assert follow_up(TEAM, 120, created, boston("2026-12-07 11:00"), False) == Step.UPDATE
    assert follow_up(TEAM, 120, created, boston("2026-12-07 12:00"), updated=True) is None
    assert follow_up(TEAM, 120, created, boston("2026-12-07 13:00"), True) == Step.GIVE_BACK


def test_a_night_in_the_queue_is_not_late() -> None:
    # Written at 19:30 on Monday; at 07:00 on Tuesday only 30 open minutes have passed.
    created = boston("2026-12-07 19:30")
    assert follow_up(TEAM, 120, created, boston("2026-12-08 07:00"), updated=False) is None
    # Tuesday 09:30: 30 + 90 minutes: the target (120) has passed.
    assert follow_up(TEAM, 120, created, boston("2026-12-08 09:30"), False) == Step.UPDATE


@pytest.mark.parametrize(
    ("minutes", "said"),
    [(3, "about 5 minutes"), (10, "about 10 minutes"), (41, "about 45 minutes"),
     (60, "about 1 hour"), (120, "about 2 hours"), (480, "about 8 hours")],
)  # fmt: skip
def test_waits_are_said_as_people_say_them(minutes: int, said: str) -> None:
    assert wait_phrase(minutes) == said


@pytest.mark.parametrize(
    ("hours", "error"),
    [
        ({"monday": "08:00-20:00"}, "is not one of"),
        ({"mon": "8 to 8"}, "is not like 08:00-20:00"),
        ({"mon": "20:00-08:00"}, "closes before it opens"),
    ],
)
def test_a_wrong_care_team_in_brand_yml_is_named(hours: dict[str, str], error: str) -> None:
    raw = {"timezone": "America/New_York", "city": "Boston", "hours": hours}
    with pytest.raises(ValueError, match=error):
        CareTeam.from_raw(raw)
