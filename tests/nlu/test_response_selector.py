"""The linear response selector: trained on a retrieval intent's sub-intents, read by Rasa's
retrieval action as it reads DIET's choice (real Rasa objects, no network)."""

from __future__ import annotations

from pathlib import Path

from rasa.core.actions.action import ActionRetrieveResponse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu.linear_response_selector import LinearResponseSelector
from tests.nlu.test_linear_classifier import message

# (text, sub-intent or None for another intent, sentence vector). Words: bag lost
# flight late hello refund; the vector's first axis is "luggage", the second "money".
EXAMPLES = [
    ("bag", "product_question/baggage_allowance", [1.0, 0.0]),
    ("bag bag", "product_question/baggage_allowance", [0.9, 0.1]),
    ("bag hello", "product_question/baggage_allowance", [1.0, 0.2]),
    ("refund", "product_question/fees", [0.0, 1.0]),
    ("refund hello", "product_question/fees", [0.1, 0.9]),
    ("refund refund", "product_question/fees", [0.2, 1.0]),
    ("flight late", None, [0.5, 0.5]),  # flight_delayed: not the selector's to learn
    ("late flight", None, [0.5, 0.4]),
]
RESPONSES = {
    "utter_product_question/baggage_allowance": [{"text": "One bag of 23 kg is included."}],
    "utter_product_question/fees": [{"text": "Changes cost 50 EUR."}],
    "utter_greet": [{"text": "Hi!"}],
}


def _trained(directory: Path) -> LinearResponseSelector:
    directory.mkdir()
    storage = LocalModelStorage(directory)
    resource = Resource("selector")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {"retrieval_intent": "product_question"}
    training = []
    for text, key, dense in EXAMPLES:
        example = message(text, key.split("/")[0] if key else "flight_delayed", dense)
        if key:
            example.set(INTENT_RESPONSE_KEY, key)
        training.append(example)
    data = TrainingData(training, responses=RESPONSES)
    LinearResponseSelector.create(config, storage, resource, context).train(data)
    return LinearResponseSelector.load(config, storage, resource, context)


def test_a_loaded_selector_picks_the_answer_by_the_words_and_the_vector(tmp_path: Path) -> None:
    selector = _trained(tmp_path / "model")
    bags, fees = message("bag lost", None, [0.9, 0.0]), message("refund", None, [0.0, 0.8])
    selector.process([bags, fees])
    chosen = [m.get(RESPONSE_SELECTOR_PROPERTY_NAME)["product_question"] for m in (bags, fees)]
    assert [c["response"]["intent_response_key"] for c in chosen] == [
        "product_question/baggage_allowance",
        "product_question/fees",
    ]
    assert chosen[1]["response"]["responses"] == [{"text": "Changes cost 50 EUR."}]
    assert chosen[1]["response"]["utter_action"] == "utter_product_question/fees"
    ranking = chosen[0]["ranking"]
    assert ranking[0]["intent_response_key"] == "product_question/baggage_allowance"
    assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6
    assert ranking[0]["confidence"] > 0.5
    assert bags.get(RESPONSE_SELECTOR_PROPERTY_NAME)["all_retrieval_intents"] == [
        "product_question"
    ]


def test_rasa_retrieval_action_utters_the_selected_answer(tmp_path: Path) -> None:
    """What Rasa's `utter_product_question` does with the choice: the right answer."""
    selector = _trained(tmp_path / "model")
    post = message("refund hello", None, [0.1, 1.0])
    post.set(INTENT, {"name": "product_question", "confidence": 0.9})
    selector.process([post])
    domain = Domain.from_dict(
        {"intents": ["product_question"], "responses": RESPONSES, "actions": []}
    )
    tracker = DialogueStateTracker.from_events(
        "customer",
        [UserUttered("refund hello", post.get(INTENT), parse_data=post.as_dict())],
    )
    action = ActionRetrieveResponse("utter_product_question")
    assert action.get_full_retrieval_name(tracker) == "utter_product_question/fees"
    assert domain.responses[action.get_full_retrieval_name(tracker)][0]["text"] == (
        "Changes cost 50 EUR."
    )


def test_without_two_answers_to_choose_from_it_stays_untrained(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("selector")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {"retrieval_intent": "product_question"}
    example = message("bag", "product_question", [1.0, 0.0])
    example.set(INTENT_RESPONSE_KEY, "product_question/baggage_allowance")
    LinearResponseSelector.create(config, storage, resource, context).train(
        TrainingData([example], responses=RESPONSES)
    )
    loaded = LinearResponseSelector.load(config, storage, resource, context)
    post = message("bag", None, [1.0, 0.0])
    loaded.process([post])
    assert post.get(RESPONSE_SELECTOR_PROPERTY_NAME) is None
