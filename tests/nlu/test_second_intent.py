"""The second-intent classifier: trained from ``also`` metadata, one threshold per intent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, METADATA
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.contract import INTENT_ALSO
from in_rasa.nlu.second_intent import SecondIntentClassifier, second_intents
from tests.nlu.test_linear_classifier import message

# Words: bag lost flight late hello refund. The sentence vector's first axis is
# "disruption", the second "anger".
EXAMPLES = [
    ("flight late", "flight_delayed", [1.0, 0.0], None),
    ("late flight", "flight_delayed", [1.0, 0.1], None),
    ("flight late late", "flight_delayed", [0.9, 0.0], None),
    ("flight late again", "flight_delayed", [1.0, 0.9], "complaint"),
    ("late late flight", "flight_delayed", [0.9, 1.0], "complaint"),
    ("hello", "complaint", [0.0, 1.0], None),
    ("hello hello", "complaint", [0.1, 0.9], None),
    ("refund", "refund_request", [0.2, 0.3], None),
    ("refund refund", "refund_request", [0.3, 0.2], None),
]


def _trained(directory: Path, config: dict[str, Any]) -> SecondIntentClassifier:
    directory.mkdir()
    storage = LocalModelStorage(directory)
    resource = Resource("second_intent")
    context = ExecutionContext(GraphSchema({}), "test")
    training = []
    for text, intent, dense, also in EXAMPLES:
        example = message(text, intent, dense)
        if also:
            example.set(METADATA, {"intent": {"also": also}})
        training.append(example)
    SecondIntentClassifier.create(config, storage, resource, context).train(TrainingData(training))
    return SecondIntentClassifier.load(config, storage, resource, context)


def _also(component: SecondIntentClassifier, dense: list[float]) -> dict[str, Any] | None:
    post = message("flight late", None, dense)
    post.set(INTENT, {"name": "flight_delayed", "confidence": 0.9})
    component.process([post])
    return post.get(INTENT_ALSO)  # type: ignore[no-any-return]


def test_the_metadata_names_the_second_intents() -> None:
    example = Message(data={METADATA: {"intent": {"also": "complaint, refund_request"}}})
    assert second_intents(example) == {"complaint", "refund_request"}


def test_an_angry_delay_carries_a_complaint_a_calm_one_does_not(tmp_path: Path) -> None:
    config = {"intents": ["complaint", "refund_request"], "threshold": 0.5, "C": 10.0}
    component = _trained(tmp_path / "a", config)
    angry = _also(component, [1.0, 1.0])
    assert angry is not None and angry["name"] == "complaint"
    assert _also(component, [1.0, 0.0]) is None


def test_a_threshold_of_its_own_lets_a_cheap_second_intent_through(tmp_path: Path) -> None:
    """A post between the two: named when complaint has a lower threshold of its own."""
    between = [1.0, 0.45]
    strict = {"intents": ["complaint", "refund_request"], "threshold": 0.95, "C": 10.0}
    assert _also(_trained(tmp_path / "strict", strict), between) is None
    lenient = {**strict, "thresholds": {"complaint": 0.05}}
    found = _also(_trained(tmp_path / "lenient", lenient), between)
    assert found is not None and found["name"] == "complaint"
    assert 0.05 <= found["confidence"] < 0.95
