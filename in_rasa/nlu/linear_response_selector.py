"""A response selector: logistic regression over the features the intent classifier reads.

Rasa's ``ResponseSelector`` is DIET. For our nine ``product_question`` answers
it was most of the assistant's memory (885-957 MB of the Rasa process: its
weights, the optimizer's copies and the one training step Rasa runs to build
them at load; docs/benchmarks.md, "Rasa's memory") and most of a retraining
once the encoder's vectors are cached, while the choice it makes is the easy
part: nine topics (bags, pets, wifi...) that the intent classifier's features
already tell apart. This one is the intent classifier's model
(:mod:`in_rasa.nlu.linear_classifier`: TF-IDF n-grams and the weighted
sentence vector) trained on the retrieval intent's examples, labelled by their
sub-intent. It writes Rasa's ``response_selector`` output, so Rasa's
``ActionRetrieveResponse`` (``utter_product_question``) and our review tools
read it as they read DIET's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data import util
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu.linear_classifier import (
    FeatureBlock,
    LinearIntentClassifier,
    LinearModelComponent,
    class_weights,
    design_matrix,
    loaded_blocks,
    softmax,
    stored_blocks,
)

WEIGHTS_FILE = "response_selector.npz"
META_FILE = "response_selector.json"

# Rasa's recipe validator warns of unused response examples unless its own DIET
# ResponseSelector is in the pipeline (it checks the exact class); this one uses them.
warnings.filterwarnings(
    "ignore", message="You have defined training data with examples for training a response"
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearResponseSelector(LinearModelComponent):
    """Picks the answer of a retrieval intent (``product_question/pets``...)."""

    stored_as = (META_FILE, WEIGHTS_FILE)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``retrieval_intent``: whose answers to pick; ``C`` and ``dense_weight`` as in
        the intent classifier; ``ranking_length``: how many answers the output ranks."""
        return {
            "retrieval_intent": None,
            "C": 10.0,
            "dense_weight": 3.0,
            "max_iter": 3000,
            "ranking_length": 10,
            "random_seed": 1,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        meta: dict[str, Any] | None = None,
        blocks: list[FeatureBlock] | None = None,
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        # keys: the sub-intents ("product_question/pets"), responses: their answers
        # by response name, retrieval_intents: all the data's retrieval intents.
        self._meta = meta or {"keys": [], "responses": {}, "retrieval_intents": []}
        self._blocks = blocks or []
        self._weights = weights
        self._bias = bias

    @property
    def retrieval_intent(self) -> str:
        """The retrieval intent whose answers it picks."""
        return str(self._config["retrieval_intent"] or "")

    def train(self, training_data: TrainingData) -> Resource:
        """Learns which sub-intent each of the retrieval intent's examples is."""
        from sklearn.linear_model import LogisticRegression

        wanted = self.retrieval_intent
        examples = [
            e
            for e in training_data.intent_examples
            if e.get(TEXT) and e.get(INTENT_RESPONSE_KEY) and e.get(INTENT) == wanted
        ]
        keys = [str(e.get(INTENT_RESPONSE_KEY)) for e in examples]
        if len(set(keys)) < 2:
            return self._resource  # nothing to choose between: stays untrained
        self._blocks = LinearIntentClassifier._fit_blocks(examples)
        matrix = design_matrix(examples, self._blocks, self._config["dense_weight"])
        model = LogisticRegression(
            C=self._config["C"],
            max_iter=self._config["max_iter"],
            random_state=self._config["random_seed"],
        )
        model.fit(matrix, keys)
        classes = [str(c) for c in model.classes_]
        templates = {util.intent_response_key_to_template_key(k): k for k in classes}
        self._meta = {
            "keys": classes,
            "responses": {
                name: answers
                for name, answers in training_data.responses.items()
                if name in templates
            },
            "retrieval_intents": sorted(training_data.retrieval_intents),
        }
        self._weights, self._bias = class_weights(model)
        arrays, described = stored_blocks(self._blocks)
        arrays.update(weights=self._weights, bias=self._bias)
        meta = {**self._meta, "blocks": described}
        self._store(meta, arrays)
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds its choice to each message's ``response_selector``, as Rasa's selector does
        (for every message: Rasa's retrieval action reads it only after the intent)."""
        if self._weights is None or self._bias is None or not messages:
            return messages
        matrix = design_matrix(messages, self._blocks, self._config["dense_weight"])
        probabilities = softmax(np.asarray(matrix @ self._weights.T) + self._bias)
        keys: list[str] = self._meta["keys"]
        length = self._config["ranking_length"] or len(keys)
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)
            best = keys[order[0]]
            template = util.intent_response_key_to_template_key(best)
            choice = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self._meta["responses"].get(
                        template, [{TEXT: best}]
                    ),
                    PREDICTED_CONFIDENCE_KEY: float(row[order[0]]),
                    INTENT_RESPONSE_KEY: best,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: template,
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {
                        "id": int(i),
                        PREDICTED_CONFIDENCE_KEY: float(row[i]),
                        INTENT_RESPONSE_KEY: keys[i],
                    }
                    for i in order[:length]
                ],
            }
            selected = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
            selected[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = self._meta["retrieval_intents"]
            selected[self.retrieval_intent] = choice
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selected, add_to_output=True)
        return messages

    @staticmethod
    def restored(meta: dict[str, Any], stored: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """The trained selector's description and arrays."""
        blocks = loaded_blocks(meta.pop("blocks"), stored)
        return meta, blocks, stored["weights"], stored["bias"]
