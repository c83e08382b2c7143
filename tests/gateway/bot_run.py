"""A real ``python -m bot.run`` in tests, with ``python -m rasa`` replaced by the fake of
``tests/fakes/rasa_cli`` (first on ``PYTHONPATH``): a run takes seconds, not the
trained model's minute and 2 GB. And what tests look at: its processes and ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.conftest import PROJECT_ROOT

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
    """The process groups of ``parent``'s children (each service runs in a group of its own).

    Only children that lead their group already: between its fork and its ``setsid``
    (``start_new_session``) a child is still in ``parent``'s group, which is the test
    run's own (a loaded machine can leave a child there for a while). Counted, that
    group would be killed with the leftovers: pytest with it."""
    groups = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid, pgrp = int(stat.parent.name), int(fields[1]), int(fields[2])
        if ppid == parent and pgrp == pid:
            groups.add(pgrp)
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


async def stop(
    process: subprocess.Popen[bytes],
    signum: int = signal.SIGTERM,
    timeout: float = 30.0,
    *,
    group: bool = False,
) -> bool:
    """Asks a test's process to stop with ``signum`` (its whole process group with
    ``group``), and kills it if it outlasts ``timeout``; whether it stopped when asked.
    Waited for in a thread: the fakes it talks to while it stops live on the caller's
    loop. Reaped on every path: a Popen never waited for warns "still running" in a
    later test."""
    if process.poll() is not None:
        return True

    def send(number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, number)
            else:
                process.send_signal(number)

    send(signum)
    try:
        await asyncio.to_thread(process.wait, timeout)
        return True
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
        return False


def kill_leftovers(process: subprocess.Popen[bytes], groups: set[int]) -> None:
    """After a failed test: nothing it started may outlive it (the bug leaves orphans)."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for group in groups - {os.getpgrp()}:  # never the test run's own group
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
    tmp_path: Path,
    airline_db: str,
    ports: tuple[int, int, int],
    output: Path,
    **environ: str,
) -> subprocess.Popen[bytes]:
    """``python -m bot.run`` on ``ports`` (Rasa, actions, gateway) with the fake Rasa;
    ``environ`` adds to its environment."""
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not read by the fake")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(FAKE_RASA_CLI), str(PROJECT_ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_DOTENV": "",
        "AIRLINE_DATABASE_URL": airline_db,
        "CARE_DATABASE_URL": f"sqlite:///{tmp_path / 'care.db'}",
        "GATEWAY_WORKER_ID": "gw-run-test",
        **environ,
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


async def wait_for_the_page(
    http: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Until the gateway serves the web chat's page (long before Rasa has loaded)."""
    for _attempt in range(600):
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            async with http.get(url + "/") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not serve the page within 120 s")
