"""Starting the assistant's two servers, the one recipe: the action server and Rasa.

``python -m bot.run`` (with the gateway), the benchmarks (benchmarks/) and the
tests' ``assistant`` fixture (tests/conftest.py) start them the same way: a
:class:`Service` per process, in its own session (stopped with its children),
logging to a file, ready when its URL answers. Rasa finds the action server
through an endpoints file that names its port (:func:`write_endpoints`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH, rasa_env

LOG_DIR = PROJECT_ROOT / "var" / "log"
RUN_DIR = PROJECT_ROOT / "var" / "run"
ENDPOINTS = PROJECT_ROOT / "endpoints.yml"
CREDENTIALS = PROJECT_ROOT / "credentials.yml"


@dataclass
class Service:
    """A process to start, and the URL that answers once it is ready."""

    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_dir: Path = LOG_DIR

    @property
    def log(self) -> Path:
        """Where the process writes its output."""
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The child writes to its own copy of the descriptor: ours closes at once.
        with open(self.log, "ab") as log:
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
                    f"{self.name} exited (code {self.process.returncode}); see {self.log}"
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
        "# Written by bot/launch.py from endpoints.yml for this run; changes here are lost.\n"
        + yaml.safe_dump(endpoints, sort_keys=False),
        encoding="utf-8",
    )
    return target


def assistant_services(
    rasa_port: int,
    actions_port: int,
    endpoints: Path,
    *,
    model: Path = MODEL_PATH,
    env: dict[str, str] | None = None,
    log_dir: Path = LOG_DIR,
    prefix: str = "",
    interface: str | None = None,
) -> list[Service]:
    """The action server and the Rasa server with the trained model (``endpoints`` names
    the action server, see :func:`write_endpoints`); ``prefix`` names their logs."""
    python = sys.executable
    rasa = [
        python,
        "-m",
        "rasa",
        "run",
        "--model",
        str(model),
        "--port",
        str(rasa_port),
        "--credentials",
        str(CREDENTIALS),
        "--endpoints",
        str(endpoints),
    ]
    if interface is not None:
        rasa += ["--interface", interface]
    common = {"env": dict(env or {}), "log_dir": log_dir}
    return [
        Service(
            f"{prefix}actions",
            [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
            f"http://127.0.0.1:{actions_port}/health",
            **common,  # type: ignore[arg-type]
        ),
        Service(f"{prefix}rasa", rasa, f"http://127.0.0.1:{rasa_port}/webhooks/care/", **common),  # type: ignore[arg-type]
    ]


def stop_on_sigterm() -> None:
    """SIGTERM (a process manager, ``kill``) stops like Ctrl-C: the caller's ``finally``
    stops every service it started."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_until_stopped(services: list[Service], banner: str) -> None:
    """Starts ``services`` in order, waits until each answers, prints ``banner``, and runs
    until Ctrl-C, SIGTERM, or one of them dies; then stops them all, last first."""
    stop_on_sigterm()
    started: list[Service] = []
    try:
        for service in services:
            print(f"starting {service.name}... (log: {service.log})", flush=True)
            service.start()
            started.append(service)
        for service in services:
            service.wait_ready()
        print(banner, flush=True)
        while True:
            for service in started:
                assert service.process is not None
                if service.process.poll() is not None:
                    raise SystemExit(
                        f"{service.name} stopped (code {service.process.returncode}); "
                        f"see {service.log}"
                    )
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        for service in reversed(started):
            service.stop()
