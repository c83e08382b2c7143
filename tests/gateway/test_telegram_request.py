"""python-telegram-bot on our aiohttp transport, against the fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram import _seconds
from bot.channels.telegram_request import AiohttpRequest
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.gateway.conftest import TELEGRAM_TOKEN, serve


class FilesTelegram(FakeTelegram):
    """The fake, plus sendDocument (the gateway sends no files; PTB may)."""

    documents: list[dict[str, Any]]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.documents = []
        self.delay = 0.0

    async def _api_sendDocument(self, params: dict[str, Any]) -> web.Response:
        upload = params["document"]
        self.documents.append(
            {
                "chat_id": params["chat_id"],
                "caption": params.get("caption"),
                "filename": upload.filename,
                "content_type": upload.content_type,
                "content": upload.file.read(),
            }
        )
        upload.file.close()
        return self._ok(
            {
                "message_id": 7,
                "date": 0,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "document": {"file_id": "f", "file_unique_id": "u"},
            }
        )

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        await asyncio.sleep(self.delay)
        return await super()._api_getMe(params)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[FilesTelegram, str]]:
    fake = FilesTelegram(TELEGRAM_TOKEN)
    runner, port = await serve(fake.app())
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def bot_for(url: str, token: str = TELEGRAM_TOKEN, read_timeout: float = 5.0) -> Bot:
    return Bot(
        token,
        base_url=f"{url}/bot",
        request=AiohttpRequest(4, connect_timeout=2, read_timeout=read_timeout),
        get_updates_request=AiohttpRequest(1, connect_timeout=2, read_timeout=read_timeout),
    )


async def test_calls_and_their_errors_come_back_as_ptb_gives_them(
    api: tuple[FilesTelegram, str],
) -> None:
    fake, url = api
    async with bot_for(url) as bot:
        assert bot.username == BOT_USERNAME
        sent = await bot.send_message(chat_id=5, text="héllo 👋 & <b>")
        assert sent.message_id == fake.sent[-1]["message_id"]
        assert fake.sent[-1]["text"] == "héllo 👋 & <b>"
        fake.flood_waits.append(3)
        with pytest.raises(RetryAfter) as waited:
            await bot.send_message(chat_id=5, text="again")
        assert _seconds(waited.value.retry_after) == 3
    with pytest.raises(InvalidToken):
        async with bot_for(url, token="999:wrong-token-abcdefghijklmnopqrst"):
            pass


async def test_files_go_as_multipart_with_their_name_and_type(
    api: tuple[FilesTelegram, str],
) -> None:
    fake, url = api
    async with bot_for(url) as bot:
        await bot.send_document(
            chat_id=5, document=b"line one\nline two\n", filename="notes.txt", caption="your notes"
        )
    [document] = fake.documents
    assert document["content"] == b"line one\nline two\n"
    assert document["filename"] == "notes.txt"
    assert document["caption"] == "your notes"
    assert document["content_type"] == "text/plain"


async def test_an_api_that_does_not_answer_in_time_is_a_timeout(
    api: tuple[FilesTelegram, str],
) -> None:
    fake, url = api
    bot = bot_for(url, read_timeout=0.3)
    fake.delay = 2.0
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimedOut):
        await bot.initialize()  # getMe
    assert asyncio.get_running_loop().time() - started < 1.5
    await bot.shutdown()


async def test_an_unreachable_api_is_a_network_error_that_does_not_show_the_token() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = bot_for(f"http://127.0.0.1:{port}")
    with pytest.raises(NetworkError) as failed:
        await bot.initialize()
    assert not isinstance(failed.value, TimedOut)
    assert TELEGRAM_TOKEN not in str(failed.value)
    assert TELEGRAM_TOKEN.split(":")[1] not in str(failed.value)
    await bot.shutdown()


async def test_the_transport_starts_and_stops_more_than_once() -> None:
    request = AiohttpRequest()
    await request.initialize()
    await request.initialize()
    await request.shutdown()
    await request.shutdown()
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:9/", "GET")
