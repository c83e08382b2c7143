"""``python -m rasa run --port N [anything else]``: the fake assistant on port N.

``FAKE_RASA_LOAD_SECONDS`` makes it wait that long before it listens, as the
real server does while it loads its model (its port refuses connections);
``FAKE_RASA_LOADED_WHEN`` (a path) makes it wait until that file exists: a test
decides when Rasa is up, whatever the other processes' start took on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from aiohttp import web

from tests.fakes.assistant import FakeAssistant


def main() -> None:
    parser = argparse.ArgumentParser(prog="rasa")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--port", type=int, required=True)
    options, _ignored = parser.parse_known_args()  # --model, --endpoints...: not needed
    time.sleep(float(os.environ.get("FAKE_RASA_LOAD_SECONDS", "0")))
    loaded = os.environ.get("FAKE_RASA_LOADED_WHEN")
    while loaded and not Path(loaded).exists():
        time.sleep(0.05)
    # aiohttp stops on SIGTERM and SIGINT, as the real server (Sanic) does.
    web.run_app(FakeAssistant().app(), host="127.0.0.1", port=options.port, print=None)


if __name__ == "__main__":
    main()
