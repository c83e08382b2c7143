"""Starts everything locally: action server, Rasa server, and the gateway.

``python -m bot.run`` (what ``make run`` calls after set-up, training and
seeding) starts the processes, waits until each answers, and prints the web
chat's address; the channels configured in ``.env`` (Telegram, Twitter/X,
Slack) run too. ``--terminal`` chats in the terminal instead, showing what the
bot understood. Ctrl-C stops everything.

``--rasa-port``, ``--actions-port`` and ``--gateway-port`` move the three
servers. Rasa finds the action server through its endpoints file, which names
a port: Rasa gets a copy of ``endpoints.yml`` with the action server's URL on
the chosen port (``var/run/endpoints.yml``), so the project's own file stays
as it is for ``rasa run`` by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH, rasa_env

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

    def wait_ready(self, timeout: float = 240.0) -> None:
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


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


def services(
    rasa_port: int, actions_port: int, gateway_port: int, endpoints: Path
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
                str(MODEL_PATH),
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


def desk_notice(gateway_port: int, environ: dict[str, str] | None = None) -> str:
    """Where the agents' web desk is, or how to turn it on (the gateway read the same settings)."""
    from bot.desk.web import start_up_notice
    from bot.settings import ConfigError, load_settings

    try:
        settings = load_settings(environ)
    except ConfigError as error:
        return f"Agents' web desk: off ({error})"
    return start_up_notice(settings.desk, f"http://127.0.0.1:{gateway_port}")


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
    args = parser.parse_args()
    if not Path(MODEL_PATH).exists():
        raise SystemExit("No trained model: run `make model` first")
    endpoints = write_endpoints(args.actions_port)
    started = services(args.rasa_port, args.actions_port, args.gateway_port, endpoints)
    try:
        for service in started:
            print(f"starting {service.name}... (log: {LOG_DIR / (service.name + '.log')})")
            service.start()
        for service in started:
            service.wait_ready()
        print(
            f"Rasa server: http://127.0.0.1:{args.rasa_port}  action server: "
            f"http://127.0.0.1:{args.actions_port}"
        )
        if args.terminal:
            chat(args.rasa_port)
        else:
            print(f"\nChat with the bot: http://127.0.0.1:{args.gateway_port}/  (Ctrl-C to stop)")
            print(desk_notice(args.gateway_port))
            wait_for_exit(started)
    except KeyboardInterrupt:
        print()
    finally:
        for service in reversed(started):
            service.stop()


if __name__ == "__main__":
    main()
