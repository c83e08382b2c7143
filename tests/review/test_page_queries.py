"""The review page's API reads what it returns and nothing more: a page of the inbox costs
the same few statements with 2 items or 30, live or imported (no query per item or group,
no rows loaded only to be counted or thrown away)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from bot.review.inbox import ReviewInbox
from tests.review.conftest import store_posts
from tests.review.test_sources import store_conversation

TOPICS = [
    "where is my bag, {n} days now",
    "my flight {n} is delayed again",
    "I want a refund for booking {n}",
    "is there wifi on flight {n}",
    "can I bring my dog on flight {n}",
    "my seat {n} was given away",
]


@contextmanager
def statements(sessions: sessionmaker) -> Iterator[list[str]]:
    """The SQL statements run on the inbox's engine while inside."""
    run: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        run.append(statement)

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield run
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def loads(run: list[str], table: str) -> int:
    """How many of the statements read rows of ``table`` (counting them aside)."""
    return sum(1 for sql in run if f"FROM {table}" in sql and "count(" not in sql)


def _live(sessions: sessionmaker, inbox: ReviewInbox, count: int) -> None:
    """``count`` more unsure messages, each answered and followed by the customer."""
    for n in range(count):
        topic = TOPICS[n % len(TOPICS)].format(n=n)
        store_conversation(
            sessions,
            [
                ("customer", topic, "out_of_scope", 0.2),
                ("bot", f"Sorry, about {n}: could you tell me more?", "utter_out_of_scope"),
                ("customer", f"it is about {n}", "inform", 0.9),
            ],
        )
    inbox.collect()


async def _page(server: str, view: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{server}/api/inbox", params={"view": view})
        assert response.status == 200
        return dict(await response.json())


async def test_a_page_of_live_items_costs_the_same_statements_for_2_or_30(
    server: str, inbox: ReviewInbox, sessions: sessionmaker
) -> None:
    _live(sessions, inbox, 2)
    with statements(sessions) as few:
        page = await _page(server, "live")
    assert page["counts"]["live"] == 2 and len(page["groups"]) == 2
    _live(sessions, inbox, 28)
    with statements(sessions) as many:
        page = await _page(server, "live")
    items = [i for g in page["groups"] for i in g["items"]]
    assert page["counts"]["live"] == 30 and len(items) == 30
    assert len(page["groups"]) < 30  # near-duplicates grouped: groups of several items
    # Each item with its thread: the bot's reply and the customer's next message.
    for item in items:
        n = item["reply"].removeprefix("Sorry, about ").split(":")[0]
        assert item["next_post"] == f"it is about {n}"
        assert n in item["text"]
    assert len(many) == len(few), many
    assert loads(many, "review_items") == 1  # the pending items, once; counted, not loaded


async def test_a_page_of_imported_groups_costs_the_same_statements_for_1_or_10(
    server: str, sessions: sessionmaker
) -> None:
    def groups(first: int, count: int) -> None:
        store_posts(
            sessions,
            {
                f"{g}-{m}": (f"{TOPICS[g % len(TOPICS)].format(n=g)} ({m})", g, m == 2)
                for g in range(first, first + count)
                for m in range(3)
            },
        )

    groups(1, 1)
    with statements(sessions) as few:
        page = await _page(server, "imported")
    assert [(g["members"], len(g["outliers"])) for g in page["groups"]] == [(2, 1)]
    groups(2, 9)
    with statements(sessions) as many:
        page = await _page(server, "imported")
    assert page["counts"]["imported"] == 30 and len(page["groups"]) == 10
    assert [g["group_id"] for g in page["groups"]] == list(range(1, 11))  # review order
    assert all((g["members"], len(g["outliers"])) == (2, 1) for g in page["groups"])
    assert len(many) == len(few), many
    # The live items are only counted; the intents come from the NLU file, not the posts.
    assert loads(many, "review_items") == 0
    assert not [sql for sql in many if "DISTINCT archive_posts.intent" in sql]


@pytest.mark.parametrize("view", ["live", "imported"])
async def test_a_page_is_read_in_one_read_only_session(
    server: str, inbox: ReviewInbox, sessions: sessionmaker, view: str
) -> None:
    """On SQLite a write session begins with BEGIN IMMEDIATE, the store's one write lock:
    a page read that way made the gateway's writers wait, four times per page (the
    items, their threads, and the two counts, each in a session of its own)."""
    _live(sessions, inbox, 3)
    store_posts(sessions, {f"p{m}": (f"{TOPICS[m]} (imported)", 1, False) for m in range(3)})
    with statements(sessions) as run:
        page = await _page(server, view)
    assert page["counts"] == {"live": 3, "imported": 3} and page["groups"]
    assert [sql for sql in run if sql.startswith("BEGIN")] == ["BEGIN"]
    # The trainer's decisions still take the write lock.
    with statements(sessions) as run:
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{server}/api/collect", json={})
            assert response.status == 200
    assert [sql for sql in run if sql.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
