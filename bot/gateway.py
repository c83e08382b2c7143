"""The gateway process: channels in, the conversation router, the outbox out.

``python -m bot.gateway`` runs it with the settings from the environment and
``.env`` (see :mod:`bot.settings`); :func:`create_app` builds it for tests,
with clients pointed at local fake platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web

from bot import logs
from bot.analytics.dashboard import add_dashboard, agents_only
from bot.analytics.live import serve_metrics
from bot.assembly import DeskParts, Gateway, RunningDesk, assemble
from bot.assistant import Assistant
from bot.brand import Brand, load_brand
from bot.conversation import waiting
from bot.desk.operations import CareDesk
from bot.desk.ports import PlainMarkup
from bot.desk.web import add_web_desk
from bot.edge import refusals
from bot.settings import ConfigError, Settings, load_settings
from bot.store.db import make_engine, migrate

__all__ = ["GATEWAY", "DeskParts", "Gateway", "RunningDesk", "create_app", "main"]

logger = logging.getLogger(__name__)
HEALTH_INTERVAL = 5.0
# How often handed-over tickets are looked at: service-level breaches for the agents,
# updates (or the bot back) for the customers waiting.
SERVICE_LEVEL_INTERVAL = 30.0
# While the assistant starts, messages wait for it: look often, so they go soon after.
STARTING_INTERVAL = 0.25

GATEWAY = web.AppKey("gateway", Gateway)


def create_app(
    settings: Settings,
    *,
    brand: Brand | None = None,
    twitter_connector: aiohttp.BaseConnector | None = None,
    desk_factory: Callable[[DeskParts], RunningDesk] | None = None,
    service_level_interval: float = SERVICE_LEVEL_INTERVAL,
) -> web.Application:
    """The gateway as an aiohttp application; everything starts with the app.

    ``desk_factory`` builds the agents' desk (default: Slack, when configured);
    the web desk (``DESK_AGENTS``) works on the same tickets, with Slack or alone.
    """
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
        gateway = assemble(settings, brand, engine, twitter_connector, desk_factory)
        app[GATEWAY] = gateway
        try:
            for channel in gateway.channels.values():
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
            asyncio.create_task(gateway.inbox.run(), name="inbox"),
            asyncio.create_task(gateway.outbox.run(), name="outbox"),
            asyncio.create_task(_watch_assistant(gateway.assistant), name="health"),
            asyncio.create_task(
                _watch_service_levels(gateway, brand, service_level_interval), name="waiting"
            ),
        ]
        if gateway.router.desk is None:
            logger.warning(
                "gateway: no agents' desk (Slack or web desk) is configured: no one can take "
                "a handover, so the bot offers no person and says what customers can do"
            )
        logger.info(
            "gateway: channels %s; assistant %s", ", ".join(gateway.channels), settings.rasa_url
        )

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
                "desks": gateway.desks,
            }
        )

    app.on_startup.append(start)  # type: ignore[arg-type]
    app.on_cleanup.append(stop)  # type: ignore[arg-type]
    app.router.add_get("/healthz", health)
    add_web_desk(
        app,
        settings.desk,
        care=lambda: _care_of(app[GATEWAY]),
        wake=lambda: app[GATEWAY].outbox.wake(),
    )
    add_dashboard(
        app,
        lambda: app[GATEWAY].engine,
        guard=agents_only,
        threshold=_fallback_threshold(),
        parts=settings.analytics_parts,
    )
    # The router is frozen before start-up, when the channels do not exist
    # yet: routes are declared here and find their channel per request.
    for name, method, path, handler in ROUTES:
        app.router.add_route(method, path, _to_channel(name, handler))
    return app


def _fallback_threshold() -> float:
    from bot.evaluation import shipped_threshold

    return shipped_threshold()


# (channel, HTTP method, path, method of the channel object)
ROUTES = [
    ("webchat", "GET", "/", "page"),
    ("webchat", "POST", "/webchat/api/messages", "receive"),
    ("webchat", "GET", "/webchat/api/messages", "replies"),
    ("webchat", "POST", "/webchat/api/ratings", "rate"),
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


def _care_of(gateway: Gateway) -> CareDesk:
    """The web desk's operations: the Slack desk's when it runs (the same tickets, cards
    kept up to date), else ones that queue nothing for Slack (built with the gateway),
    writing people and code words as plain text rather than Slack's markup."""
    assert gateway.care is not None  # the web desk is on only with agents: see _assemble
    care = copy.copy(gateway.care)  # shares its sessions, channel and links; sets nothing
    care.markup = PlainMarkup()
    return care


async def _watch_service_levels(gateway: Gateway, brand: Brand, interval: float) -> None:
    """The one loop over handed-over tickets, whatever desks are on: agents are told of
    service-level breaches (bot/desk/operations.py), customers waiting get their update
    or the bot back (bot/conversation/waiting.py)."""
    while True:
        await asyncio.sleep(interval)
        queued = 0
        if gateway.care is not None:
            try:
                queued += len(await asyncio.to_thread(gateway.care.check_service_levels))
            except Exception:
                logger.exception("gateway: the service level check failed")
        given_back: list[int] = []
        try:
            followed = await asyncio.to_thread(
                waiting.follow_up_waiting,
                gateway.sessions,
                brand,
                gateway.router.clock(),
                gateway.router.desk,
            )
            queued, given_back = queued + followed.queued, followed.given_back
        except Exception:
            logger.exception("gateway: following up waiting customers failed")
        if queued:
            gateway.outbox.wake()
        # After the wake: the customer's message does not wait for the assistant.
        try:
            await waiting.tell_assistant(gateway.assistant, gateway.sessions, given_back)
        except Exception:
            logger.exception("gateway: telling the assistant of a give-back failed")


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
