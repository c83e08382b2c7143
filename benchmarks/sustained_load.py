"""Sustained load: the highest steady rate of customer messages the stack answers in time.

    .venv/bin/python -m benchmarks.sustained_load [--rates 0.5 1 2 3 4 6 8 10] [--seconds 60]

A burst (benchmarks/gateway_latency.py) says how long 50 customers wait at
once; a care team plans on a rate. This sends messages at rising rates
through the whole stack: a customer message appears at a fake Telegram Bot
API, the gateway (its own process, default settings) polls it, stores it,
asks Rasa (with the action server) and sends the reply back to the fake API,
where the clock stops.

Arrivals are open-loop: each step draws Poisson arrivals (exponential gaps)
at its rate for ``--seconds`` and sends each at its time whether or not the
earlier ones were answered, as customers do; each message starts a
conversation of its own. A step ends when every message of it was answered
(or ``--timeout`` passed); then the next, higher rate. Reported per step:
messages, p50, p95 and the longest reply time, and the rate achieved; and
the highest rate whose p95 stays under ``--slo-ms`` (300 ms). Steps stop
rising after the first one whose p95 is over ten times that.

Everything runs on loopback and stops by itself (bounded steps, a timeout on
every reply).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gateway_latency import (
    MESSAGES,
    TelegramClock,
    percentile,
    serve_fake_telegram,
    start_gateway,
    start_servers,
)
from bot.launch import Service
from bot.model import MODEL_PATH

SLO_MS = 300.0
# After a step this far over the objective, higher rates only queue up more.
GIVE_UP_FACTOR = 10.0


@dataclass(frozen=True)
class Step:
    """One rate's result."""

    rate: float  # offered, messages per second
    sent: int
    answered: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    achieved: float  # answered per second, over the step's whole duration

    def within(self, slo_ms: float) -> bool:
        """Every message answered and the p95 under the objective."""
        return self.answered == self.sent and self.p95_ms < slo_ms


def arrivals(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Poisson arrival times in ``[0, seconds)`` at ``rate`` per second."""
    times = []
    at = rng.expovariate(rate)
    while at < seconds:
        times.append(at)
        at += rng.expovariate(rate)
    return times


async def run_step(
    clock: TelegramClock,
    rate: float,
    seconds: float,
    timeout: float,
    rng: random.Random,
    first_chat: int,
) -> Step:
    """Sends Poisson arrivals at ``rate`` for ``seconds``; waits for every answer."""
    schedule = arrivals(rate, seconds, rng)
    started = time.monotonic()

    async def customer(index: int, at: float) -> float | None:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        try:
            return await clock.turn(first_chat + index, MESSAGES[index % len(MESSAGES)], timeout)
        except asyncio.TimeoutError:
            return None

    results = await asyncio.gather(*(customer(i, at) for i, at in enumerate(schedule)))
    elapsed = time.monotonic() - started
    ms = [1000 * r for r in results if r is not None]
    return Step(
        rate=rate,
        sent=len(schedule),
        answered=len(ms),
        p50_ms=statistics.median(ms) if ms else float("inf"),
        p95_ms=percentile(ms, 0.95) if ms else float("inf"),
        max_ms=max(ms) if ms else float("inf"),
        achieved=len(ms) / elapsed if elapsed else 0.0,
    )


def capacity(steps: list[Step], slo_ms: float) -> float | None:
    """The highest rate whose step met the objective (None: not even the first)."""
    met = [s.rate for s in steps if s.within(slo_ms)]
    return max(met) if met else None


def table(steps: list[Step], slo_ms: float) -> str:
    """The steps as Markdown."""
    lines = [
        "| offered msg/s | messages | answered | p50 ms | p95 ms | max ms | answered msg/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        mark = "" if s.within(slo_ms) else " (over)"
        lines.append(
            f"| {s.rate:g}{mark} | {s.sent} | {s.answered} | {s.p50_ms:.0f} | {s.p95_ms:.0f} "
            f"| {s.max_ms:.0f} | {s.achieved:.1f} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[Step]:
    """Starts the stack and the fake platform, runs the steps, stops everything."""
    workdir = Path(tempfile.mkdtemp(prefix="sustained-load-"))
    services, rasa = await start_servers(workdir, args.model)
    fake, runner, api = await serve_fake_telegram()
    gateway = start_gateway(workdir, api, rasa)
    steps: list[Step] = []
    try:
        await asyncio.to_thread(
            Service("gateway", [], "http://127.0.0.1:8105/healthz", process=gateway).wait_ready
        )
        clock = TelegramClock(fake)
        for index, text in enumerate(MESSAGES * 2):  # warm-up
            await clock.turn(1_000 + index, text)
        rng = random.Random(args.seed)
        for number, rate in enumerate(args.rates):
            step = await run_step(
                clock, rate, args.seconds, args.timeout, rng, 100_000 * (number + 1)
            )
            steps.append(step)
            print(table([step], args.slo_ms).splitlines()[-1], flush=True)
            if step.p95_ms > GIVE_UP_FACTOR * args.slo_ms:
                break
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        await runner.cleanup()
        for service in services:
            service.stop()
    return steps


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 1, 2, 3, 4, 6, 8, 10])
    parser.add_argument("--seconds", type=float, default=60.0, help="of arrivals per rate")
    parser.add_argument("--timeout", type=float, default=60.0, help="for one reply")
    parser.add_argument("--slo-ms", type=float, default=SLO_MS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    if not args.model.exists():
        raise SystemExit(f"No trained model at {args.model}: run `make model` first")
    if any(rate <= 0 for rate in args.rates) or args.rates != sorted(args.rates):
        raise SystemExit("--rates: positive and rising")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    steps = asyncio.run(run(args))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{datetime.date.today()}, {os.cpu_count()} cores, load average at the end {load}; "
        f"{args.seconds:g} s of Poisson arrivals per rate, seed {args.seed}\n"
    )
    print(table(steps, args.slo_ms))
    best = capacity(steps, args.slo_ms)
    print(
        f"\nHighest rate with p95 under {args.slo_ms:.0f} ms: "
        + (f"{best:g} messages/s" if best is not None else "none of the rates tried")
    )


if __name__ == "__main__":
    main()
