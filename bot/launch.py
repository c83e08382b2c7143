"""Starting the assistant's two servers, the one recipe: the action server and Rasa.

``python -m bot.run`` (with the gateway), the benchmarks (benchmarks/) and the
tests' ``assistant`` fixture (tests/conftest.py) start them the same way: a
:class:`Service` per process, in its own session (stopped with its children),
logging to a file, ready when its URL answers. Rasa finds the action server
through an endpoints file that names its port (:func:`write_endpoints`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH, rasa_env

LOG_DIR = PROJECT_ROOT / "var" / "log"
RUN_DIR = PROJECT_ROOT / "var" / "run"
ENDPOINTS = PROJECT_ROOT / "endpoints.yml"
CREDENTIALS = PROJECT_ROOT / "credentials.yml"
# What systemd or `docker stop` send (SIGTERM), a closed terminal (SIGHUP), Ctrl-C (SIGINT).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Every child is gone this long after a stop signal: asked politely first (the
# gateway gives in-flight requests 5 s, bot/gateway.py), then killed.
STOP_SECONDS = 10.0
POLITE_SECONDS = 7.0
# How long a service may take to answer (Rasa loading its model, on a slow machine).
# The gateway holds customers' messages for as long (RASA_STARTUP_SECONDS, unless
# set, bot/run.py): bot.run stops if Rasa is not up by then, so no message waits for nothing.
START_SECONDS = 240.0
# How the Rasa server's memory is kept down (benchmarks/rasa_memory.py,
# docs/benchmarks.md "Where Rasa's memory goes").
RASA_MEMORY_ENV = {
    # TensorFlow's oneDNN kernels take their buffers from a pool that never gives
    # memory back. The shipped pipeline no longer runs TensorFlow (no DIET since
    # in_rasa/nlu/linear_response_selector.py), but a pipeline that does (Rasa's
    # ResponseSelector or DIETClassifier, docs/nlu-variants/) builds its weights with
    # one training step at load, which left 0.7-0.8 GB in that pool. Without oneDNN
    # DIET's confidences moved in the 7th decimal and a parse cost no more CPU.
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


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

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
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
                # Reap it: a child never waited for stays a zombie, still "running" to Popen.
                self.process.wait()

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
    the action server, see :func:`write_endpoints`); ``prefix`` names their logs.

    ``env`` is added to both processes' environments; Rasa's also has
    :data:`RASA_MEMORY_ENV`, unless ``env`` sets them otherwise."""
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
    extra = dict(env or {})
    return [
        Service(
            f"{prefix}actions",
            [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
            f"http://127.0.0.1:{actions_port}/health",
            env=extra,
            log_dir=log_dir,
        ),
        Service(
            f"{prefix}rasa",
            rasa,
            f"http://127.0.0.1:{rasa_port}/webhooks/care/",
            env={**RASA_MEMORY_ENV, **extra},
            log_dir=log_dir,
        ),
    ]
