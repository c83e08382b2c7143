"""The gateway's settings, from the environment and an optional ``.env`` file.

A channel is on when its credentials are set; a channel with some but not all
of its required variables stops start-up with a message naming what is
missing. Secrets are :class:`Secret` values that never show in reprs or logs.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.brand import PROJECT_ROOT


class ConfigError(ValueError):
    """The configuration cannot work; the message says what to set."""


class Secret:
    """A credential: ``str(secret)`` and ``repr(secret)`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ConfigError("a secret cannot be empty")
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TelegramSettings:
    """Telegram bot credentials and how updates arrive."""

    token: Secret
    mode: str = "polling"  # or "webhook"
    webhook_url: str | None = None
    webhook_secret: Secret | None = None
    api_url: str = "https://api.telegram.org"
    poll_timeout: int = 30
    # Telegram asks bots not to send more than about one message a second to a chat.
    per_chat_interval: float = 1.0


@dataclass(frozen=True)
class TwitterSettings:
    """X/Twitter user-context credentials and the polling budget."""

    api_key: Secret
    api_secret: Secret
    access_token: Secret
    access_token_secret: Secret
    # Requests per 15-minute window the gateway may spend on polling mentions
    # and DMs together (the paid tiers' limits are per 15 minutes).
    requests_per_window: int = 30
    user_id: str | None = None


@dataclass(frozen=True)
class SlackSettings:
    """The agents' Slack app."""

    bot_token: Secret
    escalation_channel: str
    app_token: Secret | None = None  # Socket Mode
    signing_secret: Secret | None = None  # HTTP mode
    mode: str = "socket"  # or "http"
    agents_group: str | None = None  # user group whose members may act
    api_url: str = "https://slack.com/api/"


@dataclass(frozen=True)
class DeskSettings:
    """The agents' web desk: its accounts (name -> password hash, see bot/desk/agents.py)
    and the key that signs their session cookies (None: a new one each start)."""

    agents: dict[str, Secret]
    session_secret: Secret | None = None


# An agent's name (lowercase: never the same as a Slack user id) and an scrypt hash
# written by ``python -m bot.desk.agents hash``.
_AGENT = re.compile(
    r"([a-z0-9][a-z0-9._-]{0,31})=(scrypt:\d+:\d+:\d+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+)"
)


#: Where Prometheus finds the gateway's /metrics unless GATEWAY_METRICS_PORT says otherwise.
METRICS_PORT = 9188
#: Connections a report counts its turns on at once, on PostgreSQL (bot/analytics/parts.py).
ANALYTICS_PARTS = 2


@dataclass(frozen=True)
class Settings:
    """Everything the gateway needs to run."""

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'care.db'}"
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str | None = "http://127.0.0.1:5055"
    rasa_timeout: float = 10.0
    # Turns at Rasa at once (per gateway process); see bot/assistant.py.
    rasa_concurrency: int = 4
    # How long messages wait for an assistant that has not answered since the gateway
    # started (Rasa loading its model), before they go to a person.
    rasa_startup_seconds: float = 120.0
    # How long a message waits for a Rasa that did not start its turn (503: its lock
    # store is away, docs/scaling.md), counted from when it was stored, before a person.
    rasa_wait_seconds: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8000
    # Prometheus /metrics on a port of its own (bot/analytics/live.py); None: off.
    # load_settings turns it on (GATEWAY_METRICS_PORT, default 9188; 0 is off).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # Stable across restarts, so a restarted worker takes its own leases and
    # claims back at once; unique per gateway process on a host.
    worker_id: str = field(default_factory=lambda: f"gw-{socket.gethostname()}")
    lease_seconds: float = 15.0
    max_body_bytes: int = 1_000_000
    # A report's turns are counted in this many parts at once on PostgreSQL: about
    # one per core the database server can spare (docs/analytics.md, "Benchmark").
    analytics_parts: int = ANALYTICS_PARTS
    telegram: TelegramSettings | None = None
    twitter: TwitterSettings | None = None
    slack: SlackSettings | None = None
    desk: DeskSettings | None = None  # the web desk, on when agents are configured

    def channels(self) -> list[str]:
        """Names of the channels that are on (the web chat always is)."""
        on = ["webchat"]
        on += [name for name in ("telegram", "twitter") if getattr(self, name) is not None]
        return on


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a .env file; ``#`` comments, optional quotes, no expansion."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :]
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class _Env:
    """Looks variables up and remembers which of a group are missing."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, "").strip()
        return value or default

    def group(self, title: str, required: list[str], optional: list[str]) -> dict[str, str] | None:
        """The group's values if it is configured, None if not; an error if half."""
        present = {name: self.get(name) for name in required + optional}
        if not any(present.values()):
            return None
        missing = [name for name in required if not present[name]]
        if missing:
            raise ConfigError(
                f"{title} is partly configured: set {', '.join(missing)} "
                f"(or unset the other {title} variables to turn it off)"
            )
        return {name: value for name, value in present.items() if value}

    def number(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _at_least_one(env: _Env, name: str, default: int) -> int:
    value = env.number(name, default)
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise ConfigError(f"{name} must be a whole number of at least 1, not {env.get(name)!r}")
    return int(value)


def _seconds(env: _Env, name: str, default: float) -> float:
    value = env.number(name, default)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a number of seconds, not {env.get(name)!r}")
    return value


def _telegram(env: _Env) -> TelegramSettings | None:
    group = env.group(
        "Telegram",
        ["TELEGRAM_BOT_TOKEN"],
        ["TELEGRAM_MODE", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_URL"],
    )
    if group is None:
        return None
    mode = group.get("TELEGRAM_MODE", "polling")
    if mode not in ("polling", "webhook"):
        raise ConfigError(f"TELEGRAM_MODE must be 'polling' or 'webhook', not {mode!r}")
    if mode == "webhook":
        missing = [n for n in ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET") if n not in group]
        if missing:
            raise ConfigError(f"Telegram webhook mode needs {', '.join(missing)}")
    secret = group.get("TELEGRAM_WEBHOOK_SECRET")
    return TelegramSettings(
        token=Secret(group["TELEGRAM_BOT_TOKEN"]),
        mode=mode,
        webhook_url=group.get("TELEGRAM_WEBHOOK_URL"),
        webhook_secret=Secret(secret) if secret else None,
        api_url=group.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/"),
        per_chat_interval=env.number("TELEGRAM_PER_CHAT_INTERVAL", 1.0),
    )


def _twitter(env: _Env) -> TwitterSettings | None:
    required = [
        "TWITTER_API_KEY",
        "TWITTER_API_SECRET",
        "TWITTER_ACCESS_TOKEN",
        "TWITTER_ACCESS_TOKEN_SECRET",
    ]
    group = env.group("Twitter/X", required, ["TWITTER_USER_ID"])
    if group is None:
        return None
    budget = int(env.number("TWITTER_REQUESTS_PER_15_MIN", 30))
    if budget < 2:
        raise ConfigError("TWITTER_REQUESTS_PER_15_MIN must be at least 2 (mentions and DMs)")
    return TwitterSettings(
        api_key=Secret(group["TWITTER_API_KEY"]),
        api_secret=Secret(group["TWITTER_API_SECRET"]),
        access_token=Secret(group["TWITTER_ACCESS_TOKEN"]),
        access_token_secret=Secret(group["TWITTER_ACCESS_TOKEN_SECRET"]),
        requests_per_window=budget,
        user_id=group.get("TWITTER_USER_ID"),
    )


def _slack(env: _Env) -> SlackSettings | None:
    group = env.group(
        "Slack",
        ["SLACK_BOT_TOKEN", "SLACK_ESCALATION_CHANNEL"],
        [
            "SLACK_APP_TOKEN",
            "SLACK_SIGNING_SECRET",
            "SLACK_MODE",
            "SLACK_AGENTS_GROUP",
            "SLACK_API_URL",
        ],
    )
    if group is None:
        return None
    mode = group.get("SLACK_MODE", "socket")
    if mode == "socket" and "SLACK_APP_TOKEN" not in group:
        raise ConfigError("Slack Socket Mode needs SLACK_APP_TOKEN (or set SLACK_MODE=http)")
    if mode == "http" and "SLACK_SIGNING_SECRET" not in group:
        raise ConfigError("Slack HTTP mode needs SLACK_SIGNING_SECRET")
    if mode not in ("socket", "http"):
        raise ConfigError(f"SLACK_MODE must be 'socket' or 'http', not {mode!r}")
    return SlackSettings(
        bot_token=Secret(group["SLACK_BOT_TOKEN"]),
        escalation_channel=group["SLACK_ESCALATION_CHANNEL"],
        app_token=Secret(group["SLACK_APP_TOKEN"]) if "SLACK_APP_TOKEN" in group else None,
        signing_secret=(
            Secret(group["SLACK_SIGNING_SECRET"]) if "SLACK_SIGNING_SECRET" in group else None
        ),
        mode=mode,
        agents_group=group.get("SLACK_AGENTS_GROUP"),
        api_url=group.get("SLACK_API_URL", "https://slack.com/api/"),
    )


def _desk(env: _Env) -> DeskSettings | None:
    raw = env.get("DESK_AGENTS")
    secret = env.get("DESK_SESSION_SECRET")
    if raw is None:
        return None
    agents: dict[str, Secret] = {}
    for entry in raw.split(","):
        found = _AGENT.fullmatch(entry.strip())
        if found is None:
            name = entry.strip().partition("=")[0]
            raise ConfigError(
                f"DESK_AGENTS: {name!r} is not NAME=HASH (a lowercase name, and a hash from "
                "`python -m bot.desk.agents hash`), comma separated"
            )
        agents[found.group(1)] = Secret(found.group(2))
    if secret is not None and len(secret) < 32:
        raise ConfigError("DESK_SESSION_SECRET must be at least 32 characters")
    return DeskSettings(agents, Secret(secret) if secret else None)


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = PROJECT_ROOT / ".env"
) -> Settings:
    """Settings from ``environ`` (default: the process environment) over the .env file
    (``GATEWAY_DOTENV`` names another; set to nothing, none is read)."""
    given = environ if environ is not None else os.environ
    if "GATEWAY_DOTENV" in given:
        dotenv = Path(given["GATEWAY_DOTENV"]) if given["GATEWAY_DOTENV"].strip() else None
    values = {**(read_dotenv(dotenv) if dotenv else {}), **given}
    env = _Env(values)
    defaults = Settings()
    return Settings(
        database_url=env.get("CARE_DATABASE_URL", defaults.database_url) or defaults.database_url,
        rasa_url=(env.get("RASA_URL", defaults.rasa_url) or defaults.rasa_url).rstrip("/"),
        action_server_url=env.get("ACTION_SERVER_URL", defaults.action_server_url),
        rasa_timeout=env.number("RASA_TIMEOUT_SECONDS", defaults.rasa_timeout),
        rasa_concurrency=_at_least_one(env, "RASA_CONCURRENCY", defaults.rasa_concurrency),
        rasa_startup_seconds=_seconds(env, "RASA_STARTUP_SECONDS", defaults.rasa_startup_seconds),
        rasa_wait_seconds=_seconds(env, "RASA_WAIT_SECONDS", defaults.rasa_wait_seconds),
        host=env.get("GATEWAY_HOST", defaults.host) or defaults.host,
        port=int(env.number("GATEWAY_PORT", defaults.port)),
        metrics_host=env.get("GATEWAY_METRICS_HOST", defaults.metrics_host)
        or defaults.metrics_host,
        metrics_port=int(env.number("GATEWAY_METRICS_PORT", METRICS_PORT)) or None,
        worker_id=env.get("GATEWAY_WORKER_ID")
        or f"{defaults.worker_id}-{int(env.number('GATEWAY_PORT', defaults.port))}",
        lease_seconds=env.number("GATEWAY_LEASE_SECONDS", defaults.lease_seconds),
        analytics_parts=_at_least_one(env, "ANALYTICS_PARTS", defaults.analytics_parts),
        telegram=_telegram(env),
        twitter=_twitter(env),
        slack=_slack(env),
        desk=_desk(env),
    )
