"""The demo month: seeded once, never mixed with real conversations."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.analytics.demo import DAYS, seed_demo
from bot.analytics.metrics import Window
from bot.analytics.parts import report
from bot.desk.agents import SESSION_COOKIE
from bot.store.models import Conversation
from tests.analytics.conftest import THRESHOLD, Story
from tests.analytics.test_dashboard import DESK, session_cookie

NOW = datetime(2026, 12, 6, 3, 0)
MONTH = Window(NOW.replace(hour=0) - timedelta(days=DAYS), NOW.replace(hour=0), demo=True)


def test_a_month_seeded_once_and_kept_apart(engine: Engine) -> None:
    with Session(engine, future=True) as session, session.begin():
        story = Story(session)
        real_one = story.conversation("telegram", "rita")
        story.says(real_one, NOW - timedelta(days=3), "flight_status")
        story.answers(real_one, NOW - timedelta(days=3) + timedelta(seconds=2))
    real_before = report(engine, Window(MONTH.since, MONTH.until), THRESHOLD)
    assert real_before.conversations == 1
    seeded = seed_demo(engine, NOW)
    assert seeded >= DAYS * 28  # 40 to 70 a day, 70 % of it at weekends
    assert seed_demo(engine, NOW) == 0
    assert seed_demo(engine, NOW, again=True) == seeded  # the same month again
    demo = report(engine, MONTH, THRESHOLD)
    real = report(engine, Window(MONTH.since, MONTH.until), THRESHOLD)
    with engine.connect() as connection:
        demo_count = connection.execute(
            select(func.count()).where(Conversation.demo.is_(True))
        ).scalar()
    assert demo_count == seeded == demo.conversations
    assert real == real_before  # rita's, untouched
    assert demo.days[0].day == f"{MONTH.since:%Y-%m-%d}"
    assert len(demo.days) == DAYS
    assert 0.3 < (demo.containment or 0) < 0.95
    assert demo.handovers > 0 and demo.bot_response.count > 0 and demo.fans
    assert {v.channel for v in demo.volume} == {"telegram", "twitter", "webchat"}
    # Ratings after the resolutions on the channels with buttons, never in public.
    satisfaction = demo.satisfaction
    assert set(satisfaction.channels) == {"telegram", "webchat"}
    assert satisfaction.total.offered > 100
    assert 0.3 < (satisfaction.total.response_rate or 0) < 0.5
    assert 0.6 < (satisfaction.total.csat or 0) < 0.85
    assert set(satisfaction.scores) == {1, 2, 3, 4, 5}
    assert real.satisfaction.total.offered == 0


async def test_the_dashboard_shows_the_demo_month_while_there_is_nothing_real(
    engine: Engine, start_gateway, fake_assistant
) -> None:
    seed_demo(engine, datetime.utcnow())
    gateway = await start_gateway(rasa_url=fake_assistant[1], desk=DESK)
    cookies = {SESSION_COOKIE: session_cookie(gateway)}
    async with aiohttp.ClientSession(cookies=cookies) as http:
        api = gateway.url + "/dashboard/api/report"
        data = await (await http.get(api)).json()
        assert data["only_demo_data"] and data["window"]["demo"]
        assert data["conversations"] > 0
        asked_real = await (await http.get(api, params={"demo": "0"})).json()
        assert not asked_real["window"]["demo"] and asked_real["conversations"] == 0
