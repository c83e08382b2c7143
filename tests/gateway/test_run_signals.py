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

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.launch import STOP_SECONDS
from tests.conftest import free_port
from tests.gateway.bot_run import (
    Run,
    alive_in,
    kill_leftovers,
    port_is_free,
    process_groups_of_children,
    start_bot_run,
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
        # bot.run's own start (Python, its imports) can take tens of seconds on a loaded machine.
        deadline = time.monotonic() + 120
        while len(groups := process_groups_of_children(process.pid)) < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_SECONDS + 5)
        assert alive_in(groups) == []
        assert all(port_is_free(port) for port in ports)
    finally:
        kill_leftovers(process, groups)


def test_without_a_desk_bot_run_warns(bot_run: Run) -> None:
    # No Slack in this run's environment (and no web desk): nobody would see a handover.
    assert "WARNING: no agents' desk is configured" in bot_run.log()
