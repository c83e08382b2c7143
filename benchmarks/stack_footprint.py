"""The whole stack's footprint: time to the first answer, each process's memory, training time.

    .venv/bin/python -m benchmarks.stack_footprint [--turns 1000] [--customers 4]
        [--model PATH] [--out DIR] [--train [--train-config config.yml]]

Issue #19's figures that the latency benchmarks do not give:

1. **The first answer.** A customer's message already waits at a fake Telegram
   Bot API (on loopback, in this process) when the three processes of ``make
   run`` start, as ``bot/run.py`` starts them (:func:`bot.run.services`: the
   action server, Rasa with the model, the gateway with its default settings),
   the fake's URL given to the gateway instead of Telegram's. Timed from the
   moment the first process is started to the moment the reply reaches the
   fake API; and for each service, when it answered the URL ``bot.run`` waits
   for (``Service.ready_url``, polled every half second). What ``make run``
   does before (``make setup model seed``: checks, the demo data) is not counted.
2. **The turns.** ``--turns`` messages through the gateway, ``--customers`` at
   a time: a customer writes one message and waits for the reply, then the next
   customer takes its place. Each message is a conversation of its own, as in
   the other gateway benchmarks: its reply is then unambiguous (a turn may send
   two messages), and a thousand trackers in Rasa's in-memory store hold more
   than a few customers' longer conversations would. Texts: the held-out test
   set's, shuffled (``--seed``) and repeated. A message not answered within
   ``--timeout`` seconds is counted, and the command then exits 1.
3. **Memory** of every process of each service (all of its session: a service
   starts in a session of its own, bot/launch.py, and the processes it forks
   stay in it) after the first answer and after the turns: RSS, PSS (each
   shared page divided among the processes that share it), USS (pages of its
   own), the peak RSS; and the whole stack's sums. The PSS sum is what the
   stack costs the machine; the RSS sum counts shared libraries once per process.
4. ``--train``: after the stack stopped, ``rasa train`` of the whole assistant
   from nothing (a fresh ``RASA_CACHE_DIRECTORY`` and out dir, both removed
   after), with the encoder's threads as ``make model`` sets them. The ONNX
   graph the encoder builds once per environment (docs/benchmarks.md) is not
   rebuilt.

``--out DIR`` writes ``footprint.md`` (the tables printed at the end) and
``footprint.json``. Logs and databases stay in a temporary directory, named at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.gateway_latency import (
    TOKEN,
    TelegramClock,
    percentile,
    seeded_airline,
    serve_fake_telegram,
)
from bot.brand import PROJECT_ROOT
from bot.evaluation import TEST_FILE
from bot.launch import START_SECONDS, Service, write_endpoints
from bot.model import MODEL_PATH, training_env
from bot.review.nludata import NluFile
from bot.review.redaction import plain_text
from bot.run import services

# Memory is read from /proc (status and smaps_rollup): psutil is not among our
# dependencies (requirements.lock), and its memory_full_info reads the same file.
KB_PER_MB = 1024.0
FIGURES = ("rss_mb", "pss_mb", "uss_mb", "peak_rss_mb")
FIRST_CHAT = 1
TURN_CHATS = 1_000_000  # the turns' chats: one each, from here
# Variables of the shell that would connect the gateway to real platforms or a desk:
# blanked (an empty value is unset, bot/settings.py), as on a fresh checkout.
PLATFORM_PREFIXES = ("TELEGRAM_", "TWITTER_", "SLACK_", "DESK_")


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory, MB (MiB)."""

    pid: int
    command: str
    rss_mb: float
    pss_mb: float
    uss_mb: float
    peak_rss_mb: float


@dataclass(frozen=True)
class ServiceMemory:
    """A service's processes (its session) at one moment."""

    name: str
    processes: tuple[ProcessMemory, ...]

    def sum(self, figure: str) -> float:
        """One of :data:`FIGURES` over the processes (the peaks, each process's own at its
        own time: an upper bound of the service's)."""
        return float(sum(getattr(p, figure) for p in self.processes))


def _kb_fields(path: Path) -> dict[str, int]:
    """The ``Name: N kB`` lines of a /proc file."""
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def process_memory(pid: int) -> ProcessMemory | None:
    """A process's memory, None when it is gone (or a zombie, which has none)."""
    proc = Path(f"/proc/{pid}")
    try:
        status = _kb_fields(proc / "status")
        rollup = _kb_fields(proc / "smaps_rollup")
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return None
    if "Rss" not in rollup:
        return None
    return ProcessMemory(
        pid=pid,
        command=command.strip()[:160],
        rss_mb=rollup["Rss"] / KB_PER_MB,
        pss_mb=rollup["Pss"] / KB_PER_MB,
        # psutil's USS: the private pages, clean or dirty.
        uss_mb=(rollup["Private_Clean"] + rollup["Private_Dirty"]) / KB_PER_MB,
        peak_rss_mb=status.get("VmHWM", 0) / KB_PER_MB,
    )


def session_members(session: int) -> list[int]:
    """Every process in ``session`` (the id of the process that started it)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command's name (in parentheses): state, ppid, pgrp, session.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return sorted(members)


def service_memory(name: str, leader: int) -> ServiceMemory:
    """The memory of every process in the session ``leader`` started."""
    found = (process_memory(pid) for pid in session_members(leader))
    return ServiceMemory(name, tuple(p for p in found if p is not None))


def stack_memory(started: list[Service]) -> list[ServiceMemory]:
    """Each service's memory now."""
    return [service_memory(s.name, s.process.pid) for s in started if s.process is not None]


@dataclass
class Footprint:
    """What one run measured."""

    model: str
    started_at: str
    cores: int
    load_before: str
    load_after: str = ""
    up_seconds: dict[str, float] = field(default_factory=dict)
    first_answer_seconds: float = 0.0
    turns: int = 0
    customers: int = 0
    answered: int = 0
    turn_p50_ms: float = 0.0
    turn_p95_ms: float = 0.0
    turn_max_ms: float = 0.0
    turns_per_second: float = 0.0
    memory_started: list[ServiceMemory] = field(default_factory=list)
    memory_after: list[ServiceMemory] = field(default_factory=list)
    train_seconds: float | None = None


def stack_totals(memory: list[ServiceMemory]) -> dict[str, float]:
    """The whole stack's sums, MB."""
    return {figure: sum(m.sum(figure) for m in memory) for figure in FIGURES}


def to_json(f: Footprint) -> dict[str, object]:
    """The figures as JSON: each service's sums and processes, the whole stack's sums."""

    def snapshot(memory: list[ServiceMemory]) -> dict[str, object]:
        return {
            "services": [
                {"name": m.name, **{x: m.sum(x) for x in FIGURES}, **asdict(m)} for m in memory
            ],
            "stack": stack_totals(memory),
        }

    return asdict(f) | {
        "memory_started": snapshot(f.memory_started),
        "memory_after": snapshot(f.memory_after),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, kept beside every figure."""
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def table(f: Footprint) -> str:
    """The figures as Markdown."""
    lines = [
        f"{f.started_at}, {f.cores} cores, load average {f.load_before} → {f.load_after}; "
        f"model {f.model}",
        "",
        "| start-up (`make run`'s processes) | seconds after the start |",
        "|---|---|",
        *(f"| {name} up | {seconds:.1f} |" for name, seconds in f.up_seconds.items()),
        f"| **first answer** at the (fake) Telegram API | **{f.first_answer_seconds:.1f}** |",
        "",
        "| turns | customers at a time | answered | p50 ms | p95 ms | max ms | turns/s |",
        "|---|---|---|---|---|---|---|",
        f"| {f.turns} | {f.customers} | {f.answered} | {f.turn_p50_ms:.0f} | "
        f"{f.turn_p95_ms:.0f} | {f.turn_max_ms:.0f} | {f.turns_per_second:.1f} |",
        "",
        f"| process | processes | RSS MB, started / after {f.turns} turns | PSS MB, started "
        f"/ after | USS MB after | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    after = {m.name: m for m in f.memory_after}
    for began in f.memory_started:
        end = after.get(began.name, ServiceMemory(began.name, ()))
        lines.append(
            f"| {began.name} | {len(end.processes)} | {began.sum('rss_mb'):,.0f} / "
            f"{end.sum('rss_mb'):,.0f} | {began.sum('pss_mb'):,.0f} / {end.sum('pss_mb'):,.0f} "
            f"| {end.sum('uss_mb'):,.0f} | {end.sum('peak_rss_mb'):,.0f} |"
        )
    first, last = stack_totals(f.memory_started), stack_totals(f.memory_after)
    lines.append(
        f"| **whole stack** | {sum(len(m.processes) for m in f.memory_after)} | "
        f"{first['rss_mb']:,.0f} / {last['rss_mb']:,.0f} | "
        f"**{first['pss_mb']:,.0f} / {last['pss_mb']:,.0f}** | {last['uss_mb']:,.0f} | |"
    )
    if f.train_seconds is not None:
        lines += ["", f"Training (`rasa train`, empty cache): {f.train_seconds:.0f} s"]
    return "\n".join(lines)


def customer_texts(seed: int) -> list[str]:
    """The held-out test set's messages without their entity markup, shuffled."""
    texts = [plain_text(example.text) for example in NluFile(TEST_FILE).examples()]
    random.Random(seed).shuffle(texts)
    return texts


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nobody listens on now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stack(workdir: Path, telegram_api: str, model: Path) -> list[Service]:
    """What ``python -m bot.run`` starts, on free ports, with its logs and databases in
    ``workdir``, a freshly seeded airline, and Telegram at ``telegram_api``."""
    rasa, actions, gateway, metrics = free_ports(4)
    endpoints = write_endpoints(actions, target=workdir / "endpoints.yml")
    started = services(rasa, actions, gateway, endpoints, model)
    airline = seeded_airline(workdir)
    for service in started:
        service.log_dir = workdir
        service.env["AIRLINE_DATABASE_URL"] = airline
    started[-1].env.update(
        {key: "" for key in os.environ if key.startswith(PLATFORM_PREFIXES)}
        | {
            "GATEWAY_DOTENV": "",
            "CARE_DATABASE_URL": f"sqlite:///{workdir / 'care.db'}",
            "GATEWAY_METRICS_PORT": str(metrics),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram_api,
        }
    )
    return started


async def run_turns(
    clock: TelegramClock, texts: list[str], turns: int, customers: int, timeout: float
) -> tuple[list[float], float]:
    """``turns`` messages, ``customers`` at a time, each in a chat of its own; the reply
    times (seconds) of those answered, and the seconds the turns took."""
    numbers = iter(range(turns))  # shared: each customer takes the next message
    replies: list[float] = []

    async def customer() -> None:
        for n in numbers:
            with contextlib.suppress(asyncio.TimeoutError):  # counted: not among replies
                replies.append(await clock.turn(TURN_CHATS + n, texts[n % len(texts)], timeout))

    started = time.monotonic()
    await asyncio.gather(*(customer() for _ in range(customers)))
    return replies, time.monotonic() - started


async def measure(args: argparse.Namespace, workdir: Path) -> Footprint:
    """Starts the stack with a message waiting, runs the turns, reads the memory, stops."""
    figures = Footprint(
        model=str(args.model),
        started_at=time.strftime("%Y-%m-%d %H:%M"),
        cores=os.cpu_count() or 1,
        load_before=load_average(),
        turns=args.turns,
        customers=args.customers,
    )
    texts = customer_texts(args.seed)
    fake, runner, api = await serve_fake_telegram()
    clock = TelegramClock(fake)
    started = stack(workdir, api, args.model)
    try:
        await fake.say(texts[-1], chat_id=FIRST_CHAT, user_id=FIRST_CHAT)
        start = time.monotonic()
        for service in started:  # in bot.run's order; bot.run then waits for each
            service.start()

        async def up(service: Service) -> None:
            await asyncio.to_thread(service.wait_ready)
            figures.up_seconds[service.name] = time.monotonic() - start

        await asyncio.gather(*(up(service) for service in started))
        reply = await fake.wait_for_reply(FIRST_CHAT, 1, timeout=START_SECONDS)
        if reply["text"] == clock.handover:
            raise SystemExit(f"the first message was handed over: see the logs in {workdir}")
        figures.first_answer_seconds = float(reply["at"]) - start
        figures.memory_started = stack_memory(started)
        replies, seconds = await run_turns(clock, texts, args.turns, args.customers, args.timeout)
        figures.memory_after = stack_memory(started)
    finally:
        for service in started:
            service.stop()
        await runner.cleanup()
    ms = [1000 * r for r in replies] or [float("nan")]
    figures.answered = len(replies)
    figures.turn_p50_ms, figures.turn_p95_ms = statistics.median(ms), percentile(ms, 0.95)
    figures.turn_max_ms = max(ms)
    figures.turns_per_second = len(replies) / seconds if seconds else 0.0
    return figures


def train_seconds(config: Path) -> float:
    """``rasa train`` of the whole assistant with ``config`` from nothing, timed."""
    with tempfile.TemporaryDirectory(prefix="footprint-train-") as workdir:
        command = [sys.executable, "-m", "rasa", "train", "--config", str(config)]
        command += ["--out", str(Path(workdir) / "models"), "--fixed-model-name", "footprint"]
        env = {**training_env(), "RASA_CACHE_DIRECTORY": str(Path(workdir) / "cache")}
        started = time.monotonic()
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=4, help="at a time")
    parser.add_argument("--timeout", type=float, default=60.0, help="for one reply, seconds")
    parser.add_argument("--seed", type=int, default=1, help="of the texts' order")
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--out", type=Path, help="writes footprint.md and footprint.json")
    parser.add_argument("--train", action="store_true", help="and time `rasa train`")
    parser.add_argument("--train-config", type=Path, default=PROJECT_ROOT / "config.yml")
    args = parser.parse_args(argv)
    if not args.model.exists():
        raise SystemExit(f"No trained model at {args.model}: run `make model` first")
    if args.turns < 1 or args.customers < 1:
        raise SystemExit("--turns and --customers: at least 1")
    args.model = args.model.resolve()
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    workdir = Path(tempfile.mkdtemp(prefix="stack-footprint-"))
    figures = asyncio.run(measure(args, workdir))
    if args.train:
        figures.train_seconds = train_seconds(args.train_config)
    figures.load_after = load_average()
    written = table(figures)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "footprint.md").write_text(written + "\n", encoding="utf-8")
        (args.out / "footprint.json").write_text(
            json.dumps(to_json(figures), indent=2) + "\n", encoding="utf-8"
        )
    print(f"\n{written}\n\nLogs and databases: {workdir}")
    if figures.answered < figures.turns:
        raise SystemExit(f"{figures.turns - figures.answered} of {figures.turns} not answered")


if __name__ == "__main__":
    main()
