"""End-to-end latency and throughput of the gateway, against a bare Rasa REST turn.

    .venv/bin/python -m benchmarks.gateway_latency [--messages 200] [--customers 50]

Starts the action server and the Rasa server with the trained model (as
``make run`` does), the gateway in its own process (real python-telegram-bot
client, SQLite store), and a fake Telegram Bot API on loopback in this one.

* **Rasa**: a POST to Rasa's own REST channel, until its answer arrives.
* **Gateway**: a customer message appears at the fake Telegram API; the
  gateway polls it, stores it, asks the assistant, queues the reply and sends
  it; the clock stops when the reply arrives at the fake API.

Each message is a fresh conversation in both paths (so both pay Rasa's session
start), and each produces one reply. One at a time means one at a time: before
each turn the benchmark waits a moment, so that what a path still does after
its answer (the gateway records the send) is not timed as part of the next
turn of the other path. Then ``--customers`` customers write at the same time,
each sending four messages one after the other.

The fake Telegram API answers each customer's wait for a reply from an index
per chat: the plain test fake wakes every waiting customer on every message
and has each scan all messages sent so far, which with 50 customers costs
milliseconds of CPU per reply on the cores both paths share, on the gateway's
path only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from actions.airline import db as airline_db
from actions.airline.clock import utc_now
from actions.airline.seed import ensure_seeded
from bot.brand import load_brand
from bot.launch import Service, assistant_services, write_endpoints
from bot.model import MODEL_PATH
from tests.fakes.telegram import FakeTelegram

TOKEN = "42:benchmark-token-abcdefghijklmnop"
# Pause before each turn when timing one at a time (see the module docstring).
SETTLE_SECONDS = 0.05
MESSAGES = [
    "hi there",
    "can I bring my dog in the cabin?",
    "is NW405 on time today?",
    "the crew on my flight were amazing, thank you!",
    "are you a bot?",
    "how much is a checked bag?",
    "when does online check-in open?",
    "do you have wifi on board",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, where /proc tells."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, the 14th and 15th fields (the 12th and 13th after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_turn(before: float | None, after: float | None, turns: int) -> str:
    if before is None or after is None:
        return "n/a"
    return f"{(after - before) / turns * 1000:.1f} ms"


def summary(name: str, latencies: list[float], seconds: float | None = None) -> str:
    ms = [v * 1000 for v in latencies]
    line = (
        f"| {name} | {len(ms)} | {statistics.median(ms):.0f} | {percentile(ms, 0.95):.0f} | "
        f"{max(ms):.0f} |"
    )
    if seconds is not None:
        line += f" {len(ms) / seconds:.1f} |"
    else:
        line += " |"
    return line


def seeded_airline(workdir: Path) -> str:
    """A freshly seeded airline database in ``workdir`` (``make seed`` gives ``make run`` one)."""
    url = f"sqlite:///{workdir / 'airline.db'}"
    engine = airline_db.make_engine(url)
    ensure_seeded(engine, utc_now().date())
    engine.dispose()
    return url


async def start_servers(workdir: Path, model: Path = MODEL_PATH) -> tuple[list[Service], str]:
    env = {"AIRLINE_DATABASE_URL": seeded_airline(workdir)}
    endpoints = write_endpoints(5155, target=workdir / "endpoints.yml")
    services = assistant_services(5105, 5155, endpoints, model=model, env=env, prefix="bench-")
    for service in services:
        service.start()
    for service in services:
        await asyncio.to_thread(service.wait_ready)
    return services, "http://127.0.0.1:5105"


async def rasa_turn(http: aiohttp.ClientSession, rasa: str, sender: str, text: str) -> float:
    started = time.perf_counter()
    async with http.post(
        f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}
    ) as r:
        answer = await r.json()
    assert answer, f"Rasa answered nothing to {text!r}"
    return time.perf_counter() - started


class IndexedTelegram(FakeTelegram):
    """The test fake, with each chat's replies indexed and its waiter woken alone."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._by_chat: dict[int, list[dict[str, Any]]] = {}
        self._arrived: dict[int, asyncio.Event] = {}
        self._indexed = 0

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._api_sendMessage(params)
        while self._indexed < len(self.sent):
            record = self.sent[self._indexed]
            self._indexed += 1
            if record.get("reply_markup"):
                # A satisfaction question after "thank you" (bot/conversation/csat.py),
                # sent behind the reply: not the reply a turn is timed to.
                continue
            chat_id = int(record["chat_id"])
            self._by_chat.setdefault(chat_id, []).append(record)
            if chat_id in self._arrived:
                self._arrived[chat_id].set()
        return response

    def replies_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self._by_chat.get(chat_id, [])]

    async def wait_for_reply(self, chat_id: int, count: int, timeout: float) -> dict[str, Any]:
        async def arrival() -> dict[str, Any]:
            while len(self._by_chat.get(chat_id, [])) < count:
                event = self._arrived.setdefault(chat_id, asyncio.Event())
                await event.wait()
                event.clear()
            return self._by_chat[chat_id][count - 1]

        return await asyncio.wait_for(arrival(), timeout)


async def serve_fake_telegram() -> tuple[IndexedTelegram, web.AppRunner, str]:
    """The fake Telegram Bot API on a free loopback port: the fake, its runner (whose
    ``cleanup()`` stops it) and the URL the gateway takes as ``TELEGRAM_API_URL``."""
    fake = IndexedTelegram(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    return fake, runner, api


class TelegramClock:
    """Times from a message appearing at the fake API to the bot's first reply there."""

    def __init__(self, fake: IndexedTelegram) -> None:
        self.fake = fake
        # A turn Rasa failed is handed to a person at once: fast, and not a turn.
        self.handover = load_brand().message("bot_unavailable")

    async def turn(self, chat_id: int, text: str, timeout: float = 120) -> float:
        before = len(self.fake.replies_to(chat_id))
        started = time.monotonic()
        await self.fake.say(text, chat_id=chat_id, user_id=chat_id)
        reply = await self.fake.wait_for_reply(chat_id, before + 1, timeout=timeout)
        assert reply["text"] != self.handover, f"the assistant failed {text!r}: handed over"
        return float(reply["at"]) - started


def start_gateway(workdir: Path, api: str, rasa: str) -> subprocess.Popen[bytes]:
    """The gateway in its own process, as in production."""
    env = {
        **os.environ,
        "CARE_DATABASE_URL": f"sqlite:///{workdir / 'care.db'}",
        "RASA_URL": rasa,
        "ACTION_SERVER_URL": "http://127.0.0.1:5155",
        "GATEWAY_PORT": "8105",
        "GATEWAY_WORKER_ID": "gw-bench",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api,
    }
    with (workdir / "gateway.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


async def run(messages: int, customers: int, model: Path = MODEL_PATH) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    services, rasa = await start_servers(workdir, model)
    fake, runner, api = await serve_fake_telegram()
    gateway = start_gateway(workdir, api, rasa)
    await asyncio.to_thread(
        Service("gateway", [], "http://127.0.0.1:8105/healthz", process=gateway).wait_ready
    )
    clock = TelegramClock(fake)
    try:
        async with aiohttp.ClientSession() as http:
            for text in MESSAGES * 3:  # warm-up of both paths
                await rasa_turn(http, rasa, uuid.uuid4().hex, text)
                await clock.turn(10_000 + len(fake.sent), text)
            rasa_seq, gw_seq = [], []
            cpu_start = cpu_seconds(gateway.pid)
            for n in range(messages):
                text = MESSAGES[n % len(MESSAGES)]
                await asyncio.sleep(SETTLE_SECONDS)
                rasa_seq.append(await rasa_turn(http, rasa, uuid.uuid4().hex, text))
                await asyncio.sleep(SETTLE_SECONDS)
                gw_seq.append(await clock.turn(20_000 + n, text))

            async def rasa_customer(index: int) -> list[float]:
                sender = uuid.uuid4().hex
                return [
                    await rasa_turn(http, rasa, sender, MESSAGES[(index + k) % len(MESSAGES)])
                    for k in range(4)
                ]

            async def gw_customer(index: int) -> list[float]:
                return [
                    await clock.turn(30_000 + index, MESSAGES[(index + k) % len(MESSAGES)])
                    for k in range(4)
                ]

            cpu_seq = cpu_seconds(gateway.pid)
            started = time.perf_counter()
            rasa_load = [
                t
                for turns in await asyncio.gather(*(rasa_customer(i) for i in range(customers)))
                for t in turns
            ]
            rasa_seconds = time.perf_counter() - started
            started = time.perf_counter()
            gw_load = [
                t
                for turns in await asyncio.gather(*(gw_customer(i) for i in range(customers)))
                for t in turns
            ]
            gw_seconds = time.perf_counter() - started
            cpu_load = cpu_seconds(gateway.pid)
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        await runner.cleanup()
        for service in services:
            service.stop()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{datetime.date.today()}, {os.cpu_count()} cores, load average at the end {load}\n")
    print("| path | turns | p50 ms | p95 ms | max ms | turns/s |")
    print("|---|---|---|---|---|---|")
    print(summary("Rasa REST, one at a time", rasa_seq))
    print(summary("gateway (Telegram), one at a time", gw_seq))
    print(summary(f"Rasa REST, {customers} customers at once", rasa_load, rasa_seconds))
    print(summary(f"gateway (Telegram), {customers} customers at once", gw_load, gw_seconds))
    p50_gw, p50_rasa = statistics.median(gw_seq) * 1000, statistics.median(rasa_seq) * 1000
    p95_gw, p95_rasa = percentile(gw_seq, 0.95) * 1000, percentile(rasa_seq, 0.95) * 1000
    gw_rate, rasa_rate = len(gw_load) / gw_seconds, len(rasa_load) / rasa_seconds
    print(
        f"\nGateway overhead, one at a time: p50 {p50_gw - p50_rasa:+.1f} ms "
        f"({p50_gw / p50_rasa - 1:+.1%}), p95 {p95_gw - p95_rasa:+.1f} ms "
        f"({p95_gw / p95_rasa - 1:+.1%}); with {customers} customers "
        f"{gw_rate:.1f} vs {rasa_rate:.1f} turns/s ({gw_rate / rasa_rate - 1:+.1%})"
    )
    # Each gateway turn follows a Rasa REST turn of the same text: the median of
    # the pairs' differences is less noisy than the difference of the medians.
    paired = statistics.median(g - r for g, r in zip(gw_seq, rasa_seq, strict=True)) * 1000
    print(f"Paired (same text, one after the other): the gateway adds {paired:+.1f} ms (median)")
    print(
        f"Gateway process CPU per turn: {cpu_per_turn(cpu_start, cpu_seq, len(gw_seq))} "
        f"one at a time, {cpu_per_turn(cpu_seq, cpu_load, len(gw_load))} with {customers} "
        "customers (the Rasa REST turns in between cost it nothing but its idle polling)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--model", type=Path, default=MODEL_PATH, help="another trained model")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"No trained model at {args.model}: run `make model` first")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    asyncio.run(run(args.messages, args.customers, args.model))


if __name__ == "__main__":
    main()
