"""The import's pruned model run suggests what the full model's parse says.

The archive import runs only the components a suggestion reads
(bot/review/suggestion_run.py); here its intent, confidence and runner-up
(with the response selector's sub-intent) are compared with the shipped
model's full graph, batched as the evaluation runs it and one message at a
time as ``Agent.parse_message`` answers a live message, on the held-out test
set's messages and on posts an archive holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot.contract import INTENT_ALSO
from bot.evaluation import load_agent, nlu_messages
from bot.model import MODEL_PATH
from bot.real_posts import FALLBACK
from bot.review.suggest import Suggestion, reading, suggestion_of
from bot.review.suggestion_run import SuggestionRun

pytestmark = [pytest.mark.model, pytest.mark.slow]

TEST_FILE = Path(__file__).parents[1] / "nlu" / "test_nlu.yml"
#: What archives hold besides ordinary requests.
ARCHIVE_POSTS = [
    "😡😡😡",
    "?!",
    "/greet",
    "@NorthwindAir",
    "my flight NW 1234 from Oslo is 4 hours late " + "and nobody answers the phone " * 30,
    "hoy mi vuelo NW 88 a Madrid fue cancelado, ¿qué hago?",
    "can I bring my cat in the cabin to Lisbon and is there wifi on board",
    "BOOKING QX7K2P CHANGE TO FRIDAY PLS",
]


def _texts() -> list[str]:
    examples = load_data(str(TEST_FILE)).intent_examples
    # Every seventh message: each intent, the product questions' sub-intents among them.
    return [str(e.get("text")) for e in examples[::7]] + ARCHIVE_POSTS


@pytest.fixture(scope="module")
def agent() -> Any:
    if not MODEL_PATH.exists():
        pytest.fail(f"{MODEL_PATH} is missing: run `make model` (or `make test`, which trains it)")
    return load_agent(MODEL_PATH)


def _same(fast: Suggestion, full: tuple[Any, ...], text: str) -> None:
    intent, confidence, runner_up, runner_up_confidence = full
    assert (fast.intent, fast.runner_up) == (intent, runner_up), text
    assert fast.confidence == pytest.approx(confidence, abs=1e-5), text
    assert fast.runner_up_confidence == pytest.approx(runner_up_confidence, abs=1e-5), text


def test_the_pruned_run_suggests_what_the_full_graph_parses(agent: Any) -> None:
    texts = _texts()
    run = SuggestionRun(agent)
    fast = [suggestion_of(m) for m in run.messages(texts)]
    full = [suggestion_of(m) for m in nlu_messages(agent, texts)]
    assert len(fast) == len(full) == len(texts)
    for text, mine, theirs in zip(texts, fast, full, strict=True):
        _same(
            mine,
            (theirs.intent, theirs.confidence, theirs.runner_up, theirs.runner_up_confidence),
            text,
        )
        # The same sentence vector, which groups the posts.
        np.testing.assert_allclose(mine.vector, theirs.vector, atol=1e-5, err_msg=text)
    shown = {s.intent for s in fast} | {s.runner_up for s in fast}
    # The comparison covered what differs between the runs: sub-intents chosen by the
    # response selector, which runs only for them.
    assert any(name and name.startswith("product_question/") for name in shown)
    assert len({s.intent for s in fast}) >= 12


async def test_the_pruned_run_suggests_what_a_live_parse_answers(agent: Any) -> None:
    texts = _texts()[::2]
    fast = [suggestion_of(m) for m in SuggestionRun(agent).messages(texts)]
    for text, mine in zip(texts, fast, strict=True):
        _same(mine, reading(await agent.parse_message(text)), text)


def test_entities_and_second_intents_are_left_out_and_the_selector_runs_only_where_shown(
    agent: Any,
) -> None:
    run = SuggestionRun(agent)
    skipped = " ".join(run.skipped)
    assert "RuleEntityExtractor" in skipped and "SecondIntentClassifier" in skipped
    texts = ["is there wifi on NW 881", "my bag never arrived in Oslo", "hi", "thanks!"]
    parses = [m.as_dict(only_output_properties=True) for m in run.messages(texts)]
    assert not any(p.get("entities") for p in parses)  # NW 881 is a flight number
    assert not any(INTENT_ALSO in p for p in parses)
    assert reading(parses[0])[0] == "product_question/wifi"
    for text, parse in zip(texts, parses, strict=True):
        first_two = [r["name"] for r in parse["intent_ranking"] if r["name"] != FALLBACK][:2]
        assert ("response_selector" in parse) == ("product_question" in first_two), text
    assert any("response_selector" not in p for p in parses)
