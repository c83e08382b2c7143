"""The NumPy sentence encoder gives what the reference PyTorch implementation gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.nlu.encoder import shared_encoder
from tests.conftest import PROJECT_ROOT

REFERENCE = json.loads(
    (PROJECT_ROOT / "tests" / "fixtures" / "minilm_reference.json").read_text(encoding="utf-8")
)
CASES = [case for case in REFERENCE["cases"] if case["text"]]


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:20] for c in CASES])
def test_word_pieces_match_the_reference_tokenizer(case: dict) -> None:
    tokenizer = shared_encoder().tokenizer
    ids = [tokenizer.cls, *(p.id for p in tokenizer.pieces(case["text"])), tokenizer.sep]
    assert ids == case["ids"]


def test_sentence_vectors_match_the_reference_model() -> None:
    encoded = shared_encoder().encode([case["text"] for case in CASES])
    for case, (_states, _pieces, sentence) in zip(CASES, encoded, strict=True):
        reference = np.array(case["sentence"], dtype=np.float32)
        assert sentence.shape == (384,)
        assert float(np.abs(sentence - reference).max()) < 1e-4, case["text"]


def test_batching_and_padding_do_not_change_results() -> None:
    texts = [case["text"] for case in CASES]
    together = shared_encoder().encode(texts, batch_size=8)
    one_by_one = [shared_encoder().encode([t])[0] for t in texts]
    for (a_states, _, a), (b_states, _, b) in zip(together, one_by_one, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a_states, b_states, atol=1e-4)


def test_pieces_keep_offsets_into_the_original_text() -> None:
    text = "Héllo @NorthwindAir flt #512"
    pieces = shared_encoder().tokenizer.pieces(text)
    assert [text[p.start : p.end] for p in pieces][:3] == ["Héllo", "@", "North"]
    assert text[pieces[-1].start : pieces[-1].end] == "512"


def test_meaning_not_words_decides_similarity() -> None:
    bag, luggage, status = (
        s
        for _, _, s in shared_encoder().encode(
            ["my bag is lost", "luggage never showed up at the carousel", "is my flight on time"]
        )
    )
    assert float(bag @ luggage) > float(bag @ status) + 0.1
