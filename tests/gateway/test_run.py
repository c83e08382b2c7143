"""``python -m bot.run`` with other ports: Rasa finds the action server where it runs.

``endpoints.yml`` names the action server's port (5055); before, ``bot.run
--actions-port N`` started the action server on N while Rasa still called
5055, so every custom action failed and every customer was handed over.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.launch import START_SECONDS, STOP_SECONDS, assistant_services, write_endpoints
from bot.run import services, startup_bound
from tests.conftest import PROJECT_ROOT, free_port
from tests.gateway.bot_run import FAKE_RASA_CLI, port_is_free, stop, wait_for_the_page
from tests.gateway.conftest import eventually

DEFAULT_ACTIONS_PORT = 5055


def test_rasa_is_given_the_action_server_on_the_chosen_port(tmp_path: Path) -> None:
    written = write_endpoints(5077, target=tmp_path / "endpoints.yml")
    endpoints = yaml.safe_load(written.read_text())
    assert endpoints["action_endpoint"]["url"] == "http://127.0.0.1:5077/webhook"
    actions, rasa, gateway = services(5006, 5077, 8001, written)
    assert actions.command[-2:] == ["--port", "5077"] and actions.ready_url.startswith(
        "http://127.0.0.1:5077/"
    )
    assert rasa.command[rasa.command.index("--endpoints") + 1] == str(written)
    assert gateway.env["ACTION_SERVER_URL"] == "http://127.0.0.1:5077"


def test_rasa_starts_with_the_setting_that_keeps_its_memory_down(tmp_path: Path) -> None:
    # Without it the shipped model's Rasa held 0.7-0.8 GB more (bot/launch.py,
    # docs/benchmarks.md "Where Rasa's memory goes"). The process bot.run starts,
    # with the fake rasa command line in place of Rasa's: what it was given.
    rasa_port, actions_port = free_port(), free_port()
    endpoints = write_endpoints(actions_port, target=tmp_path / "endpoints.yml")
    actions, rasa, _gateway = services(rasa_port, actions_port, free_port(), endpoints)
    rasa.log_dir = tmp_path
    rasa.env["PYTHONPATH"] = os.pathsep.join([str(FAKE_RASA_CLI), str(PROJECT_ROOT)])
    rasa.start()
    try:
        assert rasa.process is not None
        # Read once it answers: Popen returns as the exec begins, and until the kernel has
        # set the new program's environment up, /proc/PID/environ reads empty (a CI run
        # on a loaded machine saw that).
        rasa.wait_ready(timeout=60)
        environ = dict(
            entry.decode().split("=", 1)
            for entry in Path(f"/proc/{rasa.process.pid}/environ").read_bytes().split(b"\0")
            if entry
        )
    finally:
        rasa.stop()
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    # The action server runs no TensorFlow: it is not given it.
    assert "TF_ENABLE_ONEDNN_OPTS" not in actions.env
    # A caller's own value wins over the default.
    _actions, tuned = assistant_services(
        rasa_port, actions_port, endpoints, env={"TF_ENABLE_ONEDNN_OPTS": "1"}
    )
    assert tuned.env["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_the_gateway_holds_messages_as_long_as_bot_run_waits_for_rasa(tmp_path: Path) -> None:
    # Before, the gateway gave up on waiting messages after 120 s while bot.run
    # still waited for Rasa up to 240 s: a slow start handed customers over.
    assert startup_bound({"GATEWAY_DOTENV": ""}) == {"RASA_STARTUP_SECONDS": str(START_SECONDS)}
    assert startup_bound({"GATEWAY_DOTENV": "", "RASA_STARTUP_SECONDS": "30"}) == {}
    dotenv = tmp_path / ".env"
    dotenv.write_text("RASA_STARTUP_SECONDS=45\n")
    assert startup_bound({"GATEWAY_DOTENV": str(dotenv)}) == {}  # the operator's choice holds


@pytest.fixture
def default_actions_port_refused() -> Iterator[None]:
    """Something that is not an action server on 5055, where Rasa looked before."""
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", DEFAULT_ACTIONS_PORT))
    except OSError:
        listener.close()  # taken already (a developer's own bot): not an action server of ours
        yield
        return
    listener.listen()  # accepts connections and never answers: Rasa's action call fails
    try:
        yield
    finally:
        listener.close()


@pytest.mark.model
@pytest.mark.slow
async def test_bot_run_with_another_actions_port_answers_with_its_actions(
    tmp_path: Path, airline_db: str, database_url: str, http, default_actions_port_refused
) -> None:
    rasa, actions, gateway = free_port(), free_port(), free_port()
    output = tmp_path / "run.log"
    env = {
        **os.environ,
        "GATEWAY_DOTENV": "",
        "AIRLINE_DATABASE_URL": airline_db,
        "CARE_DATABASE_URL": database_url,
        "GATEWAY_WORKER_ID": "gw-run-test",
    }
    with output.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.run",
                "--rasa-port",
                str(rasa),
                "--actions-port",
                str(actions),
                "--gateway-port",
                str(gateway),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url, session = f"http://127.0.0.1:{gateway}", uuid.uuid4().hex

        # The case: the page is there long before Rasa has loaded its model;
        # a customer who writes then waits for the bot, not for a person.
        await wait_for_the_page(http, url, process, output)
        rasa_was_loading = port_is_free(rasa)
        async with http.post(
            f"{url}/webchat/api/messages",
            json={"session": session, "id": uuid.uuid4().hex, "text": "is NW881 on time?"},
        ) as response:
            assert response.status == 202

        async def answer() -> list[dict]:
            async with http.get(f"{url}/webchat/api/messages", params={"session": session}) as r:
                return list((await r.json())["messages"])

        [reply, *_] = await eventually(answer, timeout=300, interval=0.5)
        assert reply["author"] == "bot", reply  # not a person: the flight look-up worked
        assert "881" in reply["text"]
        assert rasa_was_loading  # else this run did not test the wait
        await eventually(lambda: "Chat with the bot" in output.read_text(), timeout=30)
        # What systemd or `docker stop` send: the real Rasa, actions and gateway all stop.
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, STOP_SECONDS)
        assert all(port_is_free(port) for port in (rasa, actions, gateway)), output.read_text()
    finally:
        await stop(process, signal.SIGINT, 60)  # Ctrl-C: bot.run stops what it started
