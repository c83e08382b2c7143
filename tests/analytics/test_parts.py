"""The report counted in parts (bot/analytics/parts.py): the same figures as in one part."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.analytics.metrics import PEOPLE_LISTED, Person, Report, Window, turns
from bot.analytics.parts import reading, report
from bot.store.models import Message
from tests.analytics.conftest import DAY, THRESHOLD, Story, seconds, tell_the_story

WINDOW = Window(DAY, DAY + timedelta(days=2))
CROWD = 24
#: SQLite counts in one part whatever it is asked; PostgreSQL in as many as asked.
PARTS = {"sqlite": (1,), "postgresql": (1, 2, 3)}


def tell_of_a_crowd(engine: Engine) -> None:
    """After the story of conftest.py (customers 1 to 7), 24 more customers (8 to 31):
    fan ``i`` praises ``1 + i % 3`` times and complains ``2 + i % 2`` times, each
    answered after its own delay, so that more people qualify than a report lists
    and the bot's response times spread over many tenths of a second."""
    with Session(engine, future=True) as session, session.begin():
        story = Story(session)
        story.places = 100  # places of their own, after the story's
        for i in range(1, CROWD + 1):
            fan = story.conversation("telegram", f"fan-{i:02}")
            at = DAY.replace(hour=15, minute=i)
            intents = ["praise"] * (1 + i % 3) + ["complaint"] * (2 + i % 2)
            for j, intent in enumerate(intents):
                asked = seconds(at, 10 * j)
                story.says(fan, asked, intent)
                story.answers(fan, seconds(asked, 0.5 + (i * 7 + j * 3) % 50 / 10))


def fan(i: int, messages: int) -> Person:
    return Person("telegram", f"fan-{i:02}", messages)


def test_every_number_of_parts_gives_the_same_figures(engine: Engine) -> None:
    tell_the_story(engine)
    tell_of_a_crowd(engine)
    whole = report(engine, WINDOW, THRESHOLD, parts=1)

    # Worked out from the crowd: fans with 3 (i % 3 == 2), then 2 (erin, customer 5,
    # before the crowd's i % 3 == 1), then the first three with 1 (i % 3 == 0).
    assert whole.fans == (
        [fan(i, 3) for i in range(2, CROWD + 1, 3)]
        + [Person("telegram", "erin", 2)]
        + [fan(i, 2) for i in range(1, CROWD + 1, 3)]
        + [fan(i, 1) for i in (3, 6, 9)]
    )
    # Complainers with 3 (odd i), then 2: dave (customer 4), then even i from 2 to 14.
    assert whole.repeat_complainers == (
        [fan(i, 3) for i in range(1, CROWD + 1, 2)]
        + [Person("twitter", "dave", 2)]
        + [fan(i, 2) for i in range(2, 15, 2)]
    )
    assert len(whole.fans) == len(whole.repeat_complainers) == PEOPLE_LISTED
    # The story's 7 replies and one per crowd message (2 + 3 on average, 24 of them).
    assert whole.bot_response.count == 7 + sum(3 + i % 3 + i % 2 for i in range(1, CROWD + 1))

    for parts in PARTS[engine.dialect.name]:
        in_parts = report(engine, WINDOW, THRESHOLD, parts=parts)
        for field in fields(Report):
            assert getattr(in_parts, field.name) == getattr(whole, field.name), (
                parts,
                field.name,
            )


def test_the_parts_split_the_turns_by_customer(engine: Engine) -> None:
    tell_the_story(engine)
    tell_of_a_crowd(engine)
    with engine.connect() as connection:
        every = set(connection.execute(_turn_ids(0, 1)).all())
        for parts in (2, 3):
            split = [set(connection.execute(_turn_ids(part, parts)).all()) for part in range(parts)]
            assert all(split), "every part has turns"
            assert set().union(*split) == every
            assert sum(len(part) for part in split) == len(every)  # none in two parts
            for part, turned in enumerate(split):
                assert {customer % parts for _, customer in turned} == {part}


def _turn_ids(part: int, parts: int) -> Select:
    found = turns(WINDOW, THRESHOLD, part, parts).subquery()
    return select(found.c.id, found.c.customer_id)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_the_parts_read_one_snapshot(engine: Engine) -> None:
    tell_the_story(engine)
    count = select(func.count()).select_from(Message)
    with reading(engine) as first:
        snapshot = first.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        before = first.execute(count).scalar_one()
        # A customer writes while the report runs, before its other parts begin.
        with Session(engine, future=True) as session, session.begin():
            story = Story(session)
            story.places = 100
            story.says(story.conversation("webchat", "late"), DAY.replace(hour=16), "greet")
        with reading(engine, snapshot) as other:
            assert other.execute(count).scalar_one() == before
            assert other.exec_driver_sql("SHOW jit").scalar_one() == "off"
        with reading(engine) as later:
            assert later.execute(count).scalar_one() == before + 1
