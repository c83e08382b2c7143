"""The parts of the trained model's NLU graph that a suggestion needs, run on large batches.

An imported post's suggestion (bot/review/suggest.py) reads three things of
the model's parse: the intent ranking, the response selector's choice for a
retrieval intent (``product_question/wifi``), and the sentence encoder's
vector. Rasa's graph (``bot.evaluation.nlu_messages``) also extracts
entities and names a second intent for every post, neither of which changes
the ranking, and runs the response selector (TensorFlow, one message at a
time) on posts whose suggestion never shows its choice.

:class:`SuggestionRun` calls the model's own loaded components, in the
graph's order, on the posts of a whole import batch at once (the sentence
encoder sorts them by length, so padding costs little):

* tokenizers, featurizers (the encoder runs once a post; its sentence vector
  is what groups the posts), Rasa intent classifiers (ours and the fallback)
  and message handlers (``/intent`` texts) on every post;
* a response selector only on the posts whose first or second intent is its
  retrieval intent;
* nothing else (entity extractors, the second-intent classifier).

Its parses are the full graph's (intent, confidence, runner-up, selected
response): ``tests/review/test_suggestion_run.py`` compares them on the test
set's messages. The sentence encoder takes most of the time either way:
about 27 of the 32 ms of CPU a generated post costs here, against 38 ms for
the full graph (``benchmarks/suggestion_run.py``; docs/review.md).

Encoding one part of a batch in a thread while the classifiers read the part
before was tried and cost more: 34-37 ms of CPU a post against 30, on 2 cores
where the encoder's two threads and the classifiers then contend.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import INTENT_NAME_KEY, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

from bot.real_posts import FALLBACK

# The one place the review tools name our in-Rasa code.
from in_rasa.nlu.linear_response_selector import LinearResponseSelector
from in_rasa.nlu.onnx_encoder import THREADS_VARIABLE

#: The node that turns the user's messages into Rasa's ``Message``s (Rasa 3.6's name).
CONVERTER = "nlu_message_converter"
#: Kinds of component that make the ranking or the vector; the rest add nothing to a
#: suggestion. A response selector is checked first: it is an intent classifier too.
RANKING_KINDS = (Tokenizer, Featurizer, IntentClassifier, RegexMessageHandler)
#: Response selectors: Rasa's (DIET) and ours (the shipped one).
SELECTOR_KINDS = (ResponseSelector, LinearResponseSelector)


def use_cores(count: int | None) -> None:
    """Gives the sentence encoder ``count`` threads, unless ``CARE_ENCODER_THREADS``
    already says how many.

    A running assistant gives it one thread (in_rasa/nlu/onnx_encoder.py: it shares the
    cores with the gateway and the action server); an import is an offline run
    with the machine to itself. Takes effect when the encoder first loads, i.e.
    when it is called before the model's first parse in this process.
    """
    if count and count > 1:
        os.environ.setdefault(THREADS_VARIABLE, str(count))


class SuggestionRun:
    """A loaded agent's NLU components, pruned to what a suggestion reads."""

    def __init__(self, agent: Any) -> None:
        processor = agent.processor
        schema = processor.model_metadata.predict_schema
        # Rasa 3.6's runner runs a whole graph from its inputs; its loaded nodes
        # are only reachable through this attribute (the version is pinned).
        self._nodes = processor.graph_runner._instantiated_nodes
        self._needs = {name: dict(node.needs) for name, node in schema.nodes.items()}
        self._provided: dict[str, Any] = {}  # outputs of nodes that read no messages
        self.steps: list[str] = []
        self.selectors: list[tuple[str, str]] = []  # (node, its retrieval intent)
        self.skipped: list[str] = []
        for name in _chain(schema, processor.model_metadata.nlu_target):
            uses = schema.nodes[name].uses
            retrieval = schema.nodes[name].config.get("retrieval_intent")
            if issubclass(uses, SELECTOR_KINDS) and retrieval:
                self.selectors.append((name, str(retrieval)))
            elif issubclass(uses, RANKING_KINDS) and not issubclass(uses, SELECTOR_KINDS):
                self.steps.append(name)
            else:
                self.skipped.append(name)

    def messages(self, texts: list[str]) -> list[Message]:
        """Rasa's processed ``Message`` of each text, in order: intent and ranking,
        sentence features, and the response selector's choice where a suggestion
        names it."""
        if not texts:
            return []
        messages = self._run(CONVERTER, [UserMessage(text) for text in texts])
        for name in self.steps:
            messages = self._run(name, messages)
        for name, retrieval in self.selectors:
            wanted = [m for m in messages if retrieval in _first_two(m)]
            if wanted:
                self._run(name, wanted)  # sets its choice on those messages
        return messages

    def _run(self, name: str, messages: list[Any]) -> list[Message]:
        """Runs node ``name`` on ``messages`` (whichever node its graph fed them from)."""
        inputs = [
            (need, messages if parameter == "messages" else self._provide(need))
            for parameter, need in self._needs[name].items()
        ]
        _, output = self._nodes[name](*inputs)
        return list(output)

    def _provide(self, name: str) -> Any:
        """The output of a node that needs no input (the domain), computed once."""
        if name not in self._provided:
            if self._needs.get(name):
                raise ValueError(f"{name} needs {self._needs[name]}: not a suggestion's input")
            _, self._provided[name] = self._nodes[name]()
        return self._provided[name]


def _chain(schema: Any, target: str) -> Iterable[str]:
    """The NLU nodes from the converter to ``target``, in the order messages pass them."""
    following = {
        node.needs.get("messages"): name
        for name, node in schema.nodes.items()
        if "messages" in node.needs
    }
    name = following.get(CONVERTER)
    while name is not None:
        yield name
        if name == target:
            return
        name = following.get(name)


def _first_two(message: Message) -> list[str]:
    ranking = message.get(INTENT_RANKING_KEY) or []
    return [str(r[INTENT_NAME_KEY]) for r in ranking if r[INTENT_NAME_KEY] != FALLBACK][:2]
