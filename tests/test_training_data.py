"""The training and test data: complete, consistent, apart, and valid for Rasa."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data

from bot.real_posts import near_copies, tweets_path
from tests.conftest import PROJECT_ROOT

REQUIRED_INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "praise",
    "complaint",
    "flight_delayed",
    "flight_cancelled",
    "flight_status",
    "baggage_issue",
    "booking_change",
    "refund_request",
    "product_question",
    "request_human",
    "bot_challenge",
    "out_of_scope",
}


def normalised(text: str) -> str:
    """Lower case without ASCII punctuation and extra spaces: near-identical texts compare equal."""
    return re.sub(r"\s+", " ", re.sub(r"[!-/:-@\[-`{-~]", "", text.lower())).strip()


@pytest.fixture(scope="module")
def train():  # type: ignore[no-untyped-def]
    return load_data(str(PROJECT_ROOT / "data" / "nlu.yml"))


@pytest.fixture(scope="module")
def test():  # type: ignore[no-untyped-def]
    return load_data(str(PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml"))


def counts(data) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(m.get("intent").split("/")[0] for m in data.intent_examples)


def test_every_intent_has_at_least_40_training_examples(train) -> None:  # type: ignore[no-untyped-def]
    found = counts(train)
    assert set(found) == REQUIRED_INTENTS
    assert min(found.values()) >= 40, found


def test_every_intent_has_at_least_15_test_examples(test) -> None:  # type: ignore[no-untyped-def]
    found = counts(test)
    assert set(found) == REQUIRED_INTENTS
    assert min(found.values()) >= 15, found


def test_no_duplicates_in_training_data(train) -> None:  # type: ignore[no-untyped-def]
    texts = Counter(normalised(m.get("text")) for m in train.intent_examples)
    assert [t for t, n in texts.items() if n > 1] == []


def test_no_test_example_is_in_the_training_data(train, test) -> None:  # type: ignore[no-untyped-def]
    trained = {normalised(m.get("text")) for m in train.intent_examples}
    leaked = [m.get("text") for m in test.intent_examples if normalised(m.get("text")) in trained]
    assert leaked == []


def test_entities_are_those_of_the_domain(train, test) -> None:  # type: ignore[no-untyped-def]
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for data in (train, test):
        used = {e["entity"] for m in data.intent_examples for e in m.get("entities") or []}
        assert used <= set(domain["entities"])
    assert {e["entity"] for m in train.intent_examples for e in m.get("entities") or []} == set(
        domain["entities"]
    )


def test_training_data_reads_like_social_media(train) -> None:  # type: ignore[no-untyped-def]
    texts = [m.get("text") for m in train.intent_examples]
    share = lambda pattern: sum(bool(re.search(pattern, t)) for t in texts) / len(texts)  # noqa: E731
    assert share(r"@\w+") > 0.05  # handles (DMs and Telegram have none)
    assert share(r"#\w+") > 0.03  # hashtags
    assert share(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]") > 0.06  # emoji
    # Shouting: real airline tweets have 5.4% (../shared/real_tweets), ours 4.5%.
    assert share(r"\b[A-Z]{4,}\b") > 0.04
    assert share(r"\b(pls|plz|thx|smh|rn|u|ur|tmrw|flt)\b") > 0.05  # abbreviations


def test_rasa_data_validate_has_no_warnings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "PATH": "/usr/bin:/bin",
            "HOME": str(PROJECT_ROOT),
        },
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = [line for line in output.splitlines() if "UserWarning" in line or "WARNING" in line]
    assert warnings == [], "\n".join(warnings)


@pytest.mark.skipif(
    not tweets_path().exists(), reason="needs ../shared/real_tweets beside the repo"
)
def test_no_training_example_copies_a_real_tweet(train) -> None:  # type: ignore[no-untyped-def]
    """The real tweets teach the register; the examples stay our own writing."""
    copies = near_copies([m.get("text") for m in train.intent_examples])
    assert copies == [], "\n".join(f"{c.similarity} {c.text} (tweet {c.tweet_id})" for c in copies)
