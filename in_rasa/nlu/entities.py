"""Entities by rule: spaCy's EntityRuler over ``data/entity_patterns.jsonl``.

Rules catch flight numbers, record locators, airports and dates better than a
statistical model would from our few examples; the values are normalised by
:mod:`in_rasa.nlu.values`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from in_rasa.nlu import values

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Span

# A pattern whose id is this keeps only its last token as the entity: the
# words before it ("flight", "booking ref") are context, not the value.
KEEP_LAST = "keep:last"
_TRAILING_PUNCT = ".,;:!?"


def _pattern_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class RuleEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts entities with spaCy's EntityRuler and gives them canonical values.

    The patterns are read from the configured file when the model is trained
    and stored inside the model, so a trained model does not depend on the
    working directory. Values are normalised by :mod:`in_rasa.nlu.values`:
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
