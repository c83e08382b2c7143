"""What the current model says about imported posts, and the vectors that group them.

:class:`ModelSuggester` parses posts with the shipped model in-process, a
whole batch at once, running only the components a suggestion reads
(bot/review/suggestion_run.py), and takes the sentence encoder's vector
from the same run: one MPNet pass gives the intent, its confidence, the
runner-up and the vector that groups posts by meaning.

:class:`TrigramSuggester` needs no model (``import --no-model``, and the
tests): no intent, and hashed character-trigram vectors, which group
rewordings but not paraphrases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.real_posts import FALLBACK
from bot.review.groups import trigrams


@dataclass(frozen=True)
class Suggestion:
    """The model's reading of one post."""

    intent: str | None
    confidence: float | None
    runner_up: str | None
    runner_up_confidence: float | None
    vector: np.ndarray  # unit length

    @property
    def margin(self) -> float:
        """How much surer the model is of its first intent than of its second (1 when unknown)."""
        return margin(self.confidence, self.runner_up_confidence)


def margin(confidence: float | None, runner_up_confidence: float | None) -> float:
    """How much surer the model is of its first intent than of its second (1 when unknown)."""
    return 1.0 if confidence is None else confidence - (runner_up_confidence or 0.0)


@dataclass(frozen=True)
class Thresholds:
    """Cosine similarities that decide groups; they depend on the vectors' kind."""

    member: float  # joins a group's centre at this similarity or more
    core: float  # under it a member is an outlier, set apart from the group action
    near_duplicate: float  # says the same as the centre: decided with it


class Suggester(Protocol):
    thresholds: Thresholds

    def suggest(self, texts: list[str]) -> list[Suggestion]: ...


class TrigramSuggester:
    """No model: hashed trigram counts as vectors, no intents."""

    # Cosines of trigram counts: a rewording of one question 0.8-0.9 (the fixtures'
    # "second bag to Rome"), one template with other words added about 0.5, two
    # topics about 0.1.
    thresholds = Thresholds(member=0.6, core=0.7, near_duplicate=0.95)
    dimensions = 1024

    def suggest(self, texts: list[str]) -> list[Suggestion]:
        return [Suggestion(None, None, None, None, vector) for vector in self.vectors(texts)]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """One unit-length row of hashed trigram counts per text."""
        # scikit-learn's hashing (MurmurHash, in C) counts each distinct trigram once, as
        # the sets of bot/review/groups.py do: 100,000 posts in about half a minute of CPU,
        # seven times faster than hashing each trigram in Python.
        from sklearn.feature_extraction.text import HashingVectorizer

        hashed = HashingVectorizer(
            analyzer=trigrams, n_features=self.dimensions, alternate_sign=False, norm="l2"
        ).transform(texts)
        return hashed.astype(np.float32).toarray()


class ModelSuggester:
    """The shipped model's intent ranking and MPNet sentence vector of each post."""

    # all-mpnet-base-v2 cosines: paraphrases of one request 0.75-0.95, the same
    # topic asked differently 0.5-0.7 (measured on data/nlu.yml's examples).
    thresholds = Thresholds(member=0.72, core=0.8, near_duplicate=0.95)

    def __init__(self, model: Path, cores: int | None = None) -> None:
        """Loads ``model``; ``cores`` threads for its sentence encoder (an offline run's
        choice: ``CARE_ENCODER_THREADS`` wins, and a running assistant uses one)."""
        from bot.evaluation import load_agent
        from bot.review.suggestion_run import SuggestionRun, use_cores

        use_cores(cores)
        self.agent = load_agent(model)
        self.run = SuggestionRun(self.agent)

    def suggest(self, texts: list[str]) -> list[Suggestion]:
        """The suggestion for each text, in order (one pass of the model over all of them)."""
        return [suggestion_of(m) for m in self.run.messages(texts)]


def suggestion_of(message: Any) -> Suggestion:
    """A suggestion from one of Rasa's processed messages (its parse and sentence features)."""
    from rasa.shared.nlu.constants import TEXT

    _, sentence = message.get_dense_features(TEXT)
    if sentence is not None:
        vector = np.asarray(sentence.features, dtype=np.float32).reshape(-1)
    else:
        vector = np.zeros(768, dtype=np.float32)
    vector /= max(float(np.linalg.norm(vector)), 1e-12)
    return Suggestion(*reading(message.as_dict(only_output_properties=True)), vector)


def reading(
    parse: dict[str, Any],
) -> tuple[str | None, float | None, str | None, float | None]:
    """A parse's (Rasa's dict) first intent, its confidence, the runner-up and its
    confidence, the fallback left out: what a suggestion shows."""
    ranking = [r for r in parse.get("intent_ranking") or [] if r["name"] != FALLBACK]
    names = [_full_intent(str(r["name"]), parse) for r in ranking[:2]]
    first = ranking[0] if ranking else None
    second = ranking[1] if len(ranking) > 1 else None
    return (
        names[0] if names else None,
        float(first["confidence"]) if first else None,
        names[1] if len(names) > 1 else None,
        float(second["confidence"]) if second else None,
    )


def _full_intent(intent: str, parse: dict[str, Any]) -> str:
    """A retrieval intent with the sub-intent its response selector chose
    (``product_question/wifi``): the name data/nlu.yml files examples under."""
    selected = (parse.get("response_selector") or {}).get(intent) or {}
    key = (selected.get("response") or {}).get("intent_response_key")
    return str(key) if key else intent
