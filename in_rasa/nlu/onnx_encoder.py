"""The sentence encoders run with ONNX Runtime: the graph built once per environment.

The first use of an encoder with ``runtime: onnx`` builds its ONNX graph from
the packaged safetensors weights (:mod:`in_rasa.nlu.onnx_graph`, no PyTorch) and,
with ``quantize: int8``, a copy with int8 weights; both are kept in the
environment's ``share/care-encoders/<encoder>/``, beside MPNet's unpacked
weights, under a name that changes with the graph builder's code and with the
onnx, onnxruntime and weight package versions, so an upgrade builds anew and
nothing stale is read. Building MPNet takes about 20 s (int8: 1-2 minutes
more), once.

Threads: one per process by default (``CARE_ENCODER_THREADS`` sets another
number; ``python -m bot.model`` gives a training every core). A care stack
runs Rasa, the action server and the gateway on the same few cores; one
thread per process never oversubscribes them, and spinning is off so a waiting
ONNX Runtime thread does not burn a core another process needs. Measured on
2 cores with other work on them (load 4-6): one MPNet message took 166 ms
with one thread and 221 ms with two (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from in_rasa.nlu import onnx_graph
from in_rasa.nlu.encoder import (
    DISTRIBUTIONS,
    Encoder,
    model_dir,
    relative_position_buckets,
)

if TYPE_CHECKING:
    import onnxruntime

#: How the int8 graph is quantized (see :func:`quantize_int8`); part of its file's name.
INT8_SETTINGS: dict[str, Any] = {
    "op_types_to_quantize": ["MatMul"],
    "per_channel": True,
    "reduce_range": True,
}
#: Environment variable that sets the threads of one encoder run.
THREADS_VARIABLE = "CARE_ENCODER_THREADS"


def cache_root() -> Path:
    """Where built graphs are kept (one folder per encoder, beside MPNet's weights)."""
    return Path(sys.prefix) / "share" / "care-encoders"


def threads() -> int:
    """Threads for one encoder run: ``CARE_ENCODER_THREADS``, or 1 (see the module docstring)."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return 1
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{THREADS_VARIABLE} must be a whole number, not {value!r}") from None
    if count < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be at least 1, not {count}")
    return count


def _versions(name: str) -> str:
    from importlib.metadata import version

    packages = ("onnx", "onnxruntime", *DISTRIBUTIONS[name])
    return ",".join(f"{p}={version(p)}" for p in packages)


def graph_key(name: str, quantize: str) -> str:
    """Names one build: the builder's code, the versions involved, the variant."""
    digest = hashlib.sha256(Path(onnx_graph.__file__).read_bytes())
    settings = INT8_SETTINGS if quantize == "int8" else {}
    digest.update(f"{name}\0{quantize}\0{sorted(settings.items())}\0{_versions(name)}".encode())
    return digest.hexdigest()[:16]


def graph_file(name: str, quantize: str = "none", root: Path | None = None) -> Path:
    """The encoder's ONNX graph file, built (once) if it is not there yet."""
    directory = (root or cache_root()) / name
    variant = "int8" if quantize == "int8" else "float32"
    target = directory / f"encoder-{variant}-{graph_key(name, quantize)}.onnx"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    if quantize == "int8":
        source = graph_file(name, "none", root)
        _write_atomically(target, lambda path: quantize_int8(source, path))
    elif quantize == "none":
        _write_atomically(target, lambda path: _build_float32(name, path))
    else:
        raise ValueError(f"unknown quantization {quantize!r} (known: none, int8)")
    # Earlier builds of this variant (older code or versions) are never read again.
    for stale in directory.glob(f"encoder-{variant}-*.onnx"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def _write_atomically(target: Path, write: Any) -> None:
    """Writes beside ``target`` and renames into place: two processes that build at
    once, or one that dies half-way, never leave a partial graph behind."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".onnx")
    os.close(handle)
    try:
        write(Path(name))
        os.chmod(name, 0o644)  # mkstemp makes it private; the environment's users read it
        os.replace(name, target)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def _build_float32(name: str, path: Path) -> None:
    import onnx
    from safetensors.numpy import load_file

    directory = model_dir(name)
    architecture = onnx_graph.Architecture.of(Encoder(directory))
    weights = load_file(str(directory / "model.safetensors"))
    model = onnx_graph.build(architecture, weights)
    del weights
    onnx.save(model, str(path))


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the matrix products' weights (activations are
    quantized per batch at run time).

    Per-channel weights and 7-bit weight ranges: on AVX2 processors without VNNI
    (this project's machines) ONNX Runtime multiplies uint8 by int8 in 16-bit
    sums that saturate; with full-range int8 weights MPNet's sentence vectors
    were unrelated to the float32 ones (mean cosine 0.05 on 200 test messages),
    with 7-bit ones 0.79, with uint8 ones 0.81, the 7-bit int8 being faster
    (56 against 75 ms CPU a message, one measurement on a loaded machine). The
    embedding table stays float32 (what it saves, 70 MB, is not where the time
    goes). Even so the assistant loses 1-2 points on the real posts with it, so
    float32 ships (docs/benchmarks.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, **INT8_SETTINGS)


def session_options(thread_count: int) -> onnxruntime.SessionOptions:
    """ONNX Runtime's settings for a server process that shares few cores with others."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # All of ONNX Runtime's own graph optimisations, applied when the session
    # loads (about a second for MPNet): on these graphs it fuses GELU into
    # BiasGelu, the attention scale into FusedMatMul, and with int8 weights the
    # residual Add into SkipLayerNormalization (tests/nlu/test_onnx_encoder.py).
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = thread_count
    options.inter_op_num_threads = 1
    # A waiting thread sleeps instead of spinning on a core another process needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers say nothing to us
    return options


class OnnxEncoder(Encoder):
    """A BERT or MPNet sentence encoder run with ONNX Runtime (same interface and
    output as the NumPy :class:`~in_rasa.nlu.encoder.SentenceEncoder`)."""

    def __init__(
        self,
        name: str,
        quantize: str = "none",
        thread_count: int | None = None,
        root: Path | None = None,
    ) -> None:
        """Loads (building it if need be, under ``root``) the graph of encoder ``name``."""
        import onnxruntime

        directory = model_dir(name)
        super().__init__(directory)
        self.name = name
        self.quantize = quantize
        self.path = graph_file(name, quantize, root)
        self.threads = thread_count or threads()
        started = time.perf_counter()
        self.session = onnxruntime.InferenceSession(
            str(self.path), session_options(self.threads), providers=["CPUExecutionProvider"]
        )
        self.load_seconds = time.perf_counter() - started

    @functools.lru_cache(maxsize=128)  # noqa: B019 (one encoder per process, lengths <= 128)
    def position_buckets(self, length: int) -> np.ndarray:
        """MPNet's relative position bucket of each query and key, ``[length, length]``."""
        return relative_position_buckets(length, self.buckets)

    def _encode_batch(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        ids, mask = self.padded(batch)
        feeds = {onnx_graph.INPUT_IDS: ids, onnx_graph.ATTENTION_MASK: mask}
        if self.kind == "mpnet":
            feeds[onnx_graph.POSITION_BUCKETS] = self.position_buckets(ids.shape[1])
        (hidden,) = self.session.run([onnx_graph.OUTPUT], feeds)
        return hidden, mask
