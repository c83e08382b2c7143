"""``bot.run`` stops every child on SIGTERM, SIGINT and SIGHUP, within ``STOP_SECONDS``.

Before, only Ctrl-C did: SIGTERM (systemd, ``docker stop``) or SIGHUP (a closed
terminal) ended ``bot.run`` at once and left Rasa, the action server and the
gateway running in their own sessions, holding their ports.

A real ``bot.run`` starts the real action server and gateway; ``python -m rasa``
is the fake of ``tests/fakes/rasa_cli`` (put first on ``PYTHONPATH``), so that a
run takes seconds rather than the trained model's minute and 2 GB.
``tests/gateway/test_run.py`` stops a run with the real model by SIGTERM too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.run import STOP_SECONDS
from tests.conftest import PROJECT_ROOT, free_port

FAKE_RASA_CLI = PROJECT_ROOT / "tests" / "fakes" / "rasa_cli"


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (a listener on any address holds it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def process_groups_of_children(parent: int) -> set[int]:
    """The process groups of ``parent``'s children (each service runs in a group of its own)."""
    groups = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:  # ppid
            groups.add(int(fields[2]))  # pgrp
    return groups


def alive_in(groups: set[int]) -> list[int]:
    """Processes still running (not zombies) in ``groups``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def kill_leftovers(process: subprocess.Popen[bytes], groups: set[int]) -> None:
    """After a failed test: nothing it started may outlive it (the bug leaves orphans)."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    ports: tuple[int, int, int]
    output: Path
    groups: set[int]

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def start_bot_run(
    tmp_path: Path, airline_db: str, ports: tuple[int, int, int], output: Path
) -> subprocess.Popen[bytes]:
    """``python -m bot.run`` on ``ports`` (Rasa, actions, gateway) with the fake Rasa."""
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not read by the fake")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(FAKE_RASA_CLI), str(PROJECT_ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_DOTENV": "",
        "AIRLINE_DATABASE_URL": airline_db,
        "CARE_DATABASE_URL": f"sqlite:///{tmp_path / 'care.db'}",
        "GATEWAY_WORKER_ID": "gw-signal-test",
    }
    rasa, actions, gateway = (str(port) for port in ports)
    command = ["--rasa-port", rasa, "--actions-port", actions, "--gateway-port", gateway]
    with output.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.run", "--model", str(model), *command],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def bot_run(tmp_path: Path, airline_db: str) -> Iterator[Run]:
    """``python -m bot.run`` with the fake Rasa, ready (it printed the chat's address)."""
    ports = (free_port(), free_port(), free_port())
    output = tmp_path / "run.log"
    process = start_bot_run(tmp_path, airline_db, ports, output)
    run = Run(process, ports, output, set())
    try:
        deadline = time.monotonic() + 120
        while "Chat with the bot" not in run.log():
            assert process.poll() is None, run.log()
            assert time.monotonic() < deadline, run.log()
            time.sleep(0.2)
        run.groups = process_groups_of_children(process.pid)
        yield run
    finally:
        kill_leftovers(process, run.groups or process_groups_of_children(process.pid))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_stops_every_child_and_frees_the_ports(
    bot_run: Run, signum: signal.Signals
) -> None:
    groups = bot_run.groups
    assert len(groups) == 3, groups  # actions, rasa, gateway
    assert not any(port_is_free(port) for port in bot_run.ports)
    sent = time.monotonic()
    bot_run.process.send_signal(signum)
    bot_run.process.wait(timeout=STOP_SECONDS + 5)
    took = time.monotonic() - sent
    assert took <= STOP_SECONDS, (took, bot_run.log())
    assert alive_in(groups) == [], bot_run.log()
    assert all(port_is_free(port) for port in bot_run.ports), bot_run.log()
    assert f"{signum.name}: stopping" in bot_run.log()


def test_a_stop_signal_during_start_up_stops_what_has_started(
    tmp_path: Path, airline_db: str
) -> None:
    """SIGTERM while the services are still coming up (Rasa loads for a minute in real life)."""
    ports = (free_port(), free_port(), free_port())
    process = start_bot_run(tmp_path, airline_db, ports, tmp_path / "run.log")
    groups: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(groups := process_groups_of_children(process.pid)) < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_SECONDS + 5)
        assert alive_in(groups) == []
        assert all(port_is_free(port) for port in ports)
    finally:
        kill_leftovers(process, groups)
