"""The ratings table (migration 0006) and bot/conversation/csat.py on it, without a gateway:
one offer per resolution, the scale kept by the store itself, and every outcome of a tap."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.brand import load_brand
from bot.conversation.csat import Outcome, Ratings, Recorded, Tap
from bot.conversation.replies import target
from bot.store.db import make_engine, migrate, session_factory
from bot.store.models import Conversation, Customer, OutboxItem, Owner, Rating

NOW = datetime(2026, 11, 23, 12, 0)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def conversation(engine: Engine, channel: str, place: str, user: str, visibility: str) -> int:
    with session_factory(engine).begin() as db:
        customer = Customer(channel=channel, platform_user_id=user, created_at=NOW)
        row = Conversation(
            channel=channel,
            place=place,
            visibility=visibility,
            customer=customer,
            owner=Owner.BOT,
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(row)
        db.flush()
        return int(row.id)


def offer(ratings: Ratings, conversation_id: int, channel: str, resolution: str) -> int:
    """Offers in a transaction of its own; how many outbox items it queued."""
    with ratings.sessions.begin() as db:
        to = target(db.connection(), conversation_id, channel)
        return len(ratings.offer(db, to, resolution, NOW))


def test_one_offer_per_resolution_only_where_a_tap_can_answer(engine: Engine) -> None:
    ratings = Ratings(session_factory(engine), load_brand(), frozenset({"webchat", "telegram"}))
    web = conversation(engine, "webchat", "web:s1", "s1", "private")
    group = conversation(engine, "telegram", "group:-5:7", "7", "public")
    dm = conversation(engine, "twitter", "dm:9", "9", "private")
    assert offer(ratings, web, "webchat", "ticket:1") == 1
    assert offer(ratings, web, "webchat", "ticket:1") == 0  # the same resolution again
    assert offer(ratings, web, "webchat", "bot:5") == 1
    assert offer(ratings, group, "telegram", "bot:6") == 0  # public
    assert offer(ratings, dm, "twitter", "bot:7") == 0  # no buttons
    silent = Ratings(ratings.sessions, replace(load_brand(), rating_labels=()), ratings.channels)
    assert offer(silent, web, "webchat", "bot:8") == 0  # a brand without labels asks nothing
    with ratings.sessions() as db:
        rows = db.scalars(select(Rating).order_by(Rating.id)).all()
        assert [(r.conversation_id, r.resolution, r.score) for r in rows] == [
            (web, "ticket:1", None),
            (web, "bot:5", None),
        ]
        items = db.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        assert [item.payload["rating"] for item in items] == [r.id for r in rows]
        assert [item.idempotency_key for item in items] == [f"rating:{r.id}" for r in rows]
        assert all(r.message_id == item.message_id for r, item in zip(rows, items, strict=True))


def test_the_store_refuses_a_second_row_for_a_resolution_and_a_score_off_the_scale(
    engine: Engine,
) -> None:
    web = conversation(engine, "webchat", "web:s1", "s1", "private")
    row = {"conversation_id": web, "channel": "webchat", "offered_at": NOW}
    with engine.begin() as db:
        db.execute(insert(Rating.__table__).values(resolution="ticket:1", **row))
    for values in ({"resolution": "ticket:1"}, {"resolution": "bot:2", "score": 6}):
        with pytest.raises(IntegrityError), engine.begin() as db:
            db.execute(insert(Rating.__table__).values(**values, **row))
    with engine.connect() as db:
        assert db.scalar(select(func.count()).select_from(Rating)) == 1


def test_every_outcome_of_a_tap(engine: Engine) -> None:
    ratings = Ratings(session_factory(engine), load_brand(), frozenset({"webchat", "telegram"}))
    ann = conversation(engine, "telegram", "chat:11", "11", "private")
    ben = conversation(engine, "telegram", "chat:12", "12", "private")
    offer(ratings, ann, "telegram", "bot:1")
    offer(ratings, ben, "telegram", "bot:2")
    with ratings.sessions() as db:
        ann_rating, ben_rating = db.scalars(select(Rating.id).order_by(Rating.id)).all()

    def tap(place: str, user: str, rating: int, score: int) -> Outcome:
        return ratings.record(Tap("telegram", place, user, rating, score))

    unknown = Outcome(Recorded.UNKNOWN)
    assert tap("chat:12", "12", ann_rating, 5) == unknown  # Ann's rating, from Ben's chat
    assert tap("chat:11", "12", ann_rating, 5) == unknown  # Ben claiming Ann's chat
    assert tap("chat:11", "11", 10**12, 5) == unknown  # no such rating
    assert ratings.record(Tap("webchat", "chat:11", "11", ann_rating, 5)) == unknown
    assert tap("chat:11", "11", ann_rating, 0) == unknown  # off the scale
    assert tap("chat:11", "11", ann_rating, 6) == unknown
    assert tap("chat:11", "11", ann_rating, 4) == Outcome(Recorded.NEW, 4)
    assert tap("chat:11", "11", ann_rating, 4) == Outcome(Recorded.SAME, 4)
    assert tap("chat:11", "11", ann_rating, 1) == Outcome(Recorded.KEPT, 4)
    with ratings.sessions() as db:
        scores = dict(db.execute(select(Rating.id, Rating.score)).all())
    assert scores == {ann_rating: 4, ben_rating: None}
