"""Prometheus /metrics: the store's gauges at scrape time, and the core's counters through a
real gateway (fake assistant, web chat) on its own loopback port."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.analytics.live import StoreCollector
from bot.store.models import Author, Direction, InboundStatus, Message, OutboxItem, OutboxStatus
from tests.analytics.conftest import DAY, tell_the_story
from tests.gateway.conftest import RunningGateway, eventually


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_store_gauges_at_scrape_time(engine: Engine) -> None:
    tell_the_story(engine)  # one open ticket (dave's), one resolved (bob's)
    now = DAY.replace(hour=16)
    with Session(engine, future=True) as session, session.begin():
        for minutes, status in [(5, OutboxStatus.PENDING), (2, OutboxStatus.SENDING)]:
            session.add(_outbox(now - timedelta(minutes=minutes), status))
        session.add(_outbox(now - timedelta(hours=3), OutboxStatus.SENT))
        session.add(
            Message(
                conversation_id=1,
                channel="webchat",
                direction=Direction.IN,
                author=Author.CUSTOMER,
                text="still there?",
                status=InboundStatus.PENDING,
                created_at=now,
            )
        )
    families = {f.name: f for f in StoreCollector(lambda: engine, clock=lambda: now).collect()}
    queue = {s.labels["status"]: s.value for s in families["care_queue_tickets"].samples}
    assert queue == {"open": 1, "claimed": 0}
    assert families["care_inbox_pending"].samples[0].value == 1
    assert families["care_outbox_backlog"].samples[0].value == 2  # the sent one is not
    assert families["care_outbox_oldest_seconds"].samples[0].value == 300.0


def _outbox(at, status: OutboxStatus) -> OutboxItem:  # type: ignore[no-untyped-def]
    return OutboxItem(
        idempotency_key=uuid.uuid4().hex,
        conversation_id=1,
        channel="webchat",
        payload={"text": "hello"},
        status=status,
        next_attempt_at=at,
        created_at=at,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_turns_and_latency_counted_by_a_running_gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]], fake_assistant: tuple[object, str]
) -> None:
    port = free_port()
    gateway = await start_gateway(rasa_url=fake_assistant[1], metrics_port=port)
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http:
        before = samples(await (await http.get(url)).text())
        for text in ("hello", "human please"):
            session = uuid.uuid4().hex
            answer = await http.post(
                f"{gateway.url}/webchat/api/messages",
                json={"session": session, "id": uuid.uuid4().hex, "text": text},
            )
            assert answer.status == 202

        async def counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            now = samples(await (await http.get(url)).text())
            handovers = ("care_handovers_total", (("reason", "requested"),))
            turns = ("care_turns_total", (("channel", "webchat"),))
            handed = now.get(handovers, 0) - before.get(handovers, 0)
            answered = now.get(turns, 0) - before.get(turns, 0)
            # The counter moves when the ticket is written, the gauge once it is committed.
            queued = now.get(("care_queue_tickets", (("status", "open"),)), 0)
            return now if handed >= 1 and answered >= 2 and queued >= 1 else None

        after = await eventually(counted)
        scraped = await http.get(url)
        assert scraped.headers["Content-Type"].startswith("text/plain")

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert grew("care_turns_total", (("channel", "webchat"),)) == 2  # not more
    assert grew("care_rasa_seconds_count") == 2
    assert grew("care_handovers_total", (("reason", "requested"),)) == 1
    assert after[("care_queue_tickets", (("status", "open"),))] == 1
    assert ("care_outbox_backlog", ()) in after
    # The gateway's own port has no /metrics: it stays on the private one.
    async with aiohttp.ClientSession() as http:
        assert (await http.get(gateway.url + "/metrics")).status == 404


async def test_a_taken_metrics_port_leaves_the_gateway_running(
    start_gateway: Callable[..., Awaitable[RunningGateway]], fake_assistant: tuple[object, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = await start_gateway(rasa_url=fake_assistant[1], metrics_port=port)
        assert gateway.parts.metrics is None
        async with aiohttp.ClientSession() as http:
            assert (await http.get(gateway.url + "/healthz")).status == 200
