"""The linear intent classifier: weighting, training, storing, loading (real Rasa objects)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu.linear_classifier import (
    FeatureBlock,
    LinearIntentClassifier,
    design_matrix,
    inverse_document_frequency,
)

VOCABULARY = ["bag", "lost", "flight", "late", "hello", "refund"]


def message(text: str, intent: str | None = None, dense: list[float] | None = None) -> Message:
    """A message with word counts and a 2-d "sentence vector", as the featurizers would add."""
    data = {TEXT: text, **({"intent": intent} if intent else {})}
    msg = Message(data=data)
    counts = np.array([[text.split().count(word) for word in VOCABULARY]], dtype=float)
    msg.add_features(
        Features(scipy.sparse.coo_matrix(counts), FEATURE_TYPE_SENTENCE, TEXT, "words")
    )
    vector = np.array([dense or [1.0, 0.0]], dtype=np.float32)
    msg.add_features(Features(vector, FEATURE_TYPE_SENTENCE, TEXT, "encoder"))
    return msg


def test_each_block_is_weighed_to_its_own_length() -> None:
    messages = [message("bag bag bag lost", dense=[3.0, 4.0]), message("hello", dense=[0.0, 1.0])]
    blocks = [
        FeatureBlock("encoder", False, 2),
        FeatureBlock("words", True, len(VOCABULARY), np.ones(len(VOCABULARY))),
    ]
    matrix = design_matrix(messages, blocks, dense_weight=3.0).toarray()
    dense, sparse = matrix[:, :2], matrix[:, 2:]
    assert np.allclose(np.linalg.norm(dense, axis=1), 3.0)
    assert np.allclose(np.linalg.norm(sparse, axis=1), 1.0)
    # Three "bag"s are not three times the evidence of one: 1 + log 3 against 1.
    assert sparse[0, 0] / sparse[0, 1] == pytest.approx(1 + np.log(3))


def test_rare_words_weigh_more_than_common_ones() -> None:
    counts = scipy.sparse.csr_matrix(np.array([[1, 1], [1, 0], [1, 0]]))
    idf = inverse_document_frequency(counts)
    assert idf[1] > idf[0] == pytest.approx(1.0)


BAGS_AND_DELAYS = [
    ("bag lost", "baggage_issue", [1.0, 0.1]),
    ("lost bag bag", "baggage_issue", [0.9, 0.2]),
    ("flight late", "flight_delayed", [0.1, 1.0]),
    ("late flight again", "flight_delayed", [0.2, 0.9]),
]


def train_and_load(
    directory: Path, config: dict[str, float], examples: list[tuple[str, str, list[float]]]
) -> LinearIntentClassifier:
    """Trains a classifier on ``examples``, stores it in ``directory`` and loads it back."""
    directory.mkdir(exist_ok=True)
    storage = LocalModelStorage(directory)
    resource = Resource("linear_intent_classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    training = TrainingData([message(text, intent, dense) for text, intent, dense in examples])
    LinearIntentClassifier.create(config, storage, resource, context).train(training)
    return LinearIntentClassifier.load(config, storage, resource, context)


def test_it_trains_stores_loads_and_ranks_intents(tmp_path: Path) -> None:
    greetings = [("hello", "greet", [0.5, 0.5]), ("hello hello", "greet", [0.6, 0.4])]
    loaded = train_and_load(tmp_path, {}, BAGS_AND_DELAYS + greetings)
    [parsed] = loaded.process([message("my bag is lost", dense=[0.95, 0.1])])

    assert parsed.get("intent")["name"] == "baggage_issue"
    ranking = parsed.get("intent_ranking")
    assert ranking[0]["name"] == "baggage_issue"
    assert {r["name"] for r in ranking} == {"baggage_issue", "flight_delayed", "greet"}
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_two_intents_get_probabilities_not_certainty(tmp_path: Path) -> None:
    """scikit-learn keeps one row of weights for two classes; both must still be scored."""
    classifier = train_and_load(tmp_path, {"C": 0.1}, BAGS_AND_DELAYS)
    [parsed] = classifier.process([message("bag late", dense=[0.5, 0.5])])
    ranking = {r["name"]: r["confidence"] for r in parsed.get("intent_ranking")}
    assert 0.2 < ranking["baggage_issue"] < 0.8
    assert ranking["baggage_issue"] + ranking["flight_delayed"] == pytest.approx(1.0)


def test_an_untrained_classifier_leaves_messages_alone(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    resource = Resource("never_trained")
    classifier = LinearIntentClassifier.load({}, storage, resource, context)
    [parsed] = classifier.process([message("hello")])
    assert parsed.get("intent") is None


def test_word_support_lowers_intents_whose_examples_never_used_the_words(tmp_path: Path) -> None:
    plain = train_and_load(tmp_path / "plain", {}, BAGS_AND_DELAYS)
    supported = train_and_load(tmp_path / "support", {"word_support": 0.6}, BAGS_AND_DELAYS)
    # Same features (the fake featurizer sees only "bag"), different wording:
    # one message in the intent's own words, one on the topic in other words.
    own = "bag"
    other = "bag of crisps recipe"

    def top(classifier: LinearIntentClassifier, text: str) -> dict[str, float]:
        [parsed] = classifier.process([message(text, dense=[1.0, 0.1])])
        return parsed.get("intent")  # type: ignore[no-any-return]

    assert top(plain, own)["confidence"] == pytest.approx(top(plain, other)["confidence"])
    assert top(supported, own)["name"] == top(supported, other)["name"] == "baggage_issue"
    assert top(supported, own)["confidence"] == pytest.approx(top(plain, own)["confidence"])
    # "crisps" and "recipe" are words no example has: 0.6 x their share of the weight comes off.
    assert top(supported, other)["confidence"] < 0.75 * top(plain, other)["confidence"]
