"""The few expressions SQLite and PostgreSQL spell differently, for one implementation of
every metric (SQLAlchemy's ``@compiles``: each query is written once, in Core)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Float, String, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class seconds_between(FunctionElement):
    """``end - start`` in seconds (both naive UTC timestamps, as the store keeps them)."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


class day_of(FunctionElement):
    """The calendar day (UTC) of a timestamp as ``YYYY-MM-DD`` text."""

    type = String()
    name = "day_of"
    inherit_cache = True


@compiles(day_of, "sqlite")
def _day_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d', {compiler.process(element.clauses, **kw)})"


@compiles(day_of, "postgresql")
def _day_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


def percentiles(
    connection: Connection, values: Any, points: tuple[int, ...] = (50, 90)
) -> tuple[int, list[float | None]]:
    """How many values the one-column select ``values`` has, and their nearest-rank
    percentiles to a tenth of a second (None when there are none)."""
    return ranks(tenth_counts(connection, values), points)


def tenth_counts(connection: Connection, values: Any) -> dict[float, int]:
    """How many of the one-column select ``values`` fall on each tenth of a second
    (keyed by tenths: 12.0 is 1.2 s).

    The store counts them (a hash aggregate: PostgreSQL's ``percentile_cont``
    has no SQLite twin, and ranking every value with window functions took
    1.7 s of the report over a million messages). Counts of disjoint sets of
    values add up, tenth by tenth: a report computed in parts merges them
    (bot/analytics/parts.py) before :func:`ranks` walks them.
    """
    inner = values.subquery()
    tenths = func.round(next(iter(inner.c)) * 10)
    # float(): PostgreSQL's EXTRACT gives numeric (a Decimal here), the rest floats.
    return {
        float(tenth): count
        for tenth, count in connection.execute(select(tenths, func.count()).group_by(tenths))
    }


def ranks(
    counts: Mapping[float, int], points: tuple[int, ...] = (50, 90)
) -> tuple[int, list[float | None]]:
    """How many values ``counts`` (from :func:`tenth_counts`) has, and their nearest-rank
    percentiles in seconds (None when there are none).

    The p-th percentile is the value of rank ``ceil(n * p / 100)``, found by
    walking the few counted tenths in order.
    """
    in_order = sorted(counts.items())
    total = sum(count for _, count in in_order)
    found: list[float | None] = []
    for point in points:
        seen = 0
        value = None
        for tenth, count in in_order:
            seen += count
            if seen * 100 >= total * point:
                value = tenth / 10
                break
        found.append(value)
    return total, found
