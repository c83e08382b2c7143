"""Sentence-encoder results kept between trainings, keyed by the exact text.

Rasa caches a component's output only while all of its input is unchanged:
one new training example, and every example is encoded again (most of a
training's time with MPNet). A trainer's change (``make gate``), an evaluation
of a data change, or a benchmark of a variant touches a few texts: this cache
keeps the encoder's output per text so that only those are encoded.

It holds training and test texts only (the featurizer uses it in training,
never on live customer messages), in one SQLite file beside Rasa's cache
directory (``RASA_CACHE_DIRECTORY``, ``.rasa/cache`` by default; not inside it,
where Rasa deletes files it does not know when it trims its cache), so
``rm -rf .rasa`` clears it as it clears Rasa's own cache. The key includes the
encoder and its package versions: a new encoder never reads an old one's vectors.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FILE_NAME = "care-encoder.sqlite"


def default_path() -> Path:
    """Where the cache lives (beside Rasa's own cache)."""
    return Path(os.environ.get("RASA_CACHE_DIRECTORY") or ".rasa/cache").parent / FILE_NAME


def _pack(states: np.ndarray, sentence: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, states=states, sentence=sentence)
    return buffer.getvalue()


def _unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    with np.load(io.BytesIO(blob)) as arrays:
        return arrays["states"], arrays["sentence"]


class EncodingCache:
    """Per-text encoder output (piece states and sentence vector) for one encoder."""

    def __init__(self, path: Path, encoder_key: str) -> None:
        self.path = path
        self.encoder_key = encoder_key
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS encodings (key TEXT PRIMARY KEY, value BLOB)")

    def _connect(self) -> sqlite3.Connection:
        # Several trainings may share the file (benchmarks run variants side by side).
        return sqlite3.connect(self.path, timeout=60)

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.encoder_key}\0{text}".encode()).hexdigest()

    def get(self, texts: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The stored output of those ``texts`` that are in the cache."""
        keys = {self._key(text): text for text in set(texts)}
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        names = list(keys)
        with self._connect() as db:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                # Only placeholders go into the statement; the keys are parameters.
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, value FROM encodings WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, blob in rows:
                    found[keys[key]] = _unpack(blob)
        return found

    def put(self, results: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Stores the output for each text."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO encodings (key, value) VALUES (?, ?)",
                [(self._key(text), _pack(*value)) for text, value in results.items()],
            )
