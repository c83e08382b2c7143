"""The sentence encoders on ONNX Runtime give what the NumPy reference (and PyTorch) give.

Tolerances (absolute, per component), with what was measured on the fixture
texts when they were set:

* sentence vectors (unit length): 1e-5 against NumPy (measured at most
  1.7e-7 for MiniLM, 1.4e-7 for MPNet); 1e-4 against PyTorch, the NumPy
  reference's own tolerance;
* token (word piece) vectors, whose components reach about 10: 1e-4
  against NumPy (measured at most 2.3e-6 for MiniLM, 7.2e-7 for MPNet).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from in_rasa.nlu.encoder import MAX_PIECES, MINILM, MPNET, shared_encoder
from in_rasa.nlu.onnx_encoder import (
    THREADS_VARIABLE,
    OnnxEncoder,
    graph_file,
    session_options,
    threads,
)
from tests.conftest import PROJECT_ROOT

SENTENCE_TOLERANCE = 1e-5
STATE_TOLERANCE = 1e-4
PYTORCH_TOLERANCE = 1e-4
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
REFERENCES = {
    MINILM: json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8")),
    MPNET: json.loads((FIXTURES / "mpnet_reference.json").read_text(encoding="utf-8")),
}
# What customers write: emoji, handles, shouting, typos, a lone character, and
# one message longer than the encoder reads (truncated at MAX_PIECES).
TEXTS = [
    "my bag never showed up 😡",
    "is NW881 on time?",
    "@NorthwindAir WORST airline ever, 3 hrs on the tarmac #fail",
    "k",
    "can i bring my dog on board pleeease",
    "refund " * 150,
]


def texts(name: str) -> list[str]:
    return [case["text"] for case in REFERENCES[name]["cases"] if case["text"]] + TEXTS


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_sentence_and_token_vectors_agree_with_the_numpy_reference(name: str) -> None:
    onnx_encoded = shared_encoder(name, "onnx").encode(texts(name))
    numpy_encoded = shared_encoder(name, "numpy").encode(texts(name))
    for (a_states, a_pieces, a), (b_states, b_pieces, b) in zip(
        onnx_encoded, numpy_encoded, strict=True
    ):
        assert a_pieces == b_pieces
        assert a.dtype == np.float32 and a.shape == b.shape
        assert float(np.abs(a - b).max()) < SENTENCE_TOLERANCE
        assert a_states.shape == b_states.shape
        assert float(np.abs(a_states - b_states).max()) < STATE_TOLERANCE
    assert len(onnx_encoded[-1][1]) == MAX_PIECES - 2  # the long message, truncated


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_sentence_vectors_match_the_pytorch_reference(name: str) -> None:
    cases = [case for case in REFERENCES[name]["cases"] if case["text"]]
    encoded = shared_encoder(name, "onnx").encode([case["text"] for case in cases])
    for case, (_states, _pieces, sentence) in zip(cases, encoded, strict=True):
        reference = np.array(case["sentence"], dtype=np.float32)
        assert float(np.abs(sentence - reference).max()) < PYTORCH_TOLERANCE, case["text"]


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_batching_and_padding_do_not_change_results(name: str) -> None:
    encoder = shared_encoder(name, "onnx")
    together = encoder.encode(texts(name), batch_size=8)
    one_by_one = [encoder.encode([text])[0] for text in texts(name)]
    for (a_states, _, a), (b_states, _, b) in zip(together, one_by_one, strict=True):
        np.testing.assert_allclose(a, b, atol=SENTENCE_TOLERANCE)
        np.testing.assert_allclose(a_states, b_states, atol=STATE_TOLERANCE)


def test_the_graph_is_valid_onnx_built_from_the_weights_alone() -> None:
    path = graph_file(MINILM)
    onnx.checker.check_model(str(path))
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    assert {i.name for i in model.graph.initializer} >= {
        "embeddings.word_embeddings.weight",
        "encoder.layer.5.output.dense.weight",
    }
    assert not {n.domain for n in model.graph.node} - {""}  # standard operators only


def test_onnx_runtime_fuses_the_graph_when_it_loads(tmp_path: Path) -> None:
    options = session_options(1)
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(
        str(graph_file(MINILM)), options, providers=["CPUExecutionProvider"]
    )
    ops = collections.Counter(
        n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node
    )
    # GELU with the bias before it, the attention scale into the score product.
    assert ops["BiasGelu"] == 6 and ops["Erf"] == 0
    assert ops["FusedMatMul"] == 6
    assert ops["LayerNormalization"] == 13


def test_a_graph_is_built_once_and_replaces_older_builds(tmp_path: Path) -> None:
    stale = tmp_path / MINILM / "encoder-float32-0000000000000000.onnx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older build")
    path = graph_file(MINILM, root=tmp_path)
    assert path.parent == tmp_path / MINILM and path.stat().st_size > 80_000_000
    built = path.stat().st_mtime_ns
    assert graph_file(MINILM, root=tmp_path) == path
    assert path.stat().st_mtime_ns == built  # not built again
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files


@pytest.mark.slow
def test_int8_weights_give_a_smaller_graph_close_to_float32(tmp_path: Path) -> None:
    int8 = OnnxEncoder(MINILM, "int8", root=tmp_path)
    float32 = graph_file(MINILM, root=tmp_path)
    assert int8.path != float32
    # The matrices shrink to a quarter; the embedding table (47 of MiniLM's 90 MB) stays float32.
    assert int8.path.stat().st_size < 0.7 * float32.stat().st_size
    ops = {n.op_type for n in onnx.load(str(int8.path)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    exact = shared_encoder(MINILM, "numpy").encode(TEXTS)
    cosines = [float(a @ b) for (_, _, a), (_, _, b) in zip(int8.encode(TEXTS), exact, strict=True)]
    # Close but not exact: what int8 costs in accuracy is measured on the test sets.
    assert min(cosines) > 0.9 and max(cosines) < 0.99999


def test_threads_default_to_one_and_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert threads() == 1
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert threads() == 2
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    for wrong in ("two", "0"):
        monkeypatch.setenv(THREADS_VARIABLE, wrong)
        with pytest.raises(ValueError, match=THREADS_VARIABLE):
            threads()


def test_an_unknown_runtime_or_quantization_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown quantization"):
        graph_file(MINILM, "int4", root=tmp_path)
    with pytest.raises(ValueError, match="unknown encoder runtime"):
        shared_encoder(MINILM, "torch")
    with pytest.raises(ValueError, match="unknown encoder runtime"):
        shared_encoder(MINILM, "numpy", "int8")
