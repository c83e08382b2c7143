"""Fixtures shared by the whole suite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Noon UTC on the day the tests run: 06:00 in Chicago, before most of the
# demo day's departures, so the seeded disruptions are still ahead.
TEST_NOW = datetime.utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Every async test runs on asyncio's own loop, as the gateway does in production.

    Not the policy's loop: importing ``rasa.core.channels`` (in_rasa/bridge.py's tests,
    at collection) imports aiogram, which sets uvloop's policy for the whole process.
    The loop then depended on which files were collected: asyncio's for a file run
    alone, uvloop's in the full suite, where test_scaleout.py met errors (EBUSY on
    closing the loop) that a run of the file alone never saw.
    """
    return {"asyncio": asyncio.SelectorEventLoop}


# And asyncio's own policy: on asyncio's loop, uvloop's policy has no child watcher, so
# no subprocess (Playwright's browser driver, a test's server) could start. aiogram sets
# it once, when first imported: imported here, before any test module, and undone.
with contextlib.suppress(ImportError):
    import aiogram  # noqa: F401
asyncio.set_event_loop_policy(None)


@pytest.fixture(autouse=True)
def _frozen_airline_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the airline at the same time of day (see actions/airline/clock.py)."""
    monkeypatch.setenv("AIRLINE_NOW", TEST_NOW.isoformat())


@pytest.fixture
def airline_db(tmp_path: Path) -> Iterator[str]:
    """A freshly seeded airline database (SQLite file) that the actions use."""
    from actions.airline import db
    from actions.airline.seed import ensure_seeded

    url = f"sqlite:///{tmp_path / 'airline.db'}"
    factory = db.configure(url)
    ensure_seeded(factory.kw["bind"], TEST_NOW.date())
    yield url
    factory.kw["bind"].dispose()
    db._factory = None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background calls to Google's services.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[object]:
    """Debian's headless Chromium through Playwright (which never downloads a browser), or a
    skip naming what to install."""
    if CHROMIUM is None:
        pytest.skip("needs Chromium: apt-get install chromium (scripts/test-services does it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def pytest_report_header() -> str:
    return f"project: {PROJECT_ROOT}; python: {os.sys.version.split()[0]}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Assistant:
    """The trained model served by a real Rasa server, with a real action server."""

    def __init__(self, rasa_url: str, actions_url: str, airline_db_url: str) -> None:
        self.rasa_url = rasa_url
        self.actions_url = actions_url
        self.airline_db_url = airline_db_url

    @property
    def care_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/care/webhook"


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    """Starts the action server and the Rasa server (needs `make model` first)."""
    from actions.airline import db
    from actions.airline.seed import ensure_seeded
    from bot.launch import START_SECONDS, assistant_services, write_endpoints
    from bot.model import MODEL_PATH

    if not MODEL_PATH.exists():
        pytest.fail(f"{MODEL_PATH} is missing: run `make model` (or `make test`, which trains it)")
    workdir = tmp_path_factory.mktemp("assistant")
    airline_url = f"sqlite:///{workdir / 'airline.db'}"
    engine = db.make_engine(airline_url)
    ensure_seeded(engine, TEST_NOW.date())
    engine.dispose()
    env = {"AIRLINE_DATABASE_URL": airline_url, "AIRLINE_NOW": TEST_NOW.isoformat()}
    actions_port, rasa_port = free_port(), free_port()
    endpoints = write_endpoints(actions_port, target=workdir / "endpoints.yml")
    services = assistant_services(
        rasa_port, actions_port, endpoints, env=env, log_dir=workdir, interface="127.0.0.1"
    )
    try:
        for service in services:
            service.start()
        for service in services:
            # As long as bot.run waits (START_SECONDS): Rasa loading its model beside a
            # loaded machine's other work can take minutes.
            service.wait_ready(timeout=START_SECONDS)
        yield Assistant(
            f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{actions_port}", airline_url
        )
    finally:
        for service in services:
            service.stop()
