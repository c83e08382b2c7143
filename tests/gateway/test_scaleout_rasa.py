"""The scaled topology with real Rasa replicas: PostgreSQL trackers, the Redis lock store.

Two Rasa replicas with the shipped model and endpoints.scaleout.yml, two
action servers (on a seeded airline database), two gateway workers, the
balancer: what ``python -m bot.run --scale 2`` starts (bot/scaleout.py), on
fresh databases. Rasa reaches Redis through a proxy the test controls, so
Redis can go away and come back without stopping the machine's Redis. Before
that, one replica is killed with -9. Checked in Rasa's own tracker store
(every customer message is one user event there) and in the care store: every
message taken exactly once, each conversation in order, none answered by the
gateway's fallback: the kill costs retries, the Redis outage a wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, func, select, text

from benchmarks.scaleout import pending
from bot.balancer import Balancer
from bot.launch import Service
from bot.model import MODEL_PATH
from bot.scaleout import SharedStores, Topology, services
from bot.store.models import Direction, Message
from tests.gateway.conftest import eventually
from tests.gateway.test_scaleout import free_topology

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CUSTOMERS = 10
ROUNDS = 6  # messages per customer: 2, then 2 after a replica died, 2 while Redis is away
REDIS = ("127.0.0.1", int(os.environ.get("REDIS_TEST_PORT", "6379")))
TEXTS = ["is NW881 on time?", "thanks!", "my bag is lost", "hello", "is NW12 delayed?", "bye"]


@pytest.fixture
def redis_server() -> tuple[str, int]:
    """A real Redis, or a skip that says how to get one."""
    import redis

    try:
        redis.Redis(*REDIS, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(
            f"Redis not reachable at {REDIS[0]}:{REDIS[1]} ({type(error).__name__}); start one "
            "(`redis-server --daemonize yes`) or set REDIS_TEST_PORT"
        )
    return REDIS


@pytest.fixture
def stores(postgres_server: str) -> Iterator[SharedStores]:
    """Fresh names for the care store and the tracker store (created by ``prepare``)."""
    suffix = uuid.uuid4().hex[:10]
    shared = SharedStores(
        postgres=postgres_server,
        care_db=f"care_scale_test_{suffix}",
        tracker_db=f"care_scale_rasa_test_{suffix}",
    )
    yield shared
    admin = create_engine(postgres_server, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in (shared.care_db, shared.tracker_db):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _user_events(stores: SharedStores) -> dict[str, list[tuple[str, str]]]:
    """Per Rasa sender, the (message id, text) of each user event, in the tracker's order."""
    url = stores.care_url.rsplit("/", 1)[0] + f"/{stores.tracker_db}"
    engine = create_engine(url, future=True)
    with engine.connect() as db:
        rows = db.execute(
            text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")
        ).all()
    engine.dispose()
    events: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sender, data in rows:
        event = json.loads(data)
        events[sender].append((event.get("message_id"), event.get("text")))
    return events


async def test_real_replicas_with_the_redis_lock_store_survive_redis_and_a_replica_dying(
    redis_server: tuple[str, int], stores: SharedStores, airline_db: str, tmp_path: Path
) -> None:
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} is missing: run `make model` (`make test` trains it)")
    proxy = Balancer([redis_server])
    proxy_port = await proxy.start()
    stores = replace(stores, redis_port=proxy_port)
    await asyncio.to_thread(stores.prepare)
    topology = free_topology(2)
    # The action servers read a seeded airline (a fresh clone has none: every flight
    # look-up failed, and the gateway counted the assistant down).
    env = {"GATEWAY_DOTENV": "", "RASA_TIMEOUT_SECONDS": "30", "AIRLINE_DATABASE_URL": airline_db}
    everything = services(topology, stores, env=env, log_dir=tmp_path, run_dir=tmp_path)
    started: list[Service] = []
    sent: dict[str, list[str]] = {}
    try:
        for service in everything:
            service.start()
            started.append(service)
        for service in everything:
            await asyncio.to_thread(service.wait_ready, 400.0)
        urls = [f"http://127.0.0.1:{topology.gateway_port(i)}" for i in range(2)]
        sessions = [f"customer-{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(CUSTOMERS)]

        async with aiohttp.ClientSession() as http:
            # A turn sent again (its answer lost on the way back) reaches the other replica:
            # answered from the tracker as the first time, not taken twice.
            twice = await _the_same_turn_at_each_replica(http, topology)
            assert twice[0] == twice[1] and twice[0], twice

            async def say(rounds: range) -> None:
                async def customer(n: int, session: str) -> None:
                    for r in rounds:
                        body = {"session": session, "id": uuid.uuid4().hex, "text": TEXTS[r]}
                        async with http.post(
                            f"{urls[(n + r) % 2]}/webchat/api/messages", json=body
                        ) as response:
                            assert response.status == 202
                        sent.setdefault(session, []).append(TEXTS[r])
                        await asyncio.sleep(0.2)

                await asyncio.gather(*(customer(n, s) for n, s in enumerate(sessions)))

            await say(range(0, 2))
            await eventually(lambda: pending(stores.care_url) == 0, timeout=120, interval=0.5)
            # A Rasa replica dies with -9 mid-run; the balancer sends new turns to the other.
            replica = next(s for s in started if s.name == "1-rasa")
            assert replica.process is not None
            os.killpg(replica.process.pid, signal.SIGKILL)
            await say(range(2, 4))
            await eventually(lambda: pending(stores.care_url) == 0, timeout=120, interval=0.5)
            # Redis goes away while customers write, and comes back 5 s later: the turns
            # Rasa could not start (503) wait in the gateway (RASA_WAIT_SECONDS, 60 s).
            await proxy.cut()
            await say(range(4, 6))
            await asyncio.sleep(5)
            proxy.restore()
        await eventually(lambda: pending(stores.care_url) == 0, timeout=240, interval=1.0)
    finally:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in reversed(started)))
        await proxy.close()

    events = _user_events(stores)
    taken = Counter(message_id for per in events.values() for message_id, _ in per)
    assert all(n == 1 for n in taken.values()), [m for m, n in taken.items() if n > 1]
    # Every message of every conversation was taken by Rasa, in the customer's order:
    # through the kill (turns cut in the moment of the death are asked again, and reach
    # the live replica) and through the Redis outage (the turns waited for it).
    conversations = {s: per for s, per in events.items() if s != twice[2]}
    assert len(conversations) == CUSTOMERS, sorted(events)
    assert sorted(len(per) for per in conversations.values()) == [ROUNDS] * CUSTOMERS
    assert all([t for _, t in per] == TEXTS for per in conversations.values())
    assert sorted(sent.values()) == [TEXTS] * CUSTOMERS
    # And the gateway recorded Rasa's turn for each: none got its own fallback instead.
    assert _not_answered_by_rasa(stores.care_url) == 0
    assert len(events[twice[2]]) == 1  # the turn sent to both replicas: taken once
    logs = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    print(
        f"\n{CUSTOMERS} x {ROUNDS} turns taken once each; turns cut by the kill and asked "
        f"again: {logs.count('turn cut')}; asks refused while Redis was away: "
        f"{logs.count('waits for the assistant')}"
    )


async def _the_same_turn_at_each_replica(
    http: aiohttp.ClientSession, topology: Topology
) -> tuple[list[object], list[object], str]:
    """One message, with one id, sent to replica 0 and then to replica 1: what each
    answered, and the sender."""
    body = {"sender": f"twice-{uuid.uuid4().hex[:8]}", "message": "hello", "message_id": "m-1"}
    answers = []
    for i in range(2):
        url = f"http://127.0.0.1:{topology.replica_port(i)}/webhooks/care/webhook"
        async with http.post(url, json=body) as response:
            assert response.status == 200
            answers.append((await response.json())["messages"])
    return answers[0], answers[1], str(body["sender"])


def _not_answered_by_rasa(store: str) -> int:
    """Customer messages handled without a turn of Rasa's (the gateway's fallback: a turn
    records what Rasa understood, bot/conversation/turns.py)."""
    engine = create_engine(store, future=True)
    with engine.connect() as db:
        count = db.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == Direction.IN, Message.intent.is_(None))
        )
    engine.dispose()
    return int(count or 0)
