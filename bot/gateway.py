"""The gateway process: channels in, the conversation router, the outbox out.

``python -m bot.gateway`` runs it with the settings from the environment and
``.env`` (see :mod:`bot.settings`); :func:`create_app` builds it for tests,
with clients pointed at local fake platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bot import logs
from bot.analytics.dashboard import add_dashboard, agents_only
from bot.analytics.live import serve_metrics
from bot.assistant import Assistant
from bot.brand import Brand, load_brand
from bot.channels.base import Sender
from bot.channels.telegram import TelegramChannel
from bot.channels.twitter import TwitterChannel
from bot.channels.webchat import WebchatChannel
from bot.desk.operations import CareDesk
from bot.desk.web import add_web_desk
from bot.edge import refusals
from bot.intake import Intake
from bot.router import Accepted, ConversationRouter, Desk
from bot.settings import ConfigError, Settings, load_settings
from bot.store.db import make_engine, migrate, read_session_factory, session_factory
from bot.worker import Inbox, Outbox, Pace

logger = logging.getLogger(__name__)
HEALTH_INTERVAL = 5.0
# While the assistant starts, messages wait for it: look often, so they go soon after.
STARTING_INTERVAL = 0.25


@dataclass
class Gateway:
    """The running parts, reachable from tests and from the desk."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    http: aiohttp.ClientSession
    assistant: Assistant
    router: ConversationRouter
    inbox: Inbox
    outbox: Outbox
    channels: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    metrics: web.AppRunner | None = None  # Prometheus /metrics, on its own port

    def outbox_wake(self) -> None:
        """Something was queued for sending."""
        self.outbox.wake()

    def wake(self, accepted: Accepted | None = None) -> None:
        """Messages were stored: start on the conversations they leased to us; look for
        the others (a conversation another worker held may be free by now)."""
        if accepted is not None:
            self.inbox.take(accepted.leased)
        if accepted is None or accepted.unleased:
            self.inbox.wake()


GATEWAY = web.AppKey("gateway", Gateway)


def create_app(
    settings: Settings,
    *,
    brand: Brand | None = None,
    twitter_connector: aiohttp.BaseConnector | None = None,
    desk_factory: Any = None,
) -> web.Application:
    """The gateway as an aiohttp application; everything starts with the app."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[refusals])
    brand = brand or load_brand()

    async def start(app: web.Application) -> None:
        # Database work runs in threads; the default pool (cores + 4) is too
        # small when many conversations wait on the store at once.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="store")
        )
        # A store thread waiting for the GIL waits up to the switch interval
        # (5 ms by default) while the event loop runs; each message crosses
        # several times, so hand the GIL over sooner.
        sys.setswitchinterval(0.0005)
        engine = make_engine(settings.database_url)
        await asyncio.to_thread(migrate, engine)
        sessions = session_factory(engine)
        reads = read_session_factory(engine)
        http = aiohttp.ClientSession()
        assistant = Assistant(
            settings.rasa_url,
            http,
            settings.rasa_timeout,
            settings.action_server_url,
            concurrency=settings.rasa_concurrency,
            startup_seconds=settings.rasa_startup_seconds,
        )
        router = ConversationRouter(
            sessions,
            assistant,
            brand=brand,
            worker_id=settings.worker_id,
            lease_seconds=settings.lease_seconds,
            reads=reads,
        )
        inbox = Inbox(router, sessions, settings.worker_id, settings.lease_seconds)
        gateway = Gateway(
            settings,
            engine,
            sessions,
            http,
            assistant,
            router,
            inbox,
            outbox=Outbox(sessions, {}, settings.worker_id),
        )
        intake = Intake(router, sessions, gateway.wake)
        channels: dict[str, Any] = {"webchat": WebchatChannel(intake, reads)}
        paces: dict[str, Pace] = {}
        if settings.telegram is not None:
            channels["telegram"] = TelegramChannel(settings.telegram, intake, brand)
            paces["telegram"] = Pace(settings.telegram.per_chat_interval)
        if settings.twitter is not None:
            channels["twitter"] = TwitterChannel(
                settings.twitter, intake, brand, connector=twitter_connector
            )
        senders: dict[str, Sender] = dict(channels)
        factory = desk_factory or (_slack_desk if settings.slack is not None else None)
        if factory is not None:
            desk: Desk = factory(gateway, brand)
            router.desk = desk
            senders.update(getattr(desk, "senders", {}))
            channels["desk"] = desk
        gateway.outbox = Outbox(sessions, senders, settings.worker_id, paces=paces, reads=reads)
        inbox.on_handled = gateway.outbox.kick
        gateway.channels = channels
        app[GATEWAY] = gateway
        try:
            for channel in channels.values():
                if hasattr(channel, "start"):
                    await channel.start()
        except BaseException:
            # A channel refused to start (a credential refused): aiohttp skips the
            # clean-up of an app that did not start, so close what is open here.
            await stop(app)
            raise
        if settings.metrics_port:
            gateway.metrics = await serve_metrics(
                lambda: engine, settings.metrics_host, settings.metrics_port
            )
        gateway.tasks = [
            asyncio.create_task(inbox.run(), name="inbox"),
            asyncio.create_task(gateway.outbox.run(), name="outbox"),
            asyncio.create_task(_watch_assistant(assistant), name="health"),
        ]
        logger.info("gateway: channels %s; assistant %s", ", ".join(channels), settings.rasa_url)

    async def stop(app: web.Application) -> None:
        gateway = app.get(GATEWAY)
        if gateway is None:
            return
        for task in gateway.tasks:
            task.cancel()
        await asyncio.gather(*gateway.tasks, return_exceptions=True)
        await gateway.inbox.idle()
        await gateway.outbox.idle()
        for channel in gateway.channels.values():
            if hasattr(channel, "stop"):
                with contextlib.suppress(Exception):
                    await channel.stop()
        if gateway.metrics is not None:
            await gateway.metrics.cleanup()
        await gateway.http.close()
        gateway.engine.dispose()

    async def health(request: web.Request) -> web.Response:
        gateway = request.app[GATEWAY]
        return web.json_response(
            {
                "status": "ok",
                "assistant": gateway.assistant.available,
                "channels": list(gateway.channels),
            }
        )

    app.on_startup.append(start)  # type: ignore[arg-type]
    app.on_cleanup.append(stop)  # type: ignore[arg-type]
    app.router.add_get("/healthz", health)
    add_web_desk(
        app,
        settings.desk,
        care=lambda: _care_desk(app[GATEWAY], brand),
        wake=lambda: app[GATEWAY].outbox_wake(),
    )
    add_dashboard(
        app, lambda: app[GATEWAY].engine, guard=agents_only, threshold=_fallback_threshold()
    )
    # The router is frozen before start-up, when the channels do not exist
    # yet: routes are declared here and find their channel per request.
    for name, method, path, handler in ROUTES:
        app.router.add_route(method, path, _to_channel(name, handler))
    _agents_login(app, settings)
    return app


def _agents_login(app: web.Application, settings: Settings) -> None:
    """The agents' login for the dashboard, unless the web desk has set it up already (one
    login for every page for agents). Without accounts nobody gets into the dashboard."""
    from bot.desk.agents import LOGIN, Login, add_login_routes

    if settings.desk is not None and LOGIN not in app:
        add_login_routes(app, Login(settings.desk), protected=("/dashboard",))


def _fallback_threshold() -> float:
    from bot.evaluation import shipped_threshold

    return shipped_threshold()


# (channel, HTTP method, path, method of the channel object)
ROUTES = [
    ("webchat", "GET", "/", "page"),
    ("webchat", "POST", "/webchat/api/messages", "receive"),
    ("webchat", "GET", "/webchat/api/messages", "replies"),
    ("telegram", "POST", "/telegram/webhook", "webhook"),
    ("desk", "POST", "/slack/events", "http_events"),
]


def _to_channel(name: str, handler: str) -> Any:
    async def route(request: web.Request) -> web.StreamResponse:
        channel = request.app[GATEWAY].channels.get(name)
        if channel is None or not hasattr(channel, handler):
            raise web.HTTPNotFound()
        return await getattr(channel, handler)(request)

    return route


def _slack_desk(gateway: Gateway, brand: Brand) -> Desk:
    from bot.desk.slack import SlackDesk

    assert gateway.settings.slack is not None
    desk = CareDesk(gateway.sessions, gateway.router, gateway.assistant, brand)
    return SlackDesk(gateway.settings.slack, desk, gateway.outbox_wake, brand)


def _care_desk(gateway: Gateway, brand: Brand) -> CareDesk:
    """The web desk's operations: the Slack desk's when it runs (the same tickets, cards
    kept up to date), else ones that queue nothing for Slack."""
    care = getattr(gateway.channels.get("desk"), "desk", None)
    if isinstance(care, CareDesk):
        return care
    return CareDesk(gateway.sessions, gateway.router, gateway.assistant, brand, desk_channel=None)


async def _watch_assistant(assistant: Assistant) -> None:
    while True:
        with contextlib.suppress(Exception):
            await assistant.check()
        await asyncio.sleep(STARTING_INTERVAL if assistant.starting else HEALTH_INTERVAL)


def main() -> None:
    """Command line entry point."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings)
    # In-flight requests get a few seconds to finish on shutdown (aiohttp waits a
    # minute by default); everything accepted is in the store by then anyway.
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=5.0,
        )
    except ConfigError as error:  # found at start-up (a platform refused a credential)
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
