"""The learning-curve benchmark's simulation, on a few posts, without training a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.learning_curve import (
    PoolPost,
    crowd_intent,
    labelled_steps,
    nlu_with,
    page_order,
)
from bot.review.nludata import NluFile
from bot.review.suggest import Suggestion


def test_the_crowd_label_becomes_an_intent_or_a_discard() -> None:
    assert crowd_intent("negative", "Lost Luggage", "where is my bag") == "baggage_issue"
    assert crowd_intent("negative", "Can't Tell", "ugh") is None
    assert crowd_intent("neutral", "", "is it on time?") is None
    assert crowd_intent("positive", "", "Thanks for the help") == "thank"
    assert crowd_intent("positive", "", "best crew ever") == "praise"


def _suggestion(vector: list[float], confidence: float, second: float) -> Suggestion:
    v = np.array(vector, dtype=np.float32)
    return Suggestion("complaint", confidence, "praise", second, v / np.linalg.norm(v))


def test_the_trainer_labels_in_the_page_order_and_skips_what_the_crowd_cannot_tell(
    tmp_path: Path,
) -> None:
    posts = [
        PoolPost(
            "1", "best crew of my whole life, honestly", "praise"
        ),  # alone, the model sure: last
        PoolPost("2", "bag gone", "baggage_issue"),  # a pair, the model unsure: first
        PoolPost("3", "bag gone again", "baggage_issue"),
        PoolPost("4", "hmm", None),  # alone, fairly unsure: the trainer discards it
    ]
    suggestions = [
        _suggestion([1, 0, 0], 0.95, 0.01),
        _suggestion([0, 1, 0], 0.40, 0.35),
        _suggestion([0, 1, 0.05], 0.50, 0.30),
        _suggestion([0, 0, 1], 0.45, 0.35),
    ]
    order = page_order(posts, suggestions)
    assert order == [1, 2, 3, 0]
    steps = labelled_steps(posts, order, [0, 2, 3])
    assert steps[2] == [("baggage_issue", "bag gone"), ("baggage_issue", "bag gone again")]
    assert steps[3][-1] == ("praise", "best crew of my whole life, honestly") and steps[0] == []
    copy = tmp_path / "nlu.yml"
    assert nlu_with(steps[3], copy) == 3
    assert ("baggage_issue", "bag gone again") in {
        (e.intent, e.text) for e in NluFile(copy).examples()
    }
