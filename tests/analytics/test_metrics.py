"""The figures, on both stores, against the story in conftest.py worked out by hand."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.analytics.figures import Satisfaction, SatisfactionFigures
from bot.analytics.metrics import (
    Day,
    Durations,
    IntentFigures,
    Person,
    ReasonCount,
    Volume,
    Window,
)
from bot.analytics.parts import report
from tests.analytics.conftest import DAY, THRESHOLD, tell_the_story

WINDOW = Window(DAY, DAY + timedelta(days=2))


def test_every_figure_of_the_story(engine: Engine) -> None:
    tell_the_story(engine)
    figures = report(engine, WINDOW, THRESHOLD)

    # Customer messages: webchat alice 1; telegram bob 1 + erin 2; twitter carol 3 + dave 2.
    assert figures.volume == [
        Volume("telegram", "private", messages=3, conversations=2),
        Volume("twitter", "public", messages=5, conversations=2),
        Volume("webchat", "private", messages=1, conversations=1),
    ]
    assert (figures.messages, figures.conversations) == (9, 5)
    # Topic turns: alice 1, bob 1, carol's two bags, dave's two complaints = 6.
    # Contained: alice's, and carol's second bag (her first came back within 24 h;
    # bob's and dave's were handed over; dave's were not answered by the bot).
    assert (figures.topic_turns, figures.contained) == (6, 2)
    assert figures.containment == 2 / 6
    assert figures.intents == [
        IntentFigures("baggage_issue", 2, True, contained=1, fallbacks=1, denied=1),
        IntentFigures("complaint", 2, True, contained=0, fallbacks=0, denied=0),
        IntentFigures("deny", 1, False, contained=0, fallbacks=0, denied=0),
        IntentFigures("flight_status", 1, True, contained=1, fallbacks=0, denied=0),
        IntentFigures("praise", 1, False, contained=0, fallbacks=0, denied=0),
        IntentFigures("refund_request", 1, True, contained=0, fallbacks=0, denied=0),
        IntentFigures("thank", 1, False, contained=0, fallbacks=0, denied=0),
    ]
    # Two tickets over five conversations.
    assert figures.reasons == [ReasonCount("complaint", 1), ReasonCount("policy", 1)]
    assert (figures.handovers, figures.handover_rate) == (2, 0.4)
    # The bot's replies, sorted: 1 1 2 2 3 4 6 s. p50 is rank ceil(3.5) = 4, p90 rank ceil(6.3) = 7.
    assert figures.bot_response == Durations(7, 2.0, 6.0)
    # Agents: bob 300 s, dave 1200 s (ranks ceil(1) = 1, ceil(1.8) = 2).
    assert figures.agent_first_response == Durations(2, 300.0, 1200.0)
    assert figures.time_to_claim == Durations(2, 120.0, 600.0)
    assert figures.time_to_resolve == Durations(1, 3600.0, 3600.0)
    assert figures.sla_breaches == {"first": 1, "next": 1}  # by kind, not by stretch
    assert figures.days == [
        Day(
            "2026-11-02",
            messages=7,
            topic_turns=6,
            contained=2,
            positive=0,
            negative=2,
            handovers=2,
        ),
        Day(
            "2026-11-03",
            messages=2,
            topic_turns=0,
            contained=0,
            positive=2,
            negative=0,
            handovers=0,
        ),
    ]
    assert figures.fans == [Person("telegram", "erin", 2)]
    assert figures.repeat_complainers == [Person("twitter", "dave", 2)]
    # Ratings offered in the window: alice 5 and 4 (webchat), bob 2 and erin none
    # (telegram); frank's is demo, gina's before the window. Satisfied: 4 or 5.
    assert figures.satisfaction == SatisfactionFigures(
        total=Satisfaction(offered=4, rated=3, satisfied=2),
        channels={
            "telegram": Satisfaction(offered=2, rated=1, satisfied=0),
            "webchat": Satisfaction(offered=2, rated=2, satisfied=2),
        },
        days={
            "2026-11-02": Satisfaction(offered=2, rated=2, satisfied=1),
            "2026-11-03": Satisfaction(offered=2, rated=1, satisfied=1),
        },
        scores={2: 1, 4: 1, 5: 1},
    )
    assert (figures.satisfaction.total.csat, figures.satisfaction.total.response_rate) == (
        2 / 3,
        3 / 4,
    )


def test_one_channel_and_the_demo_data_apart(engine: Engine) -> None:
    tell_the_story(engine)
    twitter = report(engine, Window(WINDOW.since, WINDOW.until, "twitter"), THRESHOLD)
    demo = report(engine, Window(WINDOW.since, WINDOW.until, demo=True), THRESHOLD)
    first_day = report(engine, Window(DAY, DAY + timedelta(days=1)), THRESHOLD)

    assert (twitter.messages, twitter.conversations, twitter.handovers) == (5, 2, 1)
    assert [r.reason for r in twitter.reasons] == ["complaint"]
    assert (twitter.topic_turns, twitter.contained) == (4, 1)
    # Only frank's conversation is demo: one contained flight status, answered in 3 s.
    assert (demo.messages, demo.topic_turns, demo.contained) == (1, 1, 1)
    assert demo.bot_response == Durations(1, 3.0, 3.0)
    assert demo.fans == [] and demo.handovers == 0
    # frank rated 1: one offer, one rating, nobody satisfied.
    assert demo.satisfaction.total == Satisfaction(offered=1, rated=1, satisfied=0)
    assert demo.satisfaction.total.csat == 0.0
    assert twitter.satisfaction.total == Satisfaction()  # no ratings in public
    assert twitter.satisfaction.total.csat is None
    assert first_day.satisfaction.total == Satisfaction(offered=2, rated=2, satisfied=1)
    assert (first_day.messages, first_day.fans) == (7, [])


def test_an_empty_window_has_no_figures_not_errors(engine: Engine) -> None:
    empty = report(engine, WINDOW, THRESHOLD)
    assert (empty.messages, empty.containment, empty.handover_rate) == (0, None, None)
    assert empty.bot_response == Durations(0, None, None)
    assert empty.days == [] and empty.intents == [] and empty.sla_breaches == {}
    assert empty.satisfaction == SatisfactionFigures()
    assert empty.satisfaction.total.response_rate is None
