"""The stand-in load balancer (bot/balancer.py): what it leaves open when connections are cut."""

from __future__ import annotations

import asyncio
import contextlib

from bot.balancer import Balancer
from tests.gateway.conftest import eventually


class Upstream:
    """A server that holds each connection until the other side closes it."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        with contextlib.suppress(OSError):
            while await reader.read(1024):
                writer.write(b"ok")
        self.closed += 1
        writer.close()


async def test_a_cut_while_clients_leave_closes_every_upstream_connection() -> None:
    """Clients hang up, and the balancer is cut while it winds their connections down: every
    upstream connection is closed all the same. The cut used to land between the end of
    the copying and the upstream's close, which it skipped: a connection left open per
    such client (in the scale-out test, uvloop then refused to close its loop, EBUSY)."""
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients: list[asyncio.StreamWriter] = []
    try:
        # The cut lands 0 to 11 loop iterations after the clients hung up: wherever the
        # balancer's tasks are by then, nothing may stay open.
        for iterations in range(12):
            balancer = Balancer([("127.0.0.1", port)])
            listening = await balancer.start()
            batch = []
            for _ in range(8):
                reader, writer = await asyncio.open_connection("127.0.0.1", listening)
                writer.write(b"hello")
                assert await reader.read(2) == b"ok"  # through to the upstream
                batch.append(writer)
            clients += batch
            for writer in batch:
                writer.close()
            for _ in range(iterations):
                await asyncio.sleep(0)
            await balancer.close()
            await eventually(lambda: upstream.closed == upstream.opened, timeout=3)
        assert upstream.opened == 96
    finally:
        for writer in clients:
            writer.close()
        server.close()
        await server.wait_closed()
