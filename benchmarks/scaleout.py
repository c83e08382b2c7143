"""Throughput of the scaled topology with 1 and 2 Rasa replicas, and the gateway's cost per turn.

    .venv/bin/python -m benchmarks.scaleout [--customers 20] [--messages 5] [--replicas 1 2]

**Replicas.** For each count N: what ``python -m bot.run --scale N`` starts
(bot/scaleout.py: N action servers, N Rasa replicas on the PostgreSQL
tracker store and the Redis lock store, the balancer, N gateway workers), on
fresh databases; ``--customers`` web chat customers each write ``--messages``
messages one after another, spread over the gateways. Reported: turns per
second from the first message to the last one handled, and each process's
CPU time over that span as a share of one core (read from /proc: psutil is
not a dependency, and two fields of one file are all this needs).

**Store.** One gateway worker with an assistant that answers at once (the
test fake), 50 customers x 20 messages, on an SQLite file and on PostgreSQL
in the same run: the gateway's CPU milliseconds and wall time per turn, and
PostgreSQL's row writes and commits per turn (pg_stat_database).

Needs the local PostgreSQL and Redis (as the tests, tests/gateway/test_scaleout*.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, func, select, text

from actions.airline.clock import utc_now
from actions.airline.db import make_engine as airline_engine
from actions.airline.seed import ensure_seeded
from benchmarks.gateway_latency import cpu_seconds
from bot.scaleout import SharedStores, Topology, gateways, services
from bot.store.db import make_engine, migrate
from bot.store.models import Direction, InboundStatus, Message

TEXTS = ["is NW881 on time?", "thanks!", "my bag is lost", "hello", "what is your refund policy?"]


def pending(url: str) -> int:
    engine = create_engine(url, future=True)
    with engine.connect() as db:
        count = db.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == Direction.IN, Message.status != InboundStatus.DONE)
        )
    engine.dispose()
    return int(count or 0)


async def customers(urls: list[str], count: int, messages: int) -> int:
    """``count`` customers, each writing ``messages`` one after another; returns how many."""

    async def one(http: aiohttp.ClientSession, n: int) -> None:
        session = f"bench-{n:03d}-{uuid.uuid4().hex[:8]}"
        for m in range(messages):
            body = {"session": session, "id": uuid.uuid4().hex, "text": TEXTS[m % len(TEXTS)]}
            async with http.post(f"{urls[(n + m) % len(urls)]}/webchat/api/messages", json=body):
                pass

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http, n) for n in range(count)))
    return count * messages


async def until_handled(url: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while pending(url) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


def drop(postgres: str, names: list[str]) -> None:
    admin = create_engine(postgres, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def replicas_run(n: int, count: int, messages: int, workdir: Path, postgres: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    stores = SharedStores(
        postgres=postgres, care_db=f"bench_care_{suffix}", tracker_db=f"bench_rasa_{suffix}"
    )
    stores.prepare()
    airline = f"sqlite:///{workdir / 'airline.db'}"
    everything = services(
        Topology(n, 8700),
        stores,
        env={"GATEWAY_DOTENV": "", "AIRLINE_DATABASE_URL": airline, "RASA_TIMEOUT_SECONDS": "60"},
        log_dir=workdir / f"logs-{n}",
        run_dir=workdir,
    )
    try:
        for service in everything:
            service.start()
        for service in everything:
            await asyncio.to_thread(service.wait_ready, 400.0)
        urls = [s.ready_url.removesuffix("/healthz") for s in everything if "gateway" in s.name]
        await customers(urls, 2, 1)  # warm-up: each replica's first turn loads lazily
        await until_handled(stores.care_url)
        trackers = stores.care_url.rsplit("/", 1)[0] + f"/{stores.tracker_db}"
        writes = [_pg_stats(postgres, stores.care_url), _pg_stats(postgres, trackers)]
        before = {s.name: cpu_seconds(s.process.pid) for s in everything if s.process}
        started = time.monotonic()
        sent = await customers(urls, count, messages)
        await until_handled(stores.care_url)
        elapsed = time.monotonic() - started
        after = {s.name: cpu_seconds(s.process.pid) for s in everything if s.process}
        written = [
            (now[0] - was[0], now[1] - was[1])
            for was, now in zip(
                writes,
                [_pg_stats(postgres, stores.care_url), _pg_stats(postgres, trackers)],
                strict=True,
            )
        ]
        shares = {name: (after[name] - before[name]) / elapsed for name in before}
    finally:
        for service in reversed(everything):
            service.stop()
        drop(postgres, [stores.care_db, stores.tracker_db])
    print(f"\n{n} replica(s): {sent} turns in {elapsed:.1f} s = {sent / elapsed:.2f} turns/s")
    for name, share in shares.items():
        print(f"  {name:14s} {share * 100:5.0f} % of a core")
    for label, (rows, commits) in zip(("care store", "trackers"), written, strict=True):
        print(f"  {label}: {rows / sent:.1f} row writes, {commits / sent:.1f} commits per turn")


async def store_run(label: str, url: str, workdir: Path, postgres: str) -> None:
    from tests.fakes.assistant import FakeAssistant
    from tests.gateway.conftest import serve

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    fake = FakeAssistant()
    runner, port = await serve(fake.app())
    rasa = f"http://127.0.0.1:{port}"
    [worker] = gateways(
        Topology(1, 8790),
        url,
        {"GATEWAY_DOTENV": "", "ACTION_SERVER_URL": rasa},
        workdir / f"store-{label}",
        rasa_url=rasa,
    )
    stats = _pg_stats(postgres, url) if label == "postgresql" else None
    try:
        worker.start()
        await asyncio.to_thread(worker.wait_ready, 60.0)
        assert worker.process is not None
        cpu = cpu_seconds(worker.process.pid)
        started = time.monotonic()
        sent = await customers([worker.ready_url.removesuffix("/healthz")], 50, 20)
        await until_handled(url)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(worker.process.pid) - cpu
    finally:
        worker.stop()
        await runner.cleanup()
    line = f"{label:10s} {sent} turns: {elapsed / sent * 1000:6.2f} ms wall, "
    line += f"{cpu / sent * 1000:5.2f} ms gateway CPU per turn"
    if stats is not None:
        after = _pg_stats(postgres, url)
        writes, commits = after[0] - stats[0], after[1] - stats[1]
        line += f"; {writes / sent:.1f} row writes, {commits / sent:.1f} commits per turn"
    print(line)


def _pg_stats(postgres: str, url: str) -> tuple[int, int]:
    """Rows written (inserted, updated, deleted) and transactions committed in ``url``'s
    database so far (the statistics lag by up to half a second: read after a pause)."""
    time.sleep(1.0)
    name = url.rsplit("/", 1)[1]
    engine = create_engine(postgres, future=True)
    with engine.connect() as db:
        row = db.execute(
            text(
                "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit "
                "FROM pg_stat_database WHERE datname = :name"
            ),
            {"name": name},
        ).one()
    engine.dispose()
    return int(row[0]), int(row[1])


async def main_async(args: argparse.Namespace) -> None:
    postgres = SharedStores.from_env(os.environ).postgres
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        engine = airline_engine(f"sqlite:///{workdir / 'airline.db'}")
        ensure_seeded(engine, utc_now().date())
        engine.dispose()
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if not args.skip_store:
            suffix = uuid.uuid4().hex[:8]
            pg = replace(SharedStores(postgres=postgres), care_db=f"bench_store_{suffix}")
            pg.prepare()
            try:
                print("\nthe gateway's cost per turn (assistant answering at once):")
                await store_run("sqlite", f"sqlite:///{workdir / 'care.db'}", workdir, postgres)
                await store_run("postgresql", pg.care_url, workdir, postgres)
            finally:
                drop(postgres, [pg.care_db, pg.tracker_db])
        for n in args.replicas:
            await replicas_run(n, args.customers, args.messages, workdir, postgres)
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-store", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
