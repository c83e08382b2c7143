"""Starts everything locally: action server, Rasa server, and the gateway.

``python -m bot.run`` (what ``make run`` calls after set-up, training and
seeding) starts the processes, waits until each answers, and prints the web
chat's address; the channels configured in ``.env`` (Telegram, Twitter/X,
Slack) run too. ``--terminal`` chats in the terminal instead, showing what the
bot understood. Ctrl-C stops everything, and so do SIGTERM (systemd,
``docker stop``) and SIGHUP (a closed terminal): every child is gone within
:data:`STOP_SECONDS`. ``--scale N`` starts N of each server on the local
PostgreSQL and Redis instead (bot/scaleout.py, docs/scaling.md).

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
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

from bot.brand import PROJECT_ROOT
from bot.launch import (
    LOG_DIR,
    START_SECONDS,
    Service,
    Stop,
    StopSignals,
    assistant_services,
    stop_all,
    write_endpoints,
)
from bot.model import MODEL_PATH
from bot.settings import ConfigError, load_settings, read_dotenv


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
    return [
        *assistant_services(rasa_port, actions_port, endpoints, model=model),
        Service(
            "gateway",
            [sys.executable, "-m", "bot.gateway"],
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
# Where the gateway serves the web desk (bot/desk/web.py, PREFIX).
WEB_DESK = "/desk"


def warn_without_desk(gateway_port: int) -> None:
    """Says so when the gateway has no desk (neither Slack nor the web desk): every handover
    would otherwise go unseen."""
    url = f"http://127.0.0.1:{gateway_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        desks = json.load(response).get("desks") or []
    if not desks:
        print(NO_DESK)


def desk_notice(gateway_port: int, environ: dict[str, str] | None = None) -> str:
    """Where the agents' web desk is, or how to turn it on (the gateway read the same settings)."""
    try:
        settings = load_settings(environ)
    except ConfigError as error:
        return f"Agents' web desk: off ({error})"
    if settings.desk is None:
        return (
            "Agents' web desk: off, no agents yet. Add one with\n"
            "  .venv/bin/python -m bot.desk.agents add NAME\n"
            "and start again; handovers wait in the store until then."
        )
    agents = ", ".join(sorted(settings.desk.agents))
    return f"Agents' web desk: http://127.0.0.1:{gateway_port}{WEB_DESK}  (agents: {agents})"


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
    parser.add_argument(
        "--scale",
        type=int,
        help="N gateway workers, Rasa replicas and action servers on the local PostgreSQL "
        "and Redis (docs/scaling.md)",
    )
    parser.add_argument("--base-port", type=int, default=8000, help="with --scale")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit("No trained model: run `make model` first")
    if args.scale is not None:
        from bot.scaleout import run

        run(args.scale, args.base_port, args.model)
        return
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
            print(desk_notice(args.gateway_port))
            wait_for_exit(started)
    except Stop as stop:
        print(f"\n{stop}: stopping...")
    finally:
        stop_all(started)


if __name__ == "__main__":
    main()
