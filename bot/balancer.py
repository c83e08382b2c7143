"""A TCP load balancer for one machine: Rasa replicas behind one URL.

``python -m bot.balancer --port P --upstream 127.0.0.1:5101 --upstream ...``
hands each new connection to the next upstream in turn; an upstream that
refuses the connection (a replica that died, or still loads its model) is
skipped for that connection, so a dead replica costs nothing but the turns it
had in hand. Bytes are copied both ways untouched (HTTP keep-alive included).

Why hand-written: in a cluster this is the platform's job (a Kubernetes
Service, the load balancer in deploy/docker-compose.yml), and no balancer
(HAProxy, nginx) is installed on a developer's machine; this is the
stand-in ``python -m bot.run --scale N`` starts, in under two hundred lines.
Tests also use :class:`Balancer` as a proxy they can cut (:meth:`Balancer.cut`):
a Redis that goes away and comes back, without stopping the machine's Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal

logger = logging.getLogger(__name__)


class Balancer:
    """Round robin over ``upstreams`` ((host, port) pairs), skipping those that refuse."""

    def __init__(self, upstreams: list[tuple[str, int]], connect_timeout: float = 2.0) -> None:
        if not upstreams:
            raise ValueError("a balancer needs at least one upstream")
        self.upstreams = upstreams
        self.connect_timeout = connect_timeout
        self._turn = itertools.cycle(range(len(upstreams)))
        self._pipes: set[asyncio.Task[None]] = set()
        self.refusing = False
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listens on ``host:port`` (0: a free port); returns the port."""
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stops listening and drops the open connections."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.cut(refuse=False)

    async def cut(self, refuse: bool = True) -> None:
        """Drops every open connection; with ``refuse``, closes new ones at once too
        (the upstream looks gone) until :meth:`restore`."""
        self.refusing = refuse
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def restore(self) -> None:
        """Lets connections through again after :meth:`cut`."""
        self.refusing = False

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.upstreams)):
            host, port = self.upstreams[next(self._turn)]
            try:
                return await self._connect(host, port)
            except (OSError, asyncio.TimeoutError):
                logger.warning("balancer: %s:%d refused, trying the next", host, port)
        return None

    async def _connect(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """One connection to an upstream, or OSError / TimeoutError. Not ``wait_for``: on
        Python 3.10 a cancellation (a cut) landing as the connection completes loses the
        connection, open, to no one; here whatever opens after we gave up is closed."""
        connecting = asyncio.ensure_future(asyncio.open_connection(host, port))
        try:
            await asyncio.wait({connecting}, timeout=self.connect_timeout)
        except BaseException:
            _abandon(connecting)
            raise
        if not connecting.done():
            _abandon(connecting)
            raise asyncio.TimeoutError(f"no connection within {self.connect_timeout} s")
        return connecting.result()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream = None if self.refusing else await self._open()
            if upstream is None:
                return
            up_reader, up_writer = upstream
            pipes = {
                asyncio.ensure_future(_copy(reader, up_writer)),
                asyncio.ensure_future(_copy(up_reader, writer)),
            }
            try:
                # Either side closing ends both: a client's idle keep-alive connection to
                # a replica that died closes at once, so its pool drops it before reuse.
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                # Both closed before the next await: a cut (or close) cancelling this task
                # while the pipes wind down left the upstream connection open (an fd lost
                # per connection; uvloop's loop.close() then failed with EBUSY).
                up_writer.close()
                writer.close()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.discard(task)
            writer.close()


def _abandon(connecting: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    """Gives up on a connection being opened; closes it if it opens all the same."""

    def close_if_open(
        done: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result()[1].close()

    connecting.add_done_callback(close_if_open)
    connecting.cancel()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _main(port: int, upstreams: list[tuple[str, int]]) -> None:
    balancer = Balancer(upstreams)
    await balancer.start("127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await balancer.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True, type=_address)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_main(args.port, args.upstream))


if __name__ == "__main__":
    main()
