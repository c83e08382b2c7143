"""Telegram, with python-telegram-bot: long polling by default, or a webhook.

Polling is our own loop around ``getUpdates`` rather than PTB's ``Updater``:
the updates of a batch are stored (with the next offset) in one transaction
before the next ``getUpdates`` call confirms them to Telegram, so a gateway
killed at any moment loses nothing and a redelivered update is recognised by
its ``update_id``. Each update is read on its own, in polling and webhook mode
alike (:meth:`TelegramChannel.read`): checked against strict models first, and
one that cannot be read is set aside with its raw payload (bot/conversation/ingest.py).

Private chats are private conversations; in groups the bot answers only
messages that mention it or reply to it, one conversation per member, in
public. Photos, stickers, voice notes, locations and the like get a polite
"text only, please" (a caption is read as text); edited messages, channel
posts and other update kinds are ignored on purpose. A tap on a satisfaction
question's button (a ``callback_query``) is a rating, recorded before its
update is confirmed (bot/channels/telegram_rating.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import urllib.parse
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from telegram import Bot, Message, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.brand import Brand
from bot.channels import telegram_rating, telegram_update
from bot.channels.telegram_rating import Tapped
from bot.channels.telegram_request import AiohttpRequest
from bot.contract import Visibility
from bot.conversation.csat import Ratings
from bot.conversation.ingest import Intake, StoreUnavailable
from bot.edge import read_json
from bot.messages import (
    CANNOT_TELL,
    CustomerRef,
    InboundMessage,
    OutboundReply,
    SendError,
    SentLookup,
    Unreadable,
    display,
)
from bot.settings import ConfigError, TelegramSettings
from bot.text import clean_text

logger = logging.getLogger(__name__)

NAME = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SEND_CONNECTIONS = 256  # to the Bot API for sending (python-telegram-bot's default pool)
MEDIA_KINDS = (
    "photo",
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "document",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)


def _kind(message: Message) -> str:
    if message.text is not None:
        return "text"
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return kind
    return "other"


def _seconds(value: timedelta | float | int) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    """Converts Telegram updates to our messages and sends our replies."""

    name = NAME

    def __init__(
        self,
        settings: TelegramSettings,
        intake: Intake,
        brand: Brand,
        ratings: Ratings,
    ) -> None:
        self.settings = settings
        self.intake = intake
        self.brand = brand
        self.ratings = ratings
        api = settings.api_url.rstrip("/")
        # Every connection of a burst stays alive for the next replies.
        self._requests = (
            AiohttpRequest(SEND_CONNECTIONS, connect_timeout=5, read_timeout=10),
            AiohttpRequest(1, connect_timeout=5, read_timeout=settings.poll_timeout + 10),
        )
        self.bot = Bot(
            settings.token.reveal(),
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self._poller: asyncio.Task[None] | None = None
        self._connected = False

    # ---------------------------------------------------------- life cycle
    async def start(self) -> None:
        """Checks the token (getMe), then polls or registers the webhook.

        A token Telegram refuses stops start-up (:class:`ConfigError`). Telegram
        out of reach does not: the other channels start, and this one keeps
        trying in the background.
        """
        connected = False
        try:
            await self._connect()
            connected = True
        except InvalidToken:
            # Not the error's text: python-telegram-bot puts the token in it.
            await self.stop()
            raise ConfigError(
                "Telegram refused TELEGRAM_BOT_TOKEN (check it, and TELEGRAM_API_URL if set)"
            ) from None
        except TelegramError as error:
            logger.warning("telegram: not reachable at start-up (%s); retrying", error)
        self._connected = connected
        self._poller = asyncio.create_task(self._run(connected), name="telegram")
        self._poller.add_done_callback(_log_end)

    async def _run(self, connected: bool) -> None:
        failures = 0
        while not connected:
            try:
                await self._connect()
                connected = True
            except InvalidToken:  # revoked since start-up: nothing to retry
                logger.error("telegram: Telegram refused TELEGRAM_BOT_TOKEN; channel off")
                return
            except TelegramError as error:
                failures += 1
                delay = min(60.0, 2.0**failures)
                logger.warning("telegram: set-up failed (%s); retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
        self._connected = True
        logger.info("telegram: @%s on (%s)", self.bot.username, self.settings.mode)
        if self.settings.mode != "webhook":
            await self._poll_forever()

    async def _connect(self) -> None:
        await self.bot.initialize()
        if self.settings.mode == "webhook":
            assert self.settings.webhook_url and self.settings.webhook_secret
            await self.bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret.reveal(),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await self.bot.delete_webhook()

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.bot.shutdown()
        # An initialisation that failed leaves the requests open (the bot only
        # shuts down what it initialised); closing twice is harmless.
        for request in self._requests:
            await request.shutdown()

    # ------------------------------------------------------------- polling
    async def _poll_forever(self) -> None:
        offset: int | None = None
        read_cursor = True
        failures = 0
        while True:
            try:
                if read_cursor:
                    stored = await self.intake.cursor(NAME, "offset")
                    offset, read_cursor = (int(stored) if stored else None), False
                offset = await self._poll_once(offset)
                failures = 0
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after))
            except Exception as error:
                # Telegram unreachable, or the store failing: the batch was not
                # stored, so the offset stays and the next poll fetches it again.
                failures += 1
                delay = min(60.0, 2.0**failures)
                logger.warning(
                    "telegram: polling failed (%s: %s); retrying in %.0f s",
                    type(error).__name__,
                    error,
                    delay,
                    exc_info=not isinstance(error, TelegramError),
                )
                await asyncio.sleep(delay)

    async def _get_updates(self, offset: int | None) -> list[Any]:
        """One getUpdates call; the updates as Telegram sent them.

        Not ``Bot.get_updates``: it builds every update of the batch at once, and
        one it cannot build fails the call, so the same batch would come back
        forever and hold up every update after it. Here each update is read on
        its own (:meth:`read`). The call goes through the same transport and
        python-telegram-bot's error mapping (429 is ``RetryAfter``...).
        """
        params: dict[str, Any] = {
            "timeout": self.settings.poll_timeout,
            "allowed_updates": json.dumps(ALLOWED_UPDATES),
        }
        if offset is not None:
            params["offset"] = offset
        result = await self._requests[1].post(
            f"{self.bot.base_url}/getUpdates?{urllib.parse.urlencode(params)}",
            read_timeout=self.settings.poll_timeout + 10,
        )
        return result if isinstance(result, list) else []

    async def _poll_once(self, offset: int | None) -> int | None:
        """One getUpdates; stores the batch with its next offset, which it returns."""
        updates = await self._get_updates(offset)
        ids = [u["update_id"] for u in updates if _has_id(u)]
        if not ids:
            return offset
        following = max(ids) + 1
        messages: list[InboundMessage] = []
        taps: list[Tapped] = []
        unreadable: list[Unreadable] = []
        for raw in updates:
            reading = self.read(raw)
            if isinstance(reading, InboundMessage):
                messages.append(reading)
            elif isinstance(reading, Tapped):
                taps.append(reading)
            elif reading is not None:
                unreadable.append(reading)
        # Taps are recorded before the offset moves past them (again after a crash in
        # between: harmless, a tap is recorded once).
        outcomes = [await telegram_rating.record(self.ratings, tap) for tap in taps]
        # Stored, with the offset, before the next getUpdates confirms them.
        await self.intake.accept(messages, (NAME, "offset", str(following)), unreadable)
        for tap, outcome in zip(taps, outcomes, strict=True):
            await telegram_rating.acknowledge(self.bot, tap, outcome, self.ratings)
        # Let the handling of these messages start before the next poll is built.
        await asyncio.sleep(0)
        return following

    def read(self, raw: Any) -> InboundMessage | Tapped | Unreadable | None:
        """Our message (or a rating's tap) for an update as Telegram sent it; None for what
        we ignore on purpose; :class:`Unreadable` for one that cannot be read (retrying it
        could never succeed, and would hold up every update after it)."""
        try:
            checked = telegram_update.check(raw)
            if checked.callback_query is not None:
                return telegram_rating.read(checked.callback_query, NAME)
            return self.to_inbound(Update.de_json(raw, self.bot))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as error:
            platform_id = raw.get("update_id") if isinstance(raw, dict) else None
            why = f"{type(error).__name__}: {error}"[:300]
            logger.warning("telegram: update %s cannot be read: %s", platform_id, why)
            return Unreadable(NAME, str(platform_id), raw, why)

    # ------------------------------------------------------------- webhook
    async def webhook(self, request: web.Request) -> web.Response:
        """Stores one update; 403 without the right secret token."""
        if self.settings.mode != "webhook":
            raise web.HTTPNotFound()
        if not self._connected:
            # Group updates need the bot's own name and id (getMe): Telegram retries a 503.
            return web.json_response({"error": "starting"}, status=503)
        expected = self.settings.webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if expected is None or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.reveal().encode()
        ):
            return web.json_response({"error": "forbidden"}, status=403)
        data = await read_json(request)  # 400 unless JSON of a sane depth; 413 if too big
        telegram_update.update_id(data)  # 400 unless it is an update at all
        reading = self.read(data)
        try:
            if isinstance(reading, InboundMessage):
                await self.intake.accept([reading])
            elif isinstance(reading, Tapped):
                outcome = await telegram_rating.record(self.ratings, reading)
                await telegram_rating.acknowledge(self.bot, reading, outcome, self.ratings)
            elif reading is not None:
                await self.intake.accept([], unreadable=[reading])
        except StoreUnavailable:
            # Telegram sends it again later: nothing of it was stored.
            return web.json_response({"error": "the store is unavailable"}, status=503)
        # Answered 200 also when it was set aside: sent again, it would be set aside again.
        return web.json_response({"ok": True})

    # ---------------------------------------------------------- conversion
    def to_inbound(self, update: Update) -> InboundMessage | None:
        """Our message for an update, or None for what we ignore on purpose."""
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return None
        chat = message.chat
        text = clean_text(message.text if message.text is not None else (message.caption or ""))
        if chat.type == "private":
            place, visibility = f"chat:{chat.id}", Visibility.PRIVATE
        elif chat.type in ("group", "supergroup"):
            if not self._addressed_to_bot(message):
                return None
            # Addressing, not words: a message of only the handle is empty (and
            # answered as such, bot/own_answers.py).
            handle = re.compile(rf"@{re.escape(self.bot.username)}\b", re.IGNORECASE)
            text = handle.sub("", text).strip()
            place, visibility = f"group:{chat.id}:{message.from_user.id}", Visibility.PUBLIC
        else:
            return None
        user = message.from_user
        return InboundMessage(
            channel=NAME,
            platform_message_id=str(update.update_id),
            place=place,
            visibility=visibility,
            customer=CustomerRef(str(user.id), display(user.username, 64), display(user.full_name)),
            text=text,
            kind=_kind(message),
            reply_to_platform_id=str(message.message_id),
            sent_at=message.date,
            raw=update.to_dict(),
        )

    def _addressed_to_bot(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is not None and replied.from_user and replied.from_user.id == self.bot.id:
            return True
        mention = f"@{self.bot.username}".lower()
        return mention in (message.text or message.caption or "").lower()

    # ------------------------------------------------------------- sending
    def _chat_id(self, reply: OutboundReply) -> int:
        return int(reply.place.split(":")[1])

    async def send(self, reply: OutboundReply) -> str:
        """Sends a reply; in a group it answers the customer's message."""
        text = reply.text
        reply_to = None
        if reply.visibility == Visibility.PUBLIC:
            reply_to = int(reply.reply_to_platform_id) if reply.reply_to_platform_id else None
            if reply.invite_private:
                link = f"https://t.me/{self.bot.username}"
                text = f"{text}\n{self.brand.message('invite_private_link', link=link)}"
        kwargs: dict[str, Any] = {}
        buttons = telegram_rating.keyboard(reply.extra)  # a satisfaction question's
        if buttons is not None:
            kwargs["reply_markup"] = buttons
        if reply_to is not None:
            kwargs["reply_to_message_id"] = reply_to
            kwargs["allow_sending_without_reply"] = True
        try:
            sent = await self.bot.send_message(self._chat_id(reply), text, **kwargs)
        except RetryAfter as error:
            raise SendError(str(error), retry_after=_seconds(error.retry_after)) from error
        except (Forbidden, BadRequest) as error:
            raise SendError(f"{type(error).__name__}: {error}", permanent=True) from error
        except TelegramError as error:  # network errors, timeouts, 5xx
            raise SendError(f"{type(error).__name__}: {error}", maybe_sent=True) from error
        # A Telegram message id counts within its chat: only with the chat is it unique.
        return f"{sent.chat_id}:{sent.message_id}"

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        """The Bot API cannot list a bot's sent messages: unknown."""
        return CANNOT_TELL


def _has_id(raw: Any) -> bool:
    value = raw.get("update_id") if isinstance(raw, dict) else None
    return type(value) is int and 0 <= value <= telegram_update.Counter.le


def _log_end(task: asyncio.Task[None]) -> None:
    """The channel's task ends only when stopped, or on a refused token (logged there)."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("telegram: channel stopped", exc_info=task.exception())
