"""Start-up configuration: channels turn on with their credentials, half a channel stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.brand import PROJECT_ROOT
from bot.settings import ConfigError, Settings, load_settings

TWITTER = {
    "TWITTER_API_KEY": "tw-key-1234567890",
    "TWITTER_API_SECRET": "tw-secret-1234567890",
    "TWITTER_ACCESS_TOKEN": "tw-token-1234567890",
    "TWITTER_ACCESS_TOKEN_SECRET": "tw-token-secret-1234567890",
}


def settings(**environ: str) -> Settings:
    return load_settings(environ, dotenv=None)


def test_without_credentials_only_the_web_chat_is_on() -> None:
    assert settings().channels() == ["webchat"]


def test_a_configured_channel_is_on() -> None:
    on = settings(TELEGRAM_BOT_TOKEN="1:abc", **TWITTER)
    assert on.channels() == ["webchat", "telegram", "twitter"]
    assert on.twitter is not None and on.twitter.api_key.reveal() == "tw-key-1234567890"


@pytest.mark.parametrize("left_out", sorted(TWITTER))
def test_a_half_configured_channel_names_what_is_missing(left_out: str) -> None:
    partial = {k: v for k, v in TWITTER.items() if k != left_out}
    with pytest.raises(ConfigError, match=left_out) as error:
        settings(**partial)
    assert "Twitter/X" in str(error.value)


def test_telegram_webhook_mode_needs_its_url_and_secret() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET"):
        settings(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_MODE="webhook")
    with pytest.raises(ConfigError, match="TELEGRAM_MODE"):
        settings(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_MODE="carrier-pigeon")


def test_slack_names_the_token_its_mode_needs() -> None:
    slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_ESCALATION_CHANNEL": "C1"}
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        settings(**slack)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        settings(**slack, SLACK_MODE="http")
    with pytest.raises(ConfigError, match="SLACK_ESCALATION_CHANNEL"):
        settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport RASA_URL='http://rasa.internal:5005/'\nRASA_TIMEOUT_SECONDS=7\n"
    )
    read = load_settings({"RASA_TIMEOUT_SECONDS": "12"}, dotenv=dotenv)
    assert (read.rasa_url, read.rasa_timeout) == ("http://rasa.internal:5005", 12.0)
    dotenv.write_text("RASA_URL\n")
    with pytest.raises(ConfigError, match=r"\.env:1: expected KEY=value"):
        load_settings({}, dotenv=dotenv)


def test_gateway_dotenv_names_the_file_or_turns_it_off(tmp_path: Path) -> None:
    other = tmp_path / "other.env"
    other.write_text("RASA_TIMEOUT_SECONDS=4\n")
    assert load_settings({"GATEWAY_DOTENV": str(other)}).rasa_timeout == 4.0
    assert load_settings({"GATEWAY_DOTENV": ""}, dotenv=other).rasa_timeout == 10.0


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "inf", "nan"])
def test_rasa_concurrency_must_be_a_whole_number_of_at_least_one(value: str) -> None:
    with pytest.raises(ConfigError, match="RASA_CONCURRENCY"):
        settings(RASA_CONCURRENCY=value)
    assert settings(RASA_CONCURRENCY="8").rasa_concurrency == 8


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "all", "inf"])
def test_a_reports_parts_are_a_whole_number_of_at_least_one(value: str) -> None:
    with pytest.raises(ConfigError, match="ANALYTICS_PARTS"):
        settings(ANALYTICS_PARTS=value)
    assert settings(ANALYTICS_PARTS="4").analytics_parts == 4
    assert settings().analytics_parts == 2


@pytest.mark.parametrize("value", ["-1", "inf", "nan", "soon"])
def test_the_assistants_start_up_time_is_a_number_of_seconds(value: str) -> None:
    with pytest.raises(ConfigError, match="RASA_STARTUP_SECONDS"):
        settings(RASA_STARTUP_SECONDS=value)
    assert settings(RASA_STARTUP_SECONDS="45").rasa_startup_seconds == 45.0
    assert settings().rasa_startup_seconds == 120.0


def test_secrets_never_show_in_the_settings() -> None:
    shown = repr(settings(TELEGRAM_BOT_TOKEN="1:very-secret-token", **TWITTER))
    assert "very-secret-token" not in shown
    assert not any(value in shown for value in TWITTER.values())


def test_start_up_stops_on_a_half_configured_channel_and_says_what_to_set(
    tmp_path: Path,
) -> None:
    partial = {k: v for k, v in TWITTER.items() if k != "TWITTER_ACCESS_TOKEN_SECRET"}
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT_ROOT),
        "GATEWAY_DOTENV": "",  # not the developer's .env
        "CARE_DATABASE_URL": f"sqlite:///{tmp_path / 'care.db'}",
        **partial,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.gateway"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TWITTER_ACCESS_TOKEN_SECRET" in done.stderr
    assert not any(value in done.stderr + done.stdout for value in partial.values())
