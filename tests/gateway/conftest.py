"""Gateway tests: the real gateway app, real clients, fake platforms on loopback."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import create_engine, select, text

from bot.brand import Brand, load_brand
from bot.gateway import GATEWAY, DeskParts, Gateway, create_app
from bot.settings import Secret, Settings, SlackSettings, TelegramSettings, TwitterSettings
from bot.store.db import make_engine, migrate
from bot.store.models import OutboxItem, OutboxStatus
from tests.fakes.assistant import FakeAssistant
from tests.fakes.desk import WatchingDesk
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twitter import BRAND_ID, FakeTwitter, connector_for, self_signed, server_context

TELEGRAM_TOKEN = "123456789:TEST-token-abcdefghijklmnopqrstu"
SLACK_TOKEN = "xoxb-test-token"
SLACK_SECRET = "slack-signing-secret-test"
ESCALATIONS = "C0ESCALATE"
AGENTS = ["U0AGENT1", "U0AGENT2", "U0AGENT3"]
TWITTER_KEY = "consumer-key-test"
PG_URL = os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def serve(app: web.Application, ssl_context: Any = None) -> tuple[web.AppRunner, int]:
    """Serves ``app`` on a free loopback port."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def eventually(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Waits until ``check()`` returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def the_sent_reply(gateway: RunningGateway) -> dict[str, Any]:
    """The one outbox item, once the gateway has marked it sent (attempts, times).

    A fake platform records a message before the gateway has read the answer
    and written it down: tests wait for the bookkeeping too.
    """

    def sent() -> dict[str, Any] | None:
        with gateway.parts.sessions() as db:
            item = db.scalars(select(OutboxItem)).one()
            if item.status != OutboxStatus.SENT:
                return None
            return {
                "attempts": item.attempts,
                "sent_at": item.sent_at,
                "created_at": item.created_at,
            }

    return await eventually(sent)


def run_sql(database_url: str, statements: dict[str, list[str]]) -> None:
    """Runs the statements written for the store's dialect (``statements[dialect]``)."""
    engine = create_engine(database_url, future=True)
    try:
        with engine.begin() as connection:
            for statement in statements[engine.dialect.name]:
                connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A real PostgreSQL server, or a skip that says how to get one."""
    try:
        engine = create_engine(PG_URL, future=True)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_URL} ({type(error).__name__}); start one "
            "(`pg_ctlcluster <version> main start`) or set PG_TEST_URL"
        )
    return PG_URL


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A database with the store's schema, copied for each test (``CREATE DATABASE ...
    TEMPLATE``): a copy takes a tenth of a second, migrating a new one over a second."""
    name = f"care_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(postgres_server.rsplit("/", 1)[0] + f"/{name}")
    migrate(engine)
    engine.dispose()  # a template must have no connections when it is copied
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _store(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'care.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    template = f' TEMPLATE "{request.getfixturevalue("postgres_template")}"' if migrated else ""
    name = f"care_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The care store: an SQLite file, and a fresh PostgreSQL database (with the schema)."""
    yield from _store(request, tmp_path, migrated=True)


@pytest.fixture(params=STORES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The care store before any migration: an SQLite file, an empty PostgreSQL database."""
    yield from _store(request, tmp_path, migrated=False)


@pytest_asyncio.fixture
async def fake_assistant() -> AsyncIterator[tuple[FakeAssistant, str]]:
    fake = FakeAssistant()
    runner, port = await serve(fake.app())
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    runner, port = await serve(fake.app())
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack(SLACK_TOKEN, members=list(AGENTS))
    runner, port = await serve(fake.app())
    yield fake, f"http://127.0.0.1:{port}/api/"
    await runner.cleanup()


def slack_settings(api_url: str, **changes: Any) -> SlackSettings:
    return replace(
        SlackSettings(
            bot_token=Secret(SLACK_TOKEN),
            escalation_channel=ESCALATIONS,
            signing_secret=Secret(SLACK_SECRET),
            mode="http",
            api_url=api_url,
        ),
        **changes,
    )


@pytest.fixture(scope="session")
def twitter_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest_asyncio.fixture
async def fake_twitter(twitter_cert: tuple[Path, Path]) -> AsyncIterator[tuple[FakeTwitter, int]]:
    fake = FakeTwitter(TWITTER_KEY)
    runner, port = await serve(fake.app(), server_context(*twitter_cert))
    yield fake, port
    await runner.cleanup()


@dataclass
class RunningGateway:
    """A gateway served on loopback, with its parts at hand."""

    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def parts(self) -> Gateway:
        return self.app[GATEWAY]

    async def stop(self) -> None:
        await self.runner.cleanup()


def telegram_settings(api_url: str, **changes: Any) -> TelegramSettings:
    return replace(
        TelegramSettings(
            token=Secret(TELEGRAM_TOKEN), api_url=api_url, poll_timeout=1, per_chat_interval=0.0
        ),
        **changes,
    )


def telegram_webhook_settings(api_url: str, secret: str) -> TelegramSettings:
    """Telegram in webhook mode, behind a public URL that forwards here, with ``secret``."""
    return telegram_settings(
        api_url,
        mode="webhook",
        webhook_url="https://example.test/telegram/webhook",
        webhook_secret=Secret(secret),
    )


def twitter_settings(**changes: Any) -> TwitterSettings:
    return replace(
        TwitterSettings(
            api_key=Secret(TWITTER_KEY),
            api_secret=Secret("consumer-secret-test"),
            access_token=Secret("access-token-test"),
            access_token_secret=Secret("access-secret-test"),
            requests_per_window=90_000,
        ),
        **changes,
    )


def _watching_desk(_parts: DeskParts) -> WatchingDesk:
    return WatchingDesk()


@pytest_asyncio.fixture
async def start_gateway(
    database_url: str, twitter_cert: tuple[Path, Path]
) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    """``await start_gateway(rasa_url=..., telegram=..., twitter_port=...)`` starts one."""
    started: list[RunningGateway] = []

    async def start(
        rasa_url: str,
        telegram: TelegramSettings | None = None,
        twitter_port: int | None = None,
        desk_factory: Any = None,
        watching_desk: bool = True,
        brand: Brand | None = None,
        service_level_interval: float | None = None,
        **changes: Any,
    ) -> RunningGateway:
        settings = Settings(
            database_url=database_url,
            rasa_url=rasa_url,
            action_server_url=rasa_url,
            rasa_timeout=3.0,
            # Tests of an assistant that does not answer need not wait two minutes.
            rasa_startup_seconds=2.0,
            worker_id="gw-test",
            lease_seconds=5.0,
            telegram=telegram,
            twitter=twitter_settings(user_id=BRAND_ID) if twitter_port else None,
        )
        settings = replace(settings, **changes)
        connector = connector_for(twitter_port, twitter_cert[0]) if twitter_port else None
        if desk_factory is None and watching_desk and not (settings.slack or settings.desk):
            desk_factory = _watching_desk  # someone sees the queue (tests/fakes/desk.py)
        # Routing tests compare exact replies: no wait notices unless a test asks for the
        # shipped brand's (tests/gateway/test_waiting.py).
        brand = brand or replace(load_brand(), care_team=None)
        intervals = (
            {}
            if service_level_interval is None
            else {"service_level_interval": service_level_interval}
        )
        app = create_app(
            settings,
            brand=brand,
            twitter_connector=connector,
            desk_factory=desk_factory,
            **intervals,
        )
        runner, port = await serve(app)
        running = RunningGateway(f"http://127.0.0.1:{port}", app, runner)
        started.append(running)
        return running

    yield start
    for running in started:
        await running.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
