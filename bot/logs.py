"""Logging for the gateway: one line per record, and no secret ever printed."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from aiohttp.http_exceptions import HttpProcessingError

from bot.settings import Secret, Settings

# Telegram puts the bot token in every URL ("/bot<token>/sendMessage").
_TELEGRAM_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")


class SecretFilter(logging.Filter):
    """Replaces known secret values (and anything shaped like a bot token) with ***."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        self._values = sorted({s.reveal() for s in secrets if s.reveal()}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return _TELEGRAM_TOKEN.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if scrubbed != message or record.args:
            record.msg, record.args = scrubbed, None
        return True


class MalformedHttpFilter(logging.Filter):
    """aiohttp answers a request it cannot parse as HTTP (a line too long, a header with
    a control character) with 400, and logs it as an error with a traceback: a client's
    mistake, not ours. Kept as one line, a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "refused a malformed HTTP request: %s", (error.message,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def settings_secrets(settings: Settings) -> list[Secret]:
    """Every secret in the settings."""
    found: list[Secret] = []
    for group in (settings.telegram, settings.twitter, settings.slack):
        if group is None:
            continue
        found += [v for v in vars(group).values() if isinstance(v, Secret)]
    return found


def configure(settings: Settings, level: int = logging.INFO) -> SecretFilter:
    """Sets up the root logger with the secret filter on its handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secret_filter = SecretFilter(settings_secrets(settings))
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedHttpFilter) for f in server.filters):
        server.addFilter(MalformedHttpFilter())
    return secret_filter
