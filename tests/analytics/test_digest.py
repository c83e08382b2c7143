"""The daily digest, posted through the desk's Slack client to the fake Slack Web API."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from bot.analytics.digest import run_digest
from bot.settings import Settings
from tests.analytics.conftest import THRESHOLD, tell_the_story
from tests.fakes.slack import FakeSlack
from tests.gateway.conftest import ESCALATIONS, slack_settings


async def test_yesterdays_figures_and_what_changed_posted_once(
    engine: Engine, fake_slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    tell_the_story(engine)
    slack, api_url = fake_slack
    settings = Settings(database_url=str(engine.url), slack=slack_settings(api_url))
    assert await run_digest(engine, settings, date(2026, 11, 3), threshold=THRESHOLD) == 0
    assert await run_digest(engine, settings, date(2026, 11, 3), threshold=THRESHOLD) == 0
    [post] = slack.posts()
    assert post["channel"] == ESCALATIONS
    # 3 November: erin's praise and thanks (1 conversation). 2 November: 7 messages,
    # 2 of 6 requests contained, 2 handovers, 2 breaches.
    assert post["text"].splitlines() == [
        "*Care digest for Tuesday 03 November 2026* (UTC)",
        "• Customer messages: 2 (−5 on the day before) in 1 conversations",
        "• Contained by the bot: – (0 of 0 requests)",
        "• Handed to a person: 0 (−2 on the day before); reasons: none",
        "• Bot first response: median 1 s, p90 2 s (of 2)",
        "• Agent first response: –; time to resolve: –",
        "• Service-level breaches: 0 (−2 on the day before)",
        # 3 November: alice 4, erin asked and no tap; 2 November: alice 5, bob 2.
        "• Satisfied (CSAT): 100.0% (+50 points on the day before) of 1 ratings;"
        " 1 of 2 asked rated",
        "• Fans to thank: erin (telegram)",
    ]
    assert "was posted already" in capsys.readouterr().out


async def test_the_day_of_the_handovers(engine: Engine) -> None:
    tell_the_story(engine)
    settings = Settings(database_url=str(engine.url))
    # 2 November: bot replies 2, 4, 1, 3, 6 s (median rank 3: 3 s; p90 rank 5: 6 s);
    # agents 300 and 1200 s; 1 November had nothing but gina's message at 23:00.
    from bot.analytics.digest import compose, day_report

    day = date(2026, 11, 2)
    text = compose(
        day,
        day_report(engine, day, THRESHOLD),
        day_report(engine, date(2026, 11, 1), THRESHOLD),
    )
    assert "• Customer messages: 7 (+6 on the day before) in 4 conversations" in text
    assert "• Contained by the bot: 33.3% (−66.7 points on the day before)" in text
    assert "reasons: Complaint 1, Needs a decision by a person (policy) 1" in text
    assert "• Bot first response: median 3 s, p90 6 s (of 5)" in text
    assert "• Agent first response: median 5.0 min, p90 20.0 min (of 2)" in text
    assert "• Complained more than once: dave (twitter, 2)" in text
    # alice 5 and bob 2; on 1 November gina rated 3, not satisfied: 0 %.
    assert (
        "• Satisfied (CSAT): 50.0% (+50 points on the day before) of 2 ratings; 2 of 2 asked rated"
    ) in text
    assert settings.slack is None
    assert await run_digest(engine, settings, day, threshold=THRESHOLD) == 2
