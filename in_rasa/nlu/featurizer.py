"""Dense features from a sentence encoder (:mod:`in_rasa.nlu.encoder`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu.encoder import (
    DISTRIBUTIONS,
    ENCODERS,
    MINILM,
    QUANTIZATIONS,
    RUNTIMES,
    Encoder,
    shared_encoder,
)
from in_rasa.nlu.encoder_cache import EncodingCache, default_path
from in_rasa.nlu.wordpiece import Piece


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense features from a sentence encoder (see :mod:`in_rasa.nlu.encoder`).

    Sparse n-gram counts only know the words seen in training; a sentence
    encoder trained on a billion sentence pairs knows that "luggage never
    showed up" and "my bag is lost" mean the same. ``encoder`` picks the model:
    ``all-MiniLM-L6-v2`` (the default, fast) or ``all-mpnet-base-v2`` (what
    ``config.yml`` ships: about five times slower, better at telling intents
    and out-of-scope queries apart; docs/benchmarks.md). ``runtime`` runs it
    with ONNX Runtime (``onnx``, the default: in_rasa/nlu/onnx_encoder.py) or with
    the NumPy reference (``numpy``); ``quantize: int8`` gives ONNX Runtime
    int8 weights (faster, less exact: docs/benchmarks.md says when it holds).
    """

    @classmethod
    def required_components(cls) -> list[type]:
        """Needs tokens, to give each token a vector."""
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {
            **DenseFeaturizer.get_default_config(),
            "batch_size": 32,
            "encoder": MINILM,
            "runtime": "onnx",
            "quantize": "none",
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """The encoder must be one we can run, in a runtime we have."""
        defaults = cls.get_default_config()
        encoder = config.get("encoder", defaults["encoder"])
        if encoder not in ENCODERS:
            raise ValueError(
                f"SentenceEncoderFeaturizer: unknown encoder {encoder!r} "
                f"(known: {', '.join(ENCODERS)})"
            )
        runtime = config.get("runtime", defaults["runtime"])
        if runtime not in RUNTIMES:
            raise ValueError(
                f"SentenceEncoderFeaturizer: unknown runtime {runtime!r} "
                f"(known: {', '.join(RUNTIMES)})"
            )
        quantize = config.get("quantize", defaults["quantize"])
        if quantize not in QUANTIZATIONS:
            raise ValueError(
                f"SentenceEncoderFeaturizer: unknown quantize {quantize!r} "
                f"(known: {', '.join(QUANTIZATIONS)})"
            )
        if quantize != "none" and runtime != "onnx":
            raise ValueError("SentenceEncoderFeaturizer: quantize needs runtime: onnx")

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The encoder's weights are fixed by the pinned package versions; the runtime
        and its quantization change the vectors (int8 a lot, float32 ONNX in the 7th
        decimal), so each trains its own model and keeps its own encoder cache."""
        from importlib.metadata import version

        config = {**cls.get_default_config(), **config}
        encoder = config["encoder"]
        versions = ",".join(version(d) for d in DISTRIBUTIONS.get(encoder, ()))
        if config["runtime"] == "numpy":
            return f"{encoder}:{versions}"
        return f"{encoder}:{versions}:onnx={version('onnxruntime')}:{config['quantize']}"

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.validate_config(config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEncoderFeaturizer:
        """Creates the featurizer with its encoder loaded and run once.

        Loaded here, while Rasa loads the model and before it says it is up,
        rather than on the first customer's message: on a busy machine that first
        use (weights, ONNX session, first run) took longer than the gateway waits
        for a turn, and the customer got a fallback instead of an answer.
        """
        featurizer = cls({**cls.get_default_config(), **config}, execution_context.node_name)
        featurizer._encoder().encode(["hello"])
        return featurizer

    def _encoder(self) -> Encoder:
        return shared_encoder(
            self._config["encoder"], self._config["runtime"], self._config["quantize"]
        )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example (in batches), through the encoder cache: a
        change to the data encodes only the new texts (in_rasa/nlu/encoder_cache.py)."""
        self._featurize(training_data.training_examples, self._cache(training=True))
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds a vector per token and one for the sentence, for each text attribute.

        Live messages never go through the cache (it would keep customers' words on
        disk); evaluations of labelled data may ask for it with ``CARE_ENCODER_CACHE=all``.
        """
        return self._featurize(messages, self._cache(training=False))

    def _cache(self, training: bool) -> EncodingCache | None:
        """The encoder cache: in training unless ``CARE_ENCODER_CACHE=off``, always with ``all``."""
        wanted = os.environ.get("CARE_ENCODER_CACHE", "training")
        if wanted == "off" or (wanted != "all" and not training):
            return None
        encoder = self._config["encoder"]
        return EncodingCache(default_path(), self.fingerprint_addon(self._config) or encoder)

    def _featurize(self, messages: list[Message], cache: EncodingCache | None) -> list[Message]:
        work = [
            (message, attribute)
            for message in messages
            for attribute in DENSE_FEATURIZABLE_ATTRIBUTES
            if message.get(attribute) and message.get(TOKENS_NAMES[attribute])
        ]
        if not work:
            return messages
        encoded = self._encoder().encode(
            [message.get(attribute) for message, attribute in work],
            batch_size=self._config["batch_size"],
            cache=cache,
        )
        for (message, attribute), (states, pieces, sentence) in zip(work, encoded, strict=True):
            tokens = message.get(TOKENS_NAMES[attribute])
            self.add_features_to_message(
                sequence=token_vectors(tokens, pieces, states),
                sentence=sentence[None, :],
                attribute=attribute,
                message=message,
            )
        return messages


def token_vectors(tokens: list[Token], pieces: list[Piece], states: np.ndarray) -> np.ndarray:
    """One vector per Rasa token: the mean of the word pieces that overlap it."""
    vectors = np.zeros((len(tokens), states.shape[1]), dtype=np.float32)
    for row, token in enumerate(tokens):
        overlapping = [
            i
            for i, piece in enumerate(pieces)
            if piece.start < token.end and piece.end > token.start
        ]
        if overlapping:
            vectors[row] = states[overlapping].mean(axis=0)
    return vectors
