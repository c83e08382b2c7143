"""``python -m rasa run --port N [anything else]``: the fake assistant on port N."""

from __future__ import annotations

import argparse

from aiohttp import web

from tests.fakes.assistant import FakeAssistant


def main() -> None:
    parser = argparse.ArgumentParser(prog="rasa")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--port", type=int, required=True)
    options, _ignored = parser.parse_known_args()  # --model, --endpoints...: not needed
    # aiohttp stops on SIGTERM and SIGINT, as the real server (Sanic) does.
    web.run_app(FakeAssistant().app(), host="127.0.0.1", port=options.port, print=None)


if __name__ == "__main__":
    main()
