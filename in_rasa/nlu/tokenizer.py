"""The tokenizer: spaCy's blank English tokenizer, tuned for social text.

No pretrained spaCy pipeline can be downloaded here, and none is needed:
spaCy's rule-based English tokenizer handles social text well (emoji, @handles,
URLs, hashtags). Tokens keep their offsets; their lemma is the form features
are built from (``social_lemma``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

if TYPE_CHECKING:
    from spacy.language import Language

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
