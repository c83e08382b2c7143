"""Prometheus metrics for live operation, on their own port bound to 127.0.0.1 by default.

Two kinds, both in :data:`REGISTRY` (not prometheus_client's global one: tests
start several gateways in one process):

* counted as things happen, by one-line hooks in the core (the counters live in
  bot/analytics/counters.py, which imports nothing of ours, so the core may use
  them): turns answered by the assistant (per channel), the assistant's
  latency, handovers by reason, failed sends by channel;
* read from the store at scrape time (:class:`StoreCollector`): the queue of
  open tickets, messages waiting for the bot, the outbox backlog and the age of
  its oldest item. Being read from the store, they are right for every gateway
  process at once, and after a restart.

``GATEWAY_METRICS_PORT`` (default 9188; 0 turns it off) and
``GATEWAY_METRICS_HOST`` (default 127.0.0.1): the figures say how busy the care
team is, so they are not for the world. Let Prometheus scrape from the same
host or a private network; never publish the port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.analytics.counters import REGISTRY
from bot.store.db import READ_ONLY
from bot.store.models import (
    Author,
    Direction,
    InboundStatus,
    Message,
    OutboxItem,
    OutboxStatus,
    Ticket,
    TicketStatus,
)
from bot.store.records import utcnow

logger = logging.getLogger(__name__)


class StoreCollector(Collector):
    """Gauges read from the store when Prometheus scrapes."""

    def __init__(self, engine: Callable[[], Engine], clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """Queue depth, messages waiting, outbox backlog and its oldest item's age."""
        tickets = GaugeMetricFamily(
            "care_queue_tickets", "Tickets waiting for or held by an agent", labels=["status"]
        )
        waiting = GaugeMetricFamily(
            "care_inbox_pending", "Customer messages stored and not yet handled"
        )
        backlog = GaugeMetricFamily(
            "care_outbox_backlog", "Replies not sent yet (pending or being sent)"
        )
        oldest = GaugeMetricFamily(
            "care_outbox_oldest_seconds", "Age of the oldest reply not sent yet (0: none)"
        )
        store = self.engine().execution_options(**{READ_ONLY: True})
        with store.connect() as connection:
            counts = dict(
                connection.execute(
                    select(Ticket.status, func.count())
                    .where(Ticket.status.in_([TicketStatus.OPEN, TicketStatus.CLAIMED]))
                    .group_by(Ticket.status)
                ).all()
            )
            pending = connection.execute(
                select(func.count()).where(
                    Message.status == InboundStatus.PENDING,
                    Message.direction == Direction.IN,
                    Message.author == Author.CUSTOMER,
                )
            ).scalar()
            unsent, first = connection.execute(
                select(func.count(), func.min(OutboxItem.created_at)).where(
                    OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                )
            ).one()
        for status in (TicketStatus.OPEN, TicketStatus.CLAIMED):
            tickets.add_metric([status.value], counts.get(status, 0))
        waiting.add_metric([], pending or 0)
        backlog.add_metric([], unsent or 0)
        age = (self.clock() - first).total_seconds() if first is not None else 0.0
        oldest.add_metric([], max(age, 0.0))
        yield from (tickets, waiting, backlog, oldest)


def metrics_app(engine: Callable[[], Engine]) -> web.Application:
    """The ``/metrics`` endpoint: the counters and the store's gauges."""
    store = CollectorRegistry(auto_describe=False)
    store.register(StoreCollector(engine))

    async def metrics(_request: web.Request) -> web.Response:
        try:
            body = generate_latest(REGISTRY) + generate_latest(store)
        except Exception:  # the store is down: say so with a status, keep the counters
            logger.exception("metrics: reading the store failed")
            body = generate_latest(REGISTRY)
            return web.Response(
                body=body, status=503, headers={"Content-Type": CONTENT_TYPE_LATEST}
            )
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def serve_metrics(engine: Callable[[], Engine], host: str, port: int) -> web.AppRunner | None:
    """Starts the metrics endpoint on ``host:port``; the caller cleans the runner up.

    A port already taken (a second gateway process on the host with the same
    GATEWAY_METRICS_PORT) is logged, and the gateway runs without metrics:
    customers come before monitoring.
    """
    runner = web.AppRunner(metrics_app(engine), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        logger.error(
            "metrics: cannot listen on %s:%s (%s); set GATEWAY_METRICS_PORT", host, port, error
        )
        return None
    logger.info("metrics: http://%s:%s/metrics", host, port)
    return runner
