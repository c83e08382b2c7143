"""The few expressions SQLite and PostgreSQL spell differently, for one implementation of
every metric (SQLAlchemy's ``@compiles``: each query is written once, in Core)."""

from __future__ import annotations

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
    percentiles to a tenth of a second (None when there are none).

    The p-th percentile is the value of rank ``ceil(n * p / 100)``. The store
    counts the values per tenth of a second (a hash aggregate: PostgreSQL's
    ``percentile_cont`` has no SQLite twin, and ranking every value with window
    functions took 1.7 s of the report over a million messages); the ranks are
    then walked here over those few rows.
    """
    inner = values.subquery()
    tenths = func.round(next(iter(inner.c)) * 10)
    counts = connection.execute(
        select(tenths, func.count()).group_by(tenths).order_by(tenths)
    ).all()
    total = sum(count for _, count in counts)
    found: list[float | None] = []
    for point in points:
        seen = 0
        value = None
        for tenth, count in counts:
            seen += count
            if seen * 100 >= total * point:
                value = float(tenth) / 10
                break
        found.append(value)
    return total, found
