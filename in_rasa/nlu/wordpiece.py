"""BERT's uncased WordPiece tokenizer, with character offsets.

Written out here rather than taken from a tokenizers library so that every
word piece keeps the character offsets it came from: Rasa needs one feature
vector per token of its own tokenizer, and those are built from the pieces
that overlap each token. Both encoders (all-MiniLM-L6-v2, all-mpnet-base-v2)
use it with their own vocabulary.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

MAX_WORD_CHARS = 100  # longer "words" (a pasted blob) become one unknown piece


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _normalise(char: str) -> str:
    """Lower case without accents, as BERT's uncased vocabulary expects."""
    decomposed = unicodedata.normalize("NFD", char.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class Piece:
    """A word piece id and the span of the original text it covers."""

    id: int
    start: int
    end: int


class WordPiece:
    """BERT's uncased basic tokenizer and WordPiece, with character offsets."""

    def __init__(
        self, vocab: dict[str, int], cls: str = "[CLS]", sep: str = "[SEP]", unk: str = "[UNK]"
    ) -> None:
        self.vocab = vocab
        self.unk = vocab[unk]
        self.cls = vocab[cls]  # MPNet's vocabulary calls them <s> and </s>
        self.sep = vocab[sep]

    @classmethod
    def from_file(cls, path: Path, special: dict[str, str] | None = None) -> WordPiece:
        """Reads ``vocab.txt`` (one piece per line, the line number is its id); ``special``
        names the sentence's start and end pieces (``cls``, ``sep``) and ``unk``."""
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({piece: index for index, piece in enumerate(lines)}, **(special or {}))

    def words(self, text: str) -> list[tuple[str, int, int]]:
        """Splits ``text`` into normalised words with their spans in ``text``."""
        words: list[tuple[str, int, int]] = []
        current: list[str] = []
        start = 0

        def flush(end: int) -> None:
            if current:
                words.append(("".join(current), start, end))
                current.clear()

        for index, char in enumerate(text):
            code = ord(char)
            if code == 0 or code == 0xFFFD or unicodedata.category(char) in ("Cc", "Cf"):
                if char in "\t\n\r":
                    flush(index)
                continue
            if char.isspace():
                flush(index)
                continue
            if _is_punctuation(char) or _is_cjk(code):
                flush(index)
                normalised = _normalise(char)
                if normalised:
                    words.append((normalised, index, index + 1))
                continue
            if not current:
                start = index
            current.append(_normalise(char))
        flush(len(text))
        return [(w, s, e) for w, s, e in words if w]

    def pieces(self, text: str) -> list[Piece]:
        """Word pieces of ``text``, without [CLS]/[SEP]."""
        pieces: list[Piece] = []
        for word, start, end in self.words(text):
            if len(word) > MAX_WORD_CHARS:
                pieces.append(Piece(self.unk, start, end))
                continue
            pieces.extend(self._word_pieces(word, start, end))
        return pieces

    def _word_pieces(self, word: str, start: int, end: int) -> list[Piece]:
        found: list[Piece] = []
        position = 0
        # The normalised word may differ in length from the original span
        # (accents, ligatures); spread offsets proportionally.
        scale = (end - start) / max(len(word), 1)
        while position < len(word):
            stop = len(word)
            match = None
            while position < stop:
                candidate = word[position:stop]
                if position > 0:
                    candidate = "##" + candidate
                if candidate in self.vocab:
                    match = self.vocab[candidate]
                    break
                stop -= 1
            if match is None:
                return [Piece(self.unk, start, end)]
            found.append(Piece(match, start + int(position * scale), start + round(stop * scale)))
            position = stop
        return found
