"""The sustained-load benchmark's arithmetic: arrivals, steps, capacity (the servers
it starts are those of benchmarks/gateway_latency.py; the full run is not part of CI)."""

from __future__ import annotations

import itertools
import random
import statistics

from benchmarks.sustained_load import Step, arrivals, capacity, table


def test_arrivals_are_poisson_at_the_asked_rate() -> None:
    times = arrivals(rate=5.0, seconds=2_000.0, rng=random.Random(7))
    assert times == sorted(times) and times[0] > 0 and times[-1] < 2_000.0
    assert abs(len(times) / 2_000.0 - 5.0) < 0.2
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Exponential gaps: mean and standard deviation both 1 / rate.
    assert abs(statistics.mean(gaps) - 0.2) < 0.01
    assert abs(statistics.stdev(gaps) - 0.2) < 0.02
    assert arrivals(5.0, 60.0, random.Random(7)) == arrivals(5.0, 60.0, random.Random(7))


def step(rate: float, p95: float, answered: int = 10) -> Step:
    return Step(rate, 10, answered, p95 / 2, p95, p95 * 2, rate)


def test_capacity_is_the_highest_rate_within_the_objective() -> None:
    steps = [step(1, 120), step(2, 180), step(4, 290), step(6, 900), step(8, 4000)]
    assert capacity(steps, 300) == 4
    # A step that lost a message does not count, whatever its p95.
    assert capacity([step(1, 120), step(2, 150, answered=9)], 300) == 1
    assert capacity([step(1, 350)], 300) is None
    written = table(steps, 300)
    assert "| 4 | 10 | 10 | 145 | 290 | 580 | 4.0 |" in written
    assert "| 6 (over) |" in written
