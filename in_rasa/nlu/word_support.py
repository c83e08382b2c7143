"""How much of a message's wording an intent's training examples have used.

Messages outside what the assistant handles tend to borrow an intent's topic
but not its words ("what is the population of Mars" next to the travel
intents). The classifier's confidence does not see that; this does: for each
intent, the IDF-weighted share of the message's words that occur in that
intent's training examples (1.0: every word seen there, 0.0: none).
``benchmarks/oos_study.py`` measures what it adds on CLINC150
(docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

# Words nearly every English message has: what a message is about is in the others.
STOP_WORDS = frozenset(
    """a an the is are was were be to of in on for and or i me my you your it this that
    what how do does can could would should will please tell with at from by as about
    much many""".split()  # noqa: SIM905 (a word list reads better as text)
)
_WORD = re.compile(r"[a-z0-9']+")
# Links and handles are addresses, not wording: the random letters of a short link
# ("t.co/xR4kLm2Q") would each count as a word no intent ever used.
_NOT_WORDING = re.compile(r"https?://\S+|www\.\S+|@\w+")
# Any number is one word: "NW 881" and "flight 2034" share their wording.
NUMBER = "0"


# Names are not wording either: a place, a person or another airline no example named
# ("the agent in Nashville", "Karen was rude", "PHX") says nothing about the intent.
# Measured on real airline tweets: most capitalised words no intent had were names.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:[A-Z][a-z]+[A-Za-z']*|[A-Z]{3})\b")


def words(text: str) -> list[str]:
    """The message's words, lower case, lightly stemmed, stop words aside (unless that is all),
    every number as the same word, links and handles left out."""
    found = _WORD.findall(_NOT_WORDING.sub(" ", text.lower()))
    kept = [w for w in found if w not in STOP_WORDS] or found
    return [NUMBER if any(c.isdigit() for c in w) else _stem(w) for w in kept]


def names(text: str) -> set[str]:
    """Words of ``text`` (as :func:`words` gives them) written like names: capitalised inside
    a sentence, or a three-letter code. Not in a shouted message, where every word is."""
    text = _NOT_WORDING.sub(" ", text)
    if sum(c.isupper() for c in text) > sum(c.islower() for c in text):
        return set()
    return {_stem(m.group(0).lower()) for m in _NAME.finditer(text.strip())}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class WordSupport:
    """Per intent, the words of its training examples; per message, the weighted share seen."""

    def __init__(
        self, vocabulary: Sequence[str], by_intent: np.ndarray, idf: np.ndarray, unknown: float
    ) -> None:
        self.vocabulary = {word: index for index, word in enumerate(vocabulary)}
        self.by_intent = by_intent.astype(bool)  # intents x vocabulary
        self.idf = idf
        self.unknown = unknown  # the weight of a word no training example has

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int], intents: int) -> WordSupport:
        """Learns each intent's words and every word's IDF from the training examples."""
        vocabulary: dict[str, int] = {}
        frequency: dict[int, int] = defaultdict(int)
        seen: dict[int, set[int]] = defaultdict(set)
        for text, label in zip(texts, labels, strict=True):
            for word in set(words(text)):
                index = vocabulary.setdefault(word, len(vocabulary))
                frequency[index] += 1
                seen[label].add(index)
        by_intent = np.zeros((intents, len(vocabulary)), dtype=bool)
        for label, indices in seen.items():
            by_intent[label, sorted(indices)] = True
        documents = len(texts)
        idf = np.array(
            [math.log((1 + documents) / (1 + frequency[i])) + 1 for i in range(len(vocabulary))]
        )
        # A word never seen weighs what the IDF of a word in no document would be.
        return cls(list(vocabulary), by_intent, idf, math.log(1 + documents) + 1)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """messages x intents: the IDF-weighted share of each message's words each intent has."""
        rows = np.zeros((len(texts), self.by_intent.shape[0]))
        for row, text in enumerate(texts):
            # A name no example had is left out (see _NAME); a known one counts as a word.
            unknown_names = names(text) - self.vocabulary.keys()
            indices = [self.vocabulary.get(w) for w in words(text) if w not in unknown_names]
            if not indices:
                rows[row] = 1.0  # nothing to judge by (emoji only, say): no penalty
                continue
            weights = np.array([self.unknown if i is None else self.idf[i] for i in indices])
            hits = np.zeros((self.by_intent.shape[0], len(indices)))
            for column, index in enumerate(indices):
                if index is not None:
                    hits[:, column] = self.by_intent[:, index]
            rows[row] = hits @ weights / weights.sum()
        return rows
