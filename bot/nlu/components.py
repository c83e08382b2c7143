"""Rasa pipeline components built on a blank spaCy English pipeline.

No pretrained spaCy pipeline can be downloaded here, and none is needed:
spaCy's rule-based English tokenizer handles social text well (emoji, @handles,
URLs, hashtags), and its EntityRuler turns the patterns kept in
``data/entity_patterns.jsonl`` into entities that rules catch better than a
statistical model (flight numbers, record locators, airports, dates).

Over 400 lines, for now: config.yml and every trained model name these
components by this module's path, so splitting it renames them, retrains
every model and moves the figures measured on them; it is to be done with the
move of the code that runs inside Rasa into a package of its own (CONTRIBUTING).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.contract import INTENT_ALSO
from bot.nlu import values
from bot.nlu.encoder import (
    DISTRIBUTIONS,
    ENCODERS,
    MINILM,
    QUANTIZATIONS,
    RUNTIMES,
    Piece,
    shared_encoder,
)
from bot.nlu.encoder_cache import EncodingCache, default_path

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Span

# A pattern whose id is this keeps only its last token as the entity: the
# words before it ("flight", "booking ref") are context, not the value.
KEEP_LAST = "keep:last"
_TRAILING_PUNCT = ".,;:!?"
_REPEATS = re.compile(r"(.)\1{2,}")


@functools.lru_cache(maxsize=1)
def blank_english() -> Language:
    """One blank English pipeline (tokenizer only) shared by the components."""
    import spacy

    return spacy.blank("en")


def _emoji_lemma(text: str) -> str | None:
    """Names an emoji token ("😡" -> "emoji_pouting_face"); None for other tokens."""
    chars = [c for c in text if unicodedata.category(c) == "So"]
    if not chars:
        return None
    names = [unicodedata.name(c, "symbol").lower().replace(" ", "_") for c in chars[:2]]
    return "emoji_" + "_".join(names)


def social_lemma(token_text: str, like_url: bool) -> str:
    """The form of a token that features are built from.

    Handles and links carry no intent; emoji carry a lot (😡 vs ❤️) but are
    dropped by Rasa's word featurizer unless they are named; letters repeated
    for emphasis ("soooo", "pleeease") are squeezed so they match the plain word.
    """
    if like_url:
        return "url"
    if token_text.startswith("@") and len(token_text) > 1:
        return "@user"
    emoji = _emoji_lemma(token_text)
    if emoji:
        return emoji
    return _REPEATS.sub(r"\1\1", token_text.lower())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SocialTokenizer(Tokenizer):
    """Tokenizes with spaCy's blank English tokenizer and normalises social-media tokens."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SocialTokenizer:
        """Creates the tokenizer (no training needed)."""
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Splits the attribute's text into tokens; each keeps its offsets in the text."""
        text = message.get(attribute) or ""
        tokens = [
            Token(t.text, t.idx, lemma=social_lemma(t.text, t.like_url))
            for t in blank_english().make_doc(text)
            if not t.is_space and t.text not in ("\ufe0f", "\u200d")
        ]
        if not tokens:
            # Rasa needs at least one token per message (e.g. a lone emoji modifier).
            tokens = [Token(text, 0, lemma=text.lower())]
        return self._apply_token_pattern(tokens)


def _pattern_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class RuleEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts entities with spaCy's EntityRuler and gives them canonical values.

    The patterns are read from the configured file when the model is trained
    and stored inside the model, so a trained model does not depend on the
    working directory. Values are normalised by :mod:`bot.nlu.values`:
    "flight 2034" -> "NW2034", "o'hare" -> "ORD" (the pattern's id), "QX7K2P."
    -> "QX7K2P".
    """

    PATTERNS_FILE = "patterns.json"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {"patterns": "data/entity_patterns.jsonl", "default_carrier": None}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrains when the pattern file or the brand's carrier changes."""
        path = Path(config.get("patterns") or cls.get_default_config()["patterns"])
        return f"{_pattern_digest(path)}:{cls._carrier(config)}"

    @staticmethod
    def _carrier(config: dict[str, Any]) -> str:
        if config.get("default_carrier"):
            return str(config["default_carrier"]).upper()
        from bot.brand import load_brand

        return load_brand().carrier_code

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        patterns: list[dict[str, Any]] | None = None,
        carrier: str | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._patterns = patterns or []
        self._carrier_code = carrier or ""
        self._nlp: Language | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RuleEntityExtractor:
        """Creates an untrained extractor."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Reads the pattern file and stores it with the carrier code inside the model."""
        path = Path(self._config["patterns"])
        self._patterns = read_patterns(path)
        self._carrier_code = self._carrier(self._config)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.PATTERNS_FILE).write_text(
                json.dumps({"carrier": self._carrier_code, "patterns": self._patterns}),
                encoding="utf-8",
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RuleEntityExtractor:
        """Loads the patterns stored in the model."""
        with model_storage.read_from(resource) as directory:
            stored = json.loads((directory / cls.PATTERNS_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, stored["patterns"], stored["carrier"])

    def _pipeline(self) -> Language:
        if self._nlp is None:
            import spacy

            nlp = spacy.blank("en")
            ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
            ruler.add_patterns(self._patterns)  # type: ignore[attr-defined]
            self._nlp = nlp
        return self._nlp

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds the rule-based entities to each message."""
        for message in messages:
            found = self.extract(message.get(TEXT) or "")
            message.set(
                ENTITIES,
                message.get(ENTITIES, []) + self.add_extractor_name(found),
                add_to_output=True,
            )
        return messages

    def extract(self, text: str) -> list[dict[str, Any]]:
        """Returns Rasa entity dicts (type, start, end, value, confidence) found in ``text``."""
        if not text:
            return []
        entities = []
        for span in self._pipeline()(text).ents:
            entity = self._entity(span)
            if entity is not None:
                entities.append(entity)
        return entities

    def _entity(self, span: Span) -> dict[str, Any] | None:
        label = span.label_
        if span.ent_id_ == KEEP_LAST:
            span = span[-1:]  # a sub-span has no label of its own
        start = span.start_char
        end = span.end_char
        while end > start and span.doc.text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        raw = span.doc.text[start:end]
        value = self._value(label, raw, span.ent_id_)
        if value is None:
            return None
        return {
            "entity": label,
            "start": start,
            "end": end,
            "value": value,
            "confidence_entity": 1.0,
        }

    def _value(self, label: str, raw: str, pattern_id: str) -> str | None:
        if label == "flight_number":
            return values.flight_number(raw, self._carrier_code)
        if label == "booking_ref":
            return values.booking_ref(raw)
        if label == "baggage_ref":
            return values.baggage_ref(raw)
        if label == "airport":
            return pattern_id or raw
        if label == "date":
            return raw.lower()
        return raw


def read_patterns(path: Path) -> list[dict[str, Any]]:
    """Reads an EntityRuler JSONL file, skipping blank lines and ``//`` comments."""
    patterns = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        try:
            patterns.append(json.loads(stripped))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON pattern: {error.msg}") from error
    return patterns


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense features from a sentence encoder (see :mod:`bot.nlu.encoder`).

    Sparse n-gram counts only know the words seen in training; a sentence
    encoder trained on a billion sentence pairs knows that "luggage never
    showed up" and "my bag is lost" mean the same. ``encoder`` picks the model:
    ``all-MiniLM-L6-v2`` (the default, fast) or ``all-mpnet-base-v2`` (what
    ``config.yml`` ships: about five times slower, better at telling intents
    and out-of-scope queries apart; docs/benchmarks.md). ``runtime`` runs it
    with ONNX Runtime (``onnx``, the default: bot/nlu/onnx_encoder.py) or with
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
        """Creates the featurizer; the encoder loads on first use."""
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example (in batches), through the encoder cache: a
        change to the data encodes only the new texts (bot/nlu/encoder_cache.py)."""
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
        encoded = shared_encoder(
            self._config["encoder"], self._config["runtime"], self._config["quantize"]
        ).encode(
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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class GroupedFallbackClassifier(FallbackClassifier):
    """Rasa's FallbackClassifier, for intents that share their handling.

    "Is NW881 on time?" may be a status question or the start of a delay
    complaint; the model splits its confidence (0.62 / 0.38) and a plain
    threshold calls that unsure, though both intents lead to the same flight
    look-up. Here the confidences of the intents in ``intent_groups`` add up
    for the threshold, and the ambiguity check compares the top intent's
    group with the best intent outside it. The predicted intent stays the
    top one.

    Two intents close together are not a doubt when the post carries both:
    "NW881 delayed AGAIN, this is ridiculous" splits its confidence between
    the delay and the complaint, and the second-intent classifier says it is
    both (``intent_also``); the bot then acts on both. So the best intent
    outside the top group does not count against it when it is the post's
    second intent.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Rasa's defaults plus ``intent_groups`` (lists of intent names)."""
        return {**FallbackClassifier.get_default_config(), "intent_groups": []}

    def _group_of(self, intent: str | None) -> set[str]:
        for group in self.component_config.get("intent_groups") or []:
            if intent in group:
                return set(group)
        return {intent} if intent else set()

    def _split(self, message: Message) -> tuple[float, float]:
        """Confidence of the top intent's group, and of the best intent outside it."""
        ranking = [
            r for r in message.data.get(INTENT_RANKING_KEY, []) if r.get("name") != "nlu_fallback"
        ]
        top = (message.data.get(INTENT) or {}).get(INTENT_NAME_KEY)
        group = self._group_of(top)
        inside = sum(float(r.get("confidence") or 0.0) for r in ranking if r.get("name") in group)
        second = (message.data.get(INTENT_ALSO) or {}).get("name")
        outside = max(
            (
                float(r.get("confidence") or 0.0)
                for r in ranking
                if r.get("name") not in group and r.get("name") != second
            ),
            default=0.0,
        )
        if not ranking:
            inside = float((message.data.get(INTENT) or {}).get("confidence") or 0.0)
        return inside, outside

    def _nlu_confidence_below_threshold(self, message: Message) -> tuple[bool, float]:
        inside, _outside = self._split(message)
        return inside < self.component_config["threshold"], inside

    def _nlu_prediction_ambiguous(self, message: Message) -> tuple[bool, float | None]:
        inside, outside = self._split(message)
        difference = inside - outside
        return difference < self.component_config["ambiguity_threshold"], difference
