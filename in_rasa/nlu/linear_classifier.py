"""An intent classifier: logistic regression over weighted sentence features.

Measured on public intent benchmarks and on our own test set
(docs/benchmarks.md, docs/nlu.md), a linear model over the sentence-level
features the pipeline already makes (word and character n-gram counts, the
sentence encoder's vector) is as accurate as DIET and several times faster to
train. What makes it work is how the feature blocks are weighed, which
Rasa's own LogisticRegressionClassifier leaves to the raw counts:

* n-gram counts become TF-IDF (sublinear term frequency, inverse document
  frequency learned in training), each featurizer's block scaled to unit
  length, so long messages and frequent n-grams do not drown the rest;
* the sentence vector, also of unit length, is multiplied by
  ``dense_weight``: it carries what the n-grams cannot (paraphrases, words
  never seen in training), and counts for more the less data there is.

With ``word_support`` above 0, each intent's confidence is also multiplied by
``1 - word_support * (1 - s)``, where ``s`` is the share of the message's
words the intent's training examples used (:mod:`in_rasa.nlu.word_support`):
out-of-scope messages borrow an intent's topic more often than its words.
The confidences then no longer add up to 1; what is missing is the doubt
that the message is in scope at all, and the fallback threshold acts on it.
Off by default: measured on CLINC150 (docs/benchmarks.md), not yet on our
customers' wording.

The trained model is stored as plain arrays (no pickle): the classes, the
weights, each sparse block's IDF, and the word-support tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu.word_support import WordSupport

WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"


@dataclass(frozen=True)
class FeatureBlock:
    """One featurizer's sentence features, and how they are weighed."""

    origin: str  # the featurizer's node name
    sparse: bool
    size: int
    idf: np.ndarray | None = None  # sparse blocks only


def sentence_features(message: Message) -> dict[str, tuple[bool, Any]]:
    """The message's sentence-level text features by featurizer: (sparse?, 1 x n matrix)."""
    found: dict[str, tuple[bool, Any]] = {}
    for feature in message.features:
        if feature.attribute == TEXT and feature.type == FEATURE_TYPE_SENTENCE:
            found[str(feature.origin)] = (feature.is_sparse(), feature.features)
    return found


def _sublinear(counts: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    """1 + log(count) for each count above zero (a word said twice is not twice the evidence)."""
    counts = counts.astype(np.float64).tocsr()
    counts.data = 1.0 + np.log(np.maximum(counts.data, 1.0))
    return counts


def _unit_rows(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return scipy.sparse.diags(1.0 / norms) @ matrix


def inverse_document_frequency(counts: scipy.sparse.csr_matrix) -> np.ndarray:
    """Smoothed IDF, as scikit-learn's TfidfTransformer computes it."""
    documents = counts.shape[0]
    frequency = np.bincount(counts.tocsr().indices, minlength=counts.shape[1])
    return np.log((1.0 + documents) / (1.0 + frequency)) + 1.0


def block_rows(
    features: list[dict[str, tuple[bool, Any]]], block: FeatureBlock
) -> scipy.sparse.csr_matrix:
    """One block's raw sentence features, one row per message (zeros where missing)."""
    rows = []
    for found in features:
        _sparse, matrix = found.get(block.origin, (block.sparse, None))
        if matrix is None or matrix.shape[-1] != block.size:
            rows.append(scipy.sparse.csr_matrix((1, block.size)))
        else:
            rows.append(scipy.sparse.csr_matrix(matrix).reshape(1, block.size))
    return scipy.sparse.vstack(rows).tocsr()


def design_matrix(
    messages: list[Message], blocks: list[FeatureBlock], dense_weight: float
) -> scipy.sparse.csr_matrix:
    """The messages' weighted features side by side, one row per message."""
    features = [sentence_features(m) for m in messages]
    columns = []
    for block in blocks:
        raw = block_rows(features, block)
        if block.sparse:
            columns.append(_unit_rows(_sublinear(raw) @ scipy.sparse.diags(block.idf)))
        else:
            columns.append(dense_weight * _unit_rows(raw.astype(np.float64)))
    return scipy.sparse.hstack(columns).tocsr()


def stored_blocks(blocks: list[FeatureBlock]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The blocks as arrays (each sparse block's IDF) and plain descriptions, for storage."""
    arrays = {f"idf_{i}": b.idf for i, b in enumerate(blocks) if b.idf is not None}
    described = [{"origin": b.origin, "sparse": b.sparse, "size": b.size} for b in blocks]
    return arrays, described


def loaded_blocks(described: list[dict], arrays: dict[str, np.ndarray]) -> list[FeatureBlock]:
    """The blocks :func:`stored_blocks` stored."""
    return [
        FeatureBlock(b["origin"], b["sparse"], b["size"], arrays.get(f"idf_{index}"))
        for index, b in enumerate(described)
    ]


def write_stored(
    model_storage: ModelStorage,
    resource: Resource,
    meta_file: str,
    weights_file: str,
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Stores a trained component as plain arrays and JSON (no pickle)."""
    with model_storage.write_to(resource) as directory:
        np.savez(directory / weights_file, **arrays)
        (directory / meta_file).write_text(json.dumps(meta), encoding="utf-8")


def read_stored(
    model_storage: ModelStorage, resource: Resource, meta_file: str, weights_file: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """A trained component's description and arrays; None when it was never trained."""
    try:
        with model_storage.read_from(resource) as directory:
            meta = json.loads((directory / meta_file).read_text(encoding="utf-8"))
            with np.load(directory / weights_file, allow_pickle=False) as arrays:
                return meta, {name: arrays[name] for name in arrays.files}
    except (ValueError, FileNotFoundError):
        return None


def code_digest(*modules: Any) -> str:
    """A digest of modules' source: Rasa's cache keys a trained component by its config and
    inputs only, so a change of the code that trains it would otherwise reuse the old one."""
    import hashlib
    import inspect

    digest = hashlib.sha256()
    for module in modules:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def class_weights(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn LogisticRegression's weights and bias, one row per class.

    With two classes scikit-learn keeps one row (the second class's log-odds); a zero row
    for the first makes :func:`softmax` give the same probabilities as its sigmoid.
    """
    weights, bias = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(model.classes_) == 2:
        weights = np.vstack([np.zeros_like(weights), weights])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return weights.astype(np.float32), bias.astype(np.float32)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


class LinearModelComponent(GraphComponent):
    """What the components built on this module's features and regression share: they
    read sentence features, start untrained, and retrain when their code, this module
    or the word-support code changes."""

    @classmethod
    def required_components(cls) -> list[type]:
        """Needs sentence features."""
        return [Featurizer]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """A digest of the component's module, this one and the word-support code."""
        import sys

        from in_rasa.nlu import word_support

        modules = dict.fromkeys([sys.modules[cls.__module__], sys.modules[__name__], word_support])
        return code_digest(*modules)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates an untrained component."""
        return cls(config, model_storage, resource)

    # What a trained component keeps in its resource: its description and its arrays.
    stored_as: tuple[str, str] = (META_FILE, WEIGHTS_FILE)
    _model_storage: ModelStorage
    _resource: Resource

    def _store(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Keeps the trained component in its resource (read back by :meth:`load`)."""
        write_stored(self._model_storage, self._resource, *self.stored_as, meta, arrays)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GraphComponent:
        """Loads the trained arrays (an untrained component if there are none)."""
        found = read_stored(model_storage, resource, *cls.stored_as)
        if found is None:
            return cls(config, model_storage, resource)
        meta, stored = found
        return cls(config, model_storage, resource, *cls.restored(meta, stored))

    @staticmethod
    def restored(meta: dict[str, Any], stored: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """The trained component's constructor arguments after the first three, from what
        it stored (:meth:`_store`)."""
        raise NotImplementedError


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, LinearModelComponent):
    """Multinomial logistic regression over TF-IDF n-grams and a weighted sentence vector."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config.

        ``C`` is the inverse regularisation strength; ``dense_weight`` the
        length of the sentence vector next to the unit-length n-gram blocks
        (both chosen on the benchmarks, docs/benchmarks.md); ``word_support``
        how much an intent's confidence drops when its examples never used
        the message's words (0: not at all; see the module).
        """
        return {
            "C": 10.0,
            "dense_weight": 3.0,
            "class_weight": None,
            "max_iter": 3000,
            "ranking_length": 10,
            "random_seed": 1,
            "word_support": 0.0,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classes: list[str] | None = None,
        blocks: list[FeatureBlock] | None = None,
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        support: WordSupport | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._classes = classes or []
        self._blocks = blocks or []
        self._weights = weights
        self._bias = bias
        self._support = support

    def train(self, training_data: TrainingData) -> Resource:
        """Learns the IDF of each n-gram block and the regression weights."""
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = [str(e.get(INTENT)) for e in examples]
        if len(set(labels)) < 2:
            # Nothing to choose between (e.g. a core-only model): stay untrained.
            return self._resource
        self._blocks = self._fit_blocks(examples)
        matrix = design_matrix(examples, self._blocks, self._config["dense_weight"])
        model = LogisticRegression(
            C=self._config["C"],
            class_weight=self._config["class_weight"],
            max_iter=self._config["max_iter"],
            random_state=self._config["random_seed"],
        )
        model.fit(matrix, labels)
        self._classes = [str(c) for c in model.classes_]
        self._weights, self._bias = class_weights(model)
        if self._config["word_support"] > 0:
            index = {name: i for i, name in enumerate(self._classes)}
            self._support = WordSupport.fit(
                [str(e.get(TEXT)) for e in examples],
                [index[label] for label in labels],
                len(self._classes),
            )
        self._persist()
        return self._resource

    @staticmethod
    def _fit_blocks(examples: list[Message]) -> list[FeatureBlock]:
        """One block per featurizer that gave sentence features, in a fixed order."""
        features = [sentence_features(e) for e in examples]
        first: dict[str, tuple[bool, Any]] = {}
        for found in features:
            for origin, feature in found.items():
                first.setdefault(origin, feature)
        blocks = []
        for origin in sorted(first):
            sparse, matrix = first[origin]
            block = FeatureBlock(origin, sparse, int(matrix.shape[-1]))
            if sparse:
                idf = inverse_document_frequency(block_rows(features, block))
                block = FeatureBlock(origin, sparse, block.size, idf)
            blocks.append(block)
        return blocks

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets the intent and the intent ranking of each message."""
        if self._weights is None or self._bias is None or not messages:
            return messages
        matrix = design_matrix(messages, self._blocks, self._config["dense_weight"])
        probabilities = softmax(np.asarray(matrix @ self._weights.T) + self._bias)
        if self._support is not None and self._config["word_support"] > 0:
            shares = self._support([str(m.get(TEXT) or "") for m in messages])
            probabilities = probabilities * (1.0 - self._config["word_support"] * (1.0 - shares))
        length = self._config["ranking_length"]
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)
            ranking = [
                {INTENT_NAME_KEY: self._classes[i], PREDICTED_CONFIDENCE_KEY: float(row[i])}
                for i in order[: length if length > 0 else len(order)]
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _persist(self) -> None:
        arrays, described = stored_blocks(self._blocks)
        arrays.update(weights=self._weights, bias=self._bias)  # type: ignore[arg-type]
        meta: dict[str, Any] = {"classes": self._classes, "blocks": described}
        if self._support is not None:
            arrays["support_by_intent"] = np.packbits(self._support.by_intent, axis=1)
            arrays["support_idf"] = self._support.idf
            meta["support_words"] = list(self._support.vocabulary)
            meta["support_unknown"] = self._support.unknown
        self._store(meta, arrays)

    @staticmethod
    def restored(meta: dict[str, Any], stored: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """The trained classifier's arrays, with its word support if it had one."""
        blocks = loaded_blocks(meta["blocks"], stored)
        support = None
        if "support_words" in meta:
            vocabulary = meta["support_words"]
            by_intent = np.unpackbits(stored["support_by_intent"], axis=1)[:, : len(vocabulary)]
            support = WordSupport(
                vocabulary, by_intent, stored["support_idf"], meta["support_unknown"]
            )
        return meta["classes"], blocks, stored["weights"], stored["bias"], support
