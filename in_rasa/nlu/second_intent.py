"""A second intent in the same post: "NW881 delayed AGAIN, this is ridiculous".

Real posts often carry two things at once: a delay and a complaint, a
cancellation and a refund, a lost bag and anger at the airline. The intent
classifier picks one (the labelling guide's order decides which); this
component says whether the post *also* carries one of a few intents the
assistant acts on as well (``intents``), so that the reply does both: the
look-up and the apology, or the look-up and the refund path (actions read
``intent_also`` from the parse).

One binary logistic regression per such intent, over the features the
intent classifier uses (the same TF-IDF n-gram blocks and weighted sentence
vector, :mod:`in_rasa.nlu.linear_classifier`): its positives are the intent's own
examples and the examples that carry it as their second intent, written in
the training data as intent-level metadata::

    - intent: flight_delayed
      metadata:
        also: complaint
      examples: |
        - [NW 881](flight_number) delayed AGAIN, this is ridiculous

A post gets ``intent_also`` (``{"name", "confidence"}``, or None) when the
most likely such intent other than the post's own is at least ``threshold``
likely, or as likely as its own entry in ``thresholds``: a second intent
that only adds an apology (``complaint``) can be named on less evidence than
one that changes the flow (a refund path), since an apology for a delay is
never out of place (docs/nlu.md measures it on the real posts).

A binary model per intent, not the classifier's runner-up: a post
that is a delay *and* a complaint is not one that the classifier was unsure
between the two, and the softmax cannot say "both".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.contract import INTENT_ALSO, INTENT_ALSO_RANKING
from in_rasa.nlu.linear_classifier import (
    FeatureBlock,
    LinearIntentClassifier,
    LinearModelComponent,
    design_matrix,
    loaded_blocks,
    stored_blocks,
)

WEIGHTS_FILE = "second_intent.npz"
META_FILE = "second_intent.json"


def second_intents(example: Message) -> set[str]:
    """The second intents a training example carries (its metadata's ``also``)."""
    metadata = example.get(METADATA) or {}
    found: set[str] = set()
    for level in ("intent", "example"):
        also = (metadata.get(level) or {}).get("also") if isinstance(metadata, dict) else None
        if isinstance(also, str):
            found |= {a.strip() for a in also.split(",") if a.strip()}
        elif isinstance(also, list):
            found |= {str(a) for a in also}
    return found


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SecondIntentClassifier(LinearModelComponent):
    """Says which intent of ``intents`` a post carries besides its own, if any.

    It must come after the intent classifier in the pipeline (it reads the post's own
    intent), which Rasa cannot require of one classifier for another: they train side
    by side.
    """

    stored_as = (META_FILE, WEIGHTS_FILE)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``intents``: the second intents to look for; ``threshold``: how likely one must be
        (``thresholds``: per intent, where it differs); ``C`` and ``dense_weight`` as in the
        intent classifier."""
        return {
            "intents": [],
            "threshold": 0.5,
            "thresholds": {},
            "C": 1.0,
            "dense_weight": 3.0,
            "random_seed": 1,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        intents: list[str] | None = None,
        blocks: list[FeatureBlock] | None = None,
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._intents = intents or []
        self._blocks = blocks or []
        self._weights = weights
        self._bias = bias

    def train(self, training_data: TrainingData) -> Resource:
        """One binary model per intent of ``intents`` that the data has examples of."""
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        own = [str(e.get(INTENT)).split("/")[0] for e in examples]
        carried = [second_intents(e) for e in examples]
        # Each model learns from the posts whose own intent is another one: whether such a
        # post also carries the intent is all it is ever asked (a post's own intent is never
        # its second). Trained on the intent's own examples too, it learned what tells a
        # complaint from a delay report (a flight number: 0.01 for "NW881 delayed AGAIN,
        # this is ridiculous"), not what makes a delay report angry.
        wanted = [
            i
            for i in self._config["intents"]
            if any(i in c and o != i for c, o in zip(carried, own, strict=True))
        ]
        if not wanted:
            return self._resource
        self._blocks = LinearIntentClassifier._fit_blocks(examples)
        matrix = design_matrix(examples, self._blocks, self._config["dense_weight"]).tocsr()
        weights, bias = [], []
        for intent in wanted:
            others = [index for index, label in enumerate(own) if label != intent]
            target = np.array([intent in carried[index] for index in others], dtype=int)
            model = LogisticRegression(
                C=self._config["C"],
                class_weight="balanced",
                max_iter=3000,
                random_state=self._config["random_seed"],
            )
            model.fit(matrix[others], target)
            weights.append(model.coef_[0])
            bias.append(model.intercept_[0])
        self._intents = wanted
        self._weights = np.asarray(weights, dtype=np.float32)
        self._bias = np.asarray(bias, dtype=np.float32)
        self._persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``intent_also`` on each message: the likeliest second intent, or None."""
        if self._weights is None or self._bias is None or not messages:
            return messages
        matrix = design_matrix(messages, self._blocks, self._config["dense_weight"])
        likely = 1.0 / (1.0 + np.exp(-(np.asarray(matrix @ self._weights.T) + self._bias)))
        needed = [
            float((self._config["thresholds"] or {}).get(name, self._config["threshold"]))
            for name in self._intents
        ]
        for message, row in zip(messages, likely, strict=True):
            own = ((message.get(INTENT) or {}).get(INTENT_NAME_KEY) or "").split("/")[0]
            best = None
            for index in np.argsort(-row):
                if self._intents[index] != own and row[index] >= needed[index]:
                    best = {"name": self._intents[index], "confidence": float(row[index])}
                    break
            message.set(INTENT_ALSO, best, add_to_output=True)
            ranking = [
                {"name": self._intents[i], "confidence": float(row[i])}
                for i in np.argsort(-row)
                if self._intents[i] != own
            ]
            message.set(INTENT_ALSO_RANKING, ranking, add_to_output=True)
        return messages

    def _persist(self) -> None:
        arrays, described = stored_blocks(self._blocks)
        arrays.update(weights=self._weights, bias=self._bias)  # type: ignore[arg-type]
        meta = {"intents": self._intents, "blocks": described}
        self._store(meta, arrays)

    @staticmethod
    def restored(meta: dict[str, Any], stored: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """The trained detectors' intents and arrays."""
        blocks = loaded_blocks(meta["blocks"], stored)
        return meta["intents"], blocks, stored["weights"], stored["bias"]
