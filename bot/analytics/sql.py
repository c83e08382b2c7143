"""The few expressions SQLite and PostgreSQL spell differently, for one implementation of
every metric (SQLAlchemy's ``@compiles``: each query is written once, in Core)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
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
) -> list[float | None]:
    """Nearest-rank percentiles of the one-column select ``values`` (None when empty).

    Ranked in the database with window functions (both stores have them;
    PostgreSQL's ``percentile_cont`` has no SQLite twin): the values never
    travel to Python, which matters over a million messages. The p-th
    percentile is the value of rank ``ceil(n * p / 100)``: the smallest value
    whose rank r has ``100 r >= n p`` (no division, whose rounding differs
    between dialects and SQLAlchemy versions).
    """
    inner = values.subquery()
    value = next(iter(inner.c))
    ranked = select(
        value.label("v"),
        func.row_number().over(order_by=value).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    picks: list[ColumnElement[Any]] = [
        func.min(case((ranked.c.rn * 100 >= ranked.c.n * p, ranked.c.v))) for p in points
    ]
    row = connection.execute(select(*picks)).one()
    # Milliseconds: SQLite's julianday arithmetic leaves float noise below them.
    return [None if v is None else round(float(v), 3) for v in row]
