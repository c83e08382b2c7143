"""The full analytics report over a million stored messages on PostgreSQL.

    .venv/bin/python -m benchmarks.analytics [--messages 1000000] [--runs 3] [--parts 1 2]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database on the server (dropped at the end), migrates it
(the store's own indexes), and generates with ``generate_series`` a month of
conversations of ten messages each (customer and bot in turn, 2 s replies),
on the three channels, a ticket on every tenth conversation (a seventh of
them past their first-response target). Then it times
:func:`bot.analytics.parts.report` over the whole month, ``--runs`` times for
each number of ``--parts``, and prints each run: the wall time, the CPU time
of the database's backends summed (when the server runs on this machine: the
report's work, which neighbours on the machine do not inflate) and the load
average; then the medians, and whether every number of parts gave the same
figures. The figure is in docs/analytics.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from benchmarks.gateway_latency import cpu_seconds
from bot.analytics.metrics import Window
from bot.analytics.parts import DEFAULT_PARTS, report
from bot.store.db import make_engine, migrate

MONTH = (datetime(2026, 10, 1), datetime(2026, 10, 31))
PER_CONVERSATION = 10
INTENTS = (
    "flight_status", "flight_delayed", "baggage_issue", "booking_change", "refund_request",
    "complaint", "greet", "thank", "praise", "deny", "flight_cancelled", "request_human",
)  # fmt: skip

GENERATE = [
    """INSERT INTO customers (id, channel, platform_user_id, handle, created_at)
       SELECT g, (ARRAY['webchat', 'telegram', 'twitter'])[1 + g % 3], 'u' || g, 'user' || g,
              :start
       FROM generate_series(1, :conversations) g""",
    """INSERT INTO conversations (id, channel, place, visibility, customer_id, owner,
                                  created_at, updated_at, demo)
       SELECT g, (ARRAY['webchat', 'telegram', 'twitter'])[1 + g % 3], 'p' || g,
              CASE WHEN g % 3 = 2 AND g % 2 = 0 THEN 'public' ELSE 'private' END, g, 'bot',
              :start + g * :spacing * INTERVAL '1 second',
              :start + g * :spacing * INTERVAL '1 second', false
       FROM generate_series(1, :conversations) g""",
    """INSERT INTO messages (id, conversation_id, channel, direction, author, kind, text,
                             intent, confidence, created_at)
       SELECT n, c.id, c.channel,
              CASE WHEN n % 2 = 1 THEN 'in' ELSE 'out' END,
              CASE WHEN n % 2 = 1 THEN 'customer' ELSE 'bot' END, 'text', '',
              CASE WHEN n % 2 = 1 THEN (CAST(:intents AS text[]))[1 + (n * 7 + c.id) % 12] END,
              CASE WHEN n % 2 = 1 THEN 0.2 + (n % 80) / 100.0 END,
              c.created_at + ((n - 1) % :per) * INTERVAL '30 seconds'
                           + (1 - n % 2) * INTERVAL '2 seconds'
       FROM generate_series(1, :messages) n
       JOIN conversations c ON c.id = 1 + (n - 1) / :per""",
    """INSERT INTO tickets (conversation_id, reason, status, priority, context, created_at,
                            claimed_at, first_response_at, resolved_at, sla_breached)
       SELECT c.id, (ARRAY['complaint', 'policy', 'requested', 'low_confidence'])[1 + c.id % 4],
              'resolved', 'normal', '{}', c.created_at + INTERVAL '3 minutes',
              c.created_at + INTERVAL '5 minutes', c.created_at + INTERVAL '9 minutes',
              c.created_at + INTERVAL '70 minutes',
              CASE WHEN c.id % 7 = 0 THEN 'first_response' END
       FROM conversations c WHERE c.id % 10 = 0""",
]


def _open_connections(engine: Engine, parts: int) -> None:
    """Opens the pool's connections a report uses, so their backends are there to measure."""
    connections = [engine.connect() for _ in range(parts)]
    for connection in connections:
        connection.exec_driver_sql("SELECT 1")
    for connection in connections:
        connection.close()


def _backend_cpu(admin: Engine, database: str) -> dict[int, float | None]:
    """The CPU time of each client backend of ``database`` so far (None: not on this machine)."""
    with admin.connect() as connection:
        pids = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = :name AND backend_type = 'client backend'"
            ),
            {"name": database},
        ).scalars()
        return {pid: cpu_seconds(pid) for pid in pids}


def _cpu_used(before: dict[int, float | None], after: dict[int, float | None]) -> list[float]:
    """CPU seconds each backend used between two readings (a backend that appeared in
    between counts whole); none when the server is not on this machine.

    The busiest backend bounds the wall time from below: on a machine with a
    free core for each part, the report takes about that long.
    """
    if not after or None in after.values() or None in before.values():
        return []
    return [used - (before.get(pid) or 0.0) for pid, used in after.items() if used is not None]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parts", type=int, nargs="+", default=[DEFAULT_PARTS])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database (drop it yourself)")
    args = parser.parse_args()
    name = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.server, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(args.server.rsplit("/", 1)[0] + f"/{name}")
    try:
        migrate(engine)
        conversations = args.messages // PER_CONVERSATION
        spacing = (MONTH[1] - MONTH[0]).total_seconds() / conversations
        started = time.perf_counter()
        with engine.begin() as connection:
            for statement in GENERATE:
                connection.execute(
                    text(statement),
                    {
                        "start": MONTH[0],
                        "conversations": conversations,
                        "spacing": spacing,
                        "messages": args.messages,
                        "per": PER_CONVERSATION,
                        "intents": list(INTENTS),
                    },
                )
        # A store in use is vacuumed (autovacuum): its indexes answer without the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"generated {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
        window = Window(MONTH[0], MONTH[1])
        every = []
        for parts in args.parts:
            _open_connections(engine, parts)
            timings, cpus, busiest = [], [], []
            for run in range(args.runs):
                before = _backend_cpu(admin, name)
                started = time.perf_counter()
                figures = report(engine, window, 0.35, parts)
                timings.append(time.perf_counter() - started)
                used = _cpu_used(before, _backend_cpu(admin, name))
                busy = ""
                if used:
                    cpus.append(sum(used))
                    busiest.append(max(used))
                    busy = f", server CPU {cpus[-1]:.2f} s (busiest backend {busiest[-1]:.2f} s)"
                load = "/".join(f"{n:.1f}" for n in os.getloadavg())
                print(f"parts {parts}, run {run + 1}: wall {timings[-1]:.2f} s{busy}, load {load}")
            every.append(figures)
            median_cpu = ""
            if cpus:
                median_cpu = (
                    f", server CPU {statistics.median(cpus):.2f} s "
                    f"(busiest backend {statistics.median(busiest):.2f} s)"
                )
            print(
                f"parts {parts}: {figures.messages:,} customer messages, "
                f"{figures.handovers:,} tickets, containment {figures.containment:.3f}; "
                f"median wall {statistics.median(timings):.2f} s{median_cpu}"
            )
        print("the same figures for every number of parts:", all(f == every[0] for f in every))
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
