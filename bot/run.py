"""Starts everything locally: action server, Rasa server, and the gateway.

``python -m bot.run`` (what ``make run`` calls after set-up, training and
seeding) starts the processes, waits until each answers, and prints the web
chat's address; the channels configured in ``.env`` (Telegram, Twitter/X,
Slack) run too. ``--terminal`` chats in the terminal instead, showing what the
bot understood. Ctrl-C stops everything, and so do SIGTERM (systemd,
``docker stop``) and SIGHUP (a closed terminal): every child is gone within
:data:`STOP_SECONDS`.

``--rasa-port``, ``--actions-port`` and ``--gateway-port`` move the three
servers. Rasa finds the action server through its endpoints file, which names
a port: Rasa gets a copy of ``endpoints.yml`` with the action server's URL on
the chosen port (``var/run/endpoints.yml``), so the project's own file stays
as it is for ``rasa run`` by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH, rasa_env
from bot.settings import read_dotenv

# What systemd or `docker stop` send (SIGTERM), a closed terminal (SIGHUP), Ctrl-C (SIGINT).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Every child is gone this long after a stop signal: asked politely first (the
# gateway gives in-flight requests 5 s, bot/gateway.py), then killed.
STOP_SECONDS = 10.0
POLITE_SECONDS = 7.0
# How long a service may take to answer (Rasa loading its model, on a slow machine).
# The gateway holds customers' messages for as long (RASA_STARTUP_SECONDS, unless
# set): bot.run stops if Rasa is not up by then, so no message waits for nothing.
START_SECONDS = 240.0
LOG_DIR = PROJECT_ROOT / "var" / "log"
RUN_DIR = PROJECT_ROOT / "var" / "run"
ENDPOINTS = PROJECT_ROOT / "endpoints.yml"


@dataclass
class Service:
    """A process to start, and the URL that answers once it is ready."""

    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env={**rasa_env(), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited (code {self.process.returncode}); "
                    f"see {LOG_DIR / (self.name + '.log')}"
                )
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise SystemExit(f"{self.name} did not start within {timeout:.0f} s")

    def signal_group(self, signum: int) -> None:
        """Sends ``signum`` to the service's process group (it runs in a session of its own,
        so a terminal's signals never reach it: bot.run passes them on)."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


class Stop(Exception):
    """A stop signal arrived: leave whatever bot.run is doing and stop every service."""


class StopSignals:
    """The handler of :data:`STOP_SIGNALS`: raises :class:`Stop` in the main thread, except
    while a child is being started. A stop raised between the fork and the moment
    its ``Popen`` is known would leave that child running with no one to stop it:
    there the signal waits until the child is on the list."""

    def __init__(self) -> None:
        self._holding = False
        self._pending: int | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self._holding:
            self._pending = signum
            return
        raise Stop(signal.Signals(signum).name)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Holds stop signals back for the block, then acts on one that came meanwhile."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._pending is not None:
                raise Stop(signal.Signals(self._pending).name)


def stop_all(started: list[Service], polite: float = POLITE_SECONDS) -> None:
    """Asks every service to stop at once, kills what still runs after ``polite`` seconds.

    All at once, not one after the other: three services each allowed their
    full grace in turn would outlast what systemd or Docker wait before they
    kill bot.run itself, and its children with no one left to stop them.
    Further stop signals are ignored meanwhile, so a second Ctrl-C cannot cut
    the clean-up short.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for service in started:
        service.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + polite
    for service in started:
        if service.process is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for service in started:
        service.signal_group(signal.SIGKILL)
        if service.process is not None:
            service.process.wait()


def write_endpoints(
    actions_port: int, source: Path = ENDPOINTS, target: Path = RUN_DIR / "endpoints.yml"
) -> Path:
    """A copy of ``source`` whose action endpoint is the action server on ``actions_port``."""
    endpoints = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    action = endpoints.get("action_endpoint") or {}
    endpoints["action_endpoint"] = {**action, "url": f"http://127.0.0.1:{actions_port}/webhook"}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Written by bot/run.py from endpoints.yml for this run; changes here are lost.\n"
        + yaml.safe_dump(endpoints, sort_keys=False),
        encoding="utf-8",
    )
    return target


def startup_bound(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``RASA_STARTUP_SECONDS`` for the gateway: :data:`START_SECONDS`, unless the
    environment or the gateway's .env file sets it."""
    dotenv = environ.get("GATEWAY_DOTENV", str(PROJECT_ROOT / ".env"))
    configured = {**(read_dotenv(Path(dotenv)) if dotenv.strip() else {}), **environ}
    if configured.get("RASA_STARTUP_SECONDS", "").strip():
        return {}
    return {"RASA_STARTUP_SECONDS": str(START_SECONDS)}


def services(
    rasa_port: int, actions_port: int, gateway_port: int, endpoints: Path, model: Path = MODEL_PATH
) -> list[Service]:
    """The action server, the Rasa server with the trained model (``endpoints`` names the
    action server, see :func:`write_endpoints`), and the gateway."""
    python = sys.executable
    return [
        Service(
            "actions",
            [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
            f"http://127.0.0.1:{actions_port}/health",
        ),
        Service(
            "rasa",
            [
                python,
                "-m",
                "rasa",
                "run",
                "--model",
                str(model),
                "--port",
                str(rasa_port),
                "--credentials",
                "credentials.yml",
                "--endpoints",
                str(endpoints),
            ],
            f"http://127.0.0.1:{rasa_port}/webhooks/care/",
        ),
        Service(
            "gateway",
            [python, "-m", "bot.gateway"],
            f"http://127.0.0.1:{gateway_port}/healthz",
            env={
                "GATEWAY_PORT": str(gateway_port),
                "RASA_URL": f"http://127.0.0.1:{rasa_port}",
                "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}",
                **startup_bound(),
            },
        ),
    ]


def chat(rasa_port: int) -> None:
    """A terminal chat through the gateway's channel, showing what the bot understood."""
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{rasa_port}/webhooks/care/webhook"
    print("Talk to the bot (Ctrl-D to quit). Try: 'is NW881 on time?', 'my bag is lost'.")
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            print()
            return
        if not text:
            continue
        body = json.dumps(
            {"sender": sender, "message": text, "metadata": {"visibility": "private"}}
        )
        request = urllib.request.Request(
            url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            turn = json.load(response)
        intent = turn["parse"].get("intent") or {}
        print(f"      [{intent.get('name')} {intent.get('confidence', 0):.2f}]")
        for message in turn["messages"]:
            if "text" in message:
                print(f"bot> {message['text']}")
            if "handover" in (message.get("custom") or {}):
                print(f"      [handover: {message['custom']['handover']['reason']}]")


NO_DESK = (
    "\nWARNING: no agents' desk is configured (Slack, or the web desk): no one can take "
    "a handover.\n  The bot will not offer customers a person; it tells them what they can "
    "do instead\n  (brand.yml, gateway_messages.no_desk). docs/desk.md says how to set one up."
)


def warn_without_desk(gateway_port: int) -> None:
    """Says so when the gateway has no desk: every handover would otherwise go unseen."""
    url = f"http://127.0.0.1:{gateway_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        channels = json.load(response).get("channels") or []
    if "desk" not in channels:
        print(NO_DESK)


def wait_for_exit(started: list[Service]) -> None:
    """Blocks until Ctrl-C, or until a service dies (its log says why)."""
    while True:
        for service in started:
            assert service.process is not None
            if service.process.poll() is not None:
                raise SystemExit(
                    f"{service.name} stopped (code {service.process.returncode}); "
                    f"see {LOG_DIR / (service.name + '.log')}"
                )
        time.sleep(1)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--gateway-port", type=int, default=8000)
    parser.add_argument("--terminal", action="store_true", help="chat in the terminal")
    parser.add_argument("--model", type=Path, default=MODEL_PATH, help="the trained model")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit("No trained model: run `make model` first")
    endpoints = write_endpoints(args.actions_port)
    started = services(args.rasa_port, args.actions_port, args.gateway_port, endpoints, args.model)
    stop_signals = StopSignals()
    stop_signals.install()
    try:
        for service in started:
            print(f"starting {service.name}... (log: {LOG_DIR / (service.name + '.log')})")
            with stop_signals.held():
                service.start()
        for service in started:
            service.wait_ready()
        warn_without_desk(args.gateway_port)
        print(
            f"Rasa server: http://127.0.0.1:{args.rasa_port}  action server: "
            f"http://127.0.0.1:{args.actions_port}"
        )
        if args.terminal:
            chat(args.rasa_port)
        else:
            print(f"\nChat with the bot: http://127.0.0.1:{args.gateway_port}/  (Ctrl-C to stop)")
            wait_for_exit(started)
    except Stop as stop:
        print(f"\n{stop}: stopping...")
    finally:
        stop_all(started)


if __name__ == "__main__":
    main()
