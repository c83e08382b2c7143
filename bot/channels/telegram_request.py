"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

PTB lets the transport be replaced (``telegram.request.BaseRequest``); the
Bot, its methods, its error mapping (429 → ``RetryAfter``, 403 →
``Forbidden``...) and its parsing stay PTB's own. We swap the transport for
one reason, measured (docs/gateway.md): httpx with httpcore costs about
2 ms of CPU per Bot API call on these machines, aiohttp (already the
gateway's client for Rasa and its web server) a fraction of that, and a
turn makes two calls (the update arrives by getUpdates, the reply leaves by
sendMessage) on the cores Rasa needs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: PTB's "not given" marker's type, reached through its public API (the class itself
#: lives in a private module).
_NOT_GIVEN = type(BaseRequest.DEFAULT_NONE)


def _or_default(value: Any, default: float | None) -> float | None:
    """A per-call timeout, or this transport's own when the call left it to us."""
    return default if isinstance(value, _NOT_GIVEN) else value


class AiohttpRequest(BaseRequest):
    """A pool of keep-alive connections to the Bot API, on aiohttp.

    Timeouts mean what they mean in PTB's own transport: ``connect`` to get a
    connection (from the pool or new), ``read`` for the answer to arrive
    (getUpdates' long poll needs more than its ``timeout`` parameter).
    """

    def __init__(
        self,
        connections: int = 256,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 10.0,
        write_timeout: float | None = 10.0,
    ) -> None:
        self._connections = connections
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The read timeout PTB adds to getUpdates' long-poll time."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Opens the connection pool (idempotent: PTB may call it more than once)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Closes the pool (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Makes one call; PTB turns the status and body into a result or an error."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _or_default(read_timeout, self._read_timeout)
        write = _or_default(write_timeout, self._write_timeout)
        connect = _or_default(connect_timeout, self._connect_timeout)
        pool = _or_default(pool_timeout, None)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout of its own: the whole call is bounded
            # by the sum, and the answer by the read timeout once it is sent.
            total=None if None in (connect, write, read) else connect + write + read,  # type: ignore[operator]
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as error:
            raise TimedOut() from error
        except aiohttp.ClientError as error:
            # The URL holds the bot token: it stays out of the message (which is
            # logged and kept with a failed reply).
            detail = str(error).replace(url, "<Bot API URL>")
            raise NetworkError(f"aiohttp.{type(error).__name__}: {detail}") from error


def _body(request_data: RequestData | None) -> Any:
    """Form fields as PTB encodes them (JSON values), multipart when files go along."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters or None
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
