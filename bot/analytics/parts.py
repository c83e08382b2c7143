"""The report, with its turns counted in parts over several connections at once.

Over a million messages the turns cost nearly all of a report's time
(docs/analytics.md, "Benchmark"), in one PostgreSQL backend: one core. Every
figure read from the turns adds up across customers (counts per group, the bot's
response times counted per tenth of a second, each customer's own messages), so
on PostgreSQL the customers are split by id modulo ``parts``, each part counted
on its own connection in its own thread, and the counts merged; the ticket
figures, cheap, are read once. A customer's conversations all fall in one part,
so the fans and repeat complainers are counted whole in their part. SQLite
counts everything in one part on one connection: same code, ``parts = 1``.

All parts read the same data: the first connection exports its snapshot
(``pg_export_snapshot()``) and the others start their transactions in it
(``SET TRANSACTION SNAPSHOT``), all at ``REPEATABLE READ``, so a message stored
while a report runs is counted by all of its parts or by none, and the
tickets are read in that snapshot too. It costs one statement per part and no
locks; without it, parts that start a few milliseconds apart could disagree
on the same store (a turn counted, its answer not).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import Connection, Engine

from bot.analytics.figures import Person, Report, Window
from bot.analytics.metrics import (
    CUSTOMERS,
    NEGATIVE,
    PEOPLE_LISTED,
    POSITIVE,
    Group,
    TurnCounts,
    report_of,
    turns,
)
from bot.analytics.sql import day_of, tenth_counts
from bot.settings import ANALYTICS_PARTS

#: Connections a report counts its turns on, on PostgreSQL (``ANALYTICS_PARTS``): each
#: is a backend on a core of its own while there are cores to spare.
DEFAULT_PARTS = ANALYTICS_PARTS


def report(engine: Engine, window: Window, threshold: float, parts: int = DEFAULT_PARTS) -> Report:
    """Every figure for ``window``; ``threshold`` is the NLU's fallback threshold.

    On PostgreSQL the turns are counted in ``parts`` parts at once, on as many
    connections of ``engine``; on SQLite in one. The figures are exactly those
    of one part (``tests/analytics/test_parts.py``).
    """
    if parts < 1:
        raise ValueError(f"parts must be at least 1, not {parts}")
    if engine.dialect.name != "postgresql":
        parts = 1
    with reading(engine) as connection:
        snapshot = None
        if parts > 1:
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        with ThreadPoolExecutor(max(parts - 1, 1), "analytics-part") as others:
            # The other parts in threads (each waits on its own backend), this
            # thread's part on the exporting connection, which must stay open
            # in its transaction until they have all taken its snapshot.
            counted = [
                others.submit(_count_apart, engine, snapshot, window, threshold, part, parts)
                for part in range(1, parts)
            ]
            mine = count(connection, window, threshold, 0, parts)
            counts = merge([mine, *(future.result() for future in counted)])
        return report_of(connection, window, counts)


@contextmanager
def reading(engine: Engine, snapshot: str | None = None) -> Iterator[Connection]:
    """A connection in a transaction for a report, rolled back at the end (it only
    writes its temporary table). On PostgreSQL: REPEATABLE READ, in ``snapshot``
    (from ``pg_export_snapshot()``) when given, and without JIT."""
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        if postgres:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin() as transaction:
            if postgres:
                if snapshot is not None:
                    # It must be the transaction's first statement. (psycopg2 quotes
                    # the parameter itself: the command takes no server-side ones.)
                    connection.exec_driver_sql("SET TRANSACTION SNAPSHOT %s", (snapshot,))
                # Compiling this plan with LLVM took 1.1 s of a 1M-message report, more
                # than it saved; LOCAL: this transaction only, never a pooled connection's.
                connection.exec_driver_sql("SET LOCAL jit = off")
            yield connection
            transaction.rollback()


def _count_apart(
    engine: Engine, snapshot: str | None, window: Window, threshold: float, part: int, parts: int
) -> TurnCounts:
    with reading(engine, snapshot) as connection:
        return count(connection, window, threshold, part, parts)


def count(
    connection: Connection, window: Window, threshold: float, part: int = 0, parts: int = 1
) -> TurnCounts:
    """The counts of the turns of the customers whose id is ``part`` modulo ``parts``.

    The turns are computed once into a temporary table (the connection's own:
    each part has its own, under the same name) that every count then reads:
    over a million messages the window functions cost more than all the figures
    together. The caller's transaction rolls it back.
    """
    table = _turns_table()
    table.create(connection)
    connection.execute(
        insert(table).from_select(list(table.c.keys()), turns(window, threshold, part, parts))
    )
    t = table.c
    # One pass for the counts by day, channel, visibility and intent.
    day = day_of(t.created_at)
    groups = [
        Group(*row)
        for row in connection.execute(
            select(
                day,
                t.channel,
                t.visibility,
                t.intent,
                func.count(),
                func.sum(t.topic),
                func.sum(t.contained),
                func.sum(t.fallback),
                func.sum(t.denied),
                func.sum(t.opens),
            ).group_by(day, t.channel, t.visibility, t.intent)
        )
    ]
    return TurnCounts(
        groups=groups,
        bot_tenths=tenth_counts(
            connection, select(t.bot_seconds).where(t.bot_seconds.is_not(None))
        ),
        fans=_people(connection, table, POSITIVE, at_least=1),
        repeat_complainers=_people(connection, table, NEGATIVE, at_least=2),
    )


def merge(parts: list[TurnCounts]) -> TurnCounts:
    """The counts of disjoint sets of customers, as one count of them all would be."""
    tenths: dict[float, int] = {}
    for part in parts:
        for tenth, number in part.bot_tenths.items():
            tenths[tenth] = tenths.get(tenth, 0) + number
    return TurnCounts(
        # Every figure made of groups is a sum over them (metrics.report_of): a
        # group split across parts sums the same, so they need no merging here.
        groups=[group for part in parts for group in part.groups],
        bot_tenths=tenths,
        fans=_first([part.fans for part in parts]),
        repeat_complainers=_first([part.repeat_complainers for part in parts]),
    )


def _first(lists: list[list[tuple[int, Person]]]) -> list[tuple[int, Person]]:
    """The first PEOPLE_LISTED of all parts' lists, in the order each part lists them.

    Exact: a customer's count is whole in its part, and whoever comes before
    a listed customer overall also comes before them in their own part.
    """
    people = [listed for part in lists for listed in part]
    return sorted(people, key=lambda p: (-p[1].messages, p[0]))[:PEOPLE_LISTED]


def _turns_table() -> Table:
    return Table(
        "analytics_turns",
        MetaData(),
        Column("id", Integer),
        Column("customer_id", Integer),
        Column("channel", String(16)),
        Column("visibility", String(8)),
        Column("conversation_id", Integer),
        Column("intent", String(64)),
        Column("created_at", DateTime),
        Column("topic", Integer),
        Column("contained", Integer),
        Column("fallback", Integer),
        Column("denied", Integer),
        Column("bot_seconds", Float),
        Column("opens", Integer),
        prefixes=["TEMPORARY"],
    )


def _people(
    connection: Connection, table: Table, intents: tuple[str, ...], at_least: int
) -> list[tuple[int, Person]]:
    """Customers with at least ``at_least`` turns of these intents, most first (then by
    id), the first PEOPLE_LISTED; with their ids, which order ties when parts merge."""
    t = table.c
    number = func.count()
    rows = connection.execute(
        select(
            CUSTOMERS.c.id,
            CUSTOMERS.c.channel,
            func.coalesce(CUSTOMERS.c.handle, literal("")),
            number,
        )
        .select_from(table.join(CUSTOMERS, CUSTOMERS.c.id == t.customer_id))
        .where(t.intent.in_(intents))
        .group_by(CUSTOMERS.c.id, CUSTOMERS.c.channel, CUSTOMERS.c.handle)
        .having(number >= at_least)
        .order_by(number.desc(), CUSTOMERS.c.id)
        .limit(PEOPLE_LISTED)
    )
    return [(id_, Person(channel, handle, messages)) for id_, channel, handle, messages in rows]
