"""The sentence encoders as ONNX graphs, built from their safetensors weights without PyTorch.

:mod:`in_rasa.nlu.encoder` runs MiniLM (BERT) and MPNet with NumPy; this module
writes the same computation as an ONNX graph with onnx's helper API, so that
ONNX Runtime can fuse and run it (:mod:`in_rasa.nlu.onnx_encoder`). The NumPy
encoder stays the reference: the tests compare the two.

The graph takes ``input_ids`` and ``attention_mask`` (``[batch, sequence]``,
int64) and, for MPNet, ``position_buckets``: the relative position bucket of
each query and key, ``[sequence, sequence]``, from
:func:`in_rasa.nlu.encoder.relative_position_buckets` (they depend on the length
only, and a graph that computed them would need a log and a dozen nodes for
nothing); the graph looks the bias up in the model's table. It
returns ``last_hidden_state`` (``[batch, sequence, hidden]``); pooling stays
in Python, where the token vectors are needed anyway.

The nodes are the ones an exported BERT has (Q, K, V as MatMul + Add, the
mask as ``(1 - mask) x -10000``, GELU as the erf formula), which ONNX
Runtime's own optimiser fuses when a session loads: BiasGelu, the attention
scale into FusedMatMul, and, on the int8 graph, SkipLayerNormalization
(layer norm is one LayerNormalization node here already). Its offline
transformer optimiser (``onnxruntime.transformers``) also fuses the whole
attention into one Attention node for MiniLM, but not for MPNet (its
extra-bias path is never reached in onnxruntime 1.23), it costs about a
minute per build, it stops the int8 quantizer from reading the graph, and
the fused MiniLM graph was no faster on one message (20.2 against 19.7 ms):
at our lengths (10-60 pieces) the time is in the matrix products, so it is
not used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from in_rasa.nlu.encoder import LAYER_NAMES, Encoder

if TYPE_CHECKING:
    import onnx

#: ONNX's standard operator set used (17 is the first with LayerNormalization).
OPSET = 17
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
POSITION_BUCKETS = "position_buckets"
OUTPUT = "last_hidden_state"
# What the mask adds to the scores of padding: exp(-10000) is 0 in float32,
# as in exported BERT models (-1e9 in the NumPy reference gives the same).
MASK_VALUE = -10000.0


@dataclass(frozen=True)
class Architecture:
    """The shape of a BERT or MPNet encoder, from its ``config.json``."""

    kind: str  # "bert" or "mpnet"
    layers: int
    heads: int
    hidden: int
    eps: float
    padding: int  # MPNet's positions start after the padding id

    @classmethod
    def of(cls, encoder: Encoder) -> Architecture:
        """The architecture of a loaded encoder (its ``config.json``, read)."""
        return cls(
            encoder.kind, encoder.layers, encoder.heads, encoder.dim, encoder.eps, encoder.padding
        )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{name}_{self._count}"
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def build(architecture: Architecture, weights: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The encoder as an ONNX model (float32), from its safetensors weights."""
    from onnx import TensorProto, helper

    a = architecture
    g = _Graph()
    f32 = np.float32

    def w(name: str) -> np.ndarray:
        return np.ascontiguousarray(weights[name], dtype=f32)

    # Shapes and scalars shared by all layers.
    split_heads = g.constant("shape_split_heads", np.array([0, 0, a.heads, a.head_dim], np.int64))
    merge_heads = g.constant("shape_merge_heads", np.array([0, 0, a.hidden], np.int64))
    scale = g.constant("attention_scale", np.array(math.sqrt(a.head_dim), f32))
    one = g.constant("one", np.array(1.0, f32))
    half = g.constant("half", np.array(0.5, f32))
    sqrt2 = g.constant("sqrt2", np.array(math.sqrt(2.0), f32))
    mask_value = g.constant("mask_value", np.array(MASK_VALUE, f32))

    def dense(x: str, prefix: str, name: str) -> str:
        """x @ W.T + b, as a MatMul and an Add (the pair ONNX Runtime fuses)."""
        weight = g.constant(f"{prefix}.weight", w(f"{prefix}.weight").T.copy())
        bias = g.constant(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.node("Add", [g.node("MatMul", [x, weight], name), bias], name)

    def layer_norm(x: str, prefix: str) -> str:
        gamma = g.constant(f"{prefix}.weight", w(f"{prefix}.weight"))
        beta = g.constant(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.node("LayerNormalization", [x, gamma, beta], prefix, axis=-1, epsilon=a.eps)

    # Embeddings: word + position (+ BERT's token type 0, folded into the
    # position table), then layer norm.
    positions = w("embeddings.position_embeddings.weight")
    if a.kind == "mpnet":
        # Positions count from padding id + 1, as fairseq's RoBERTa/MPNet do.
        positions = positions[a.padding + 1 :]
    else:
        positions = positions + w("embeddings.token_type_embeddings.weight")[0][None, :]
    word_table = g.constant(
        "embeddings.word_embeddings.weight", w("embeddings.word_embeddings.weight")
    )
    position_table = g.constant("embeddings.positions", np.ascontiguousarray(positions))
    shape = g.node("Shape", [INPUT_IDS], "shape")
    zero = g.constant("zero", np.array([0], np.int64))
    length = g.node(
        "Slice",
        [
            shape,
            g.constant("one_index", np.array([1], np.int64)),
            g.constant("two", np.array([2], np.int64)),
        ],
        "length",
    )
    position_vectors = g.node("Slice", [position_table, zero, length, zero], "position_vectors")
    x = g.node(
        "Add",
        [g.node("Gather", [word_table, INPUT_IDS], "word_vectors"), position_vectors],
        "embedded",
    )
    x = layer_norm(x, "embeddings.LayerNorm")

    # What the scores get added: the mask as BERT exports have it, (1 - mask) x
    # -10000 ([batch, 1, 1, sequence]), and MPNet's relative position bias
    # ([1, heads, sequence, sequence]), summed once for all the layers.
    mask = g.node(
        "Unsqueeze", [ATTENTION_MASK, g.constant("axes", np.array([1, 2], np.int64))], "mask"
    )
    mask = g.node("Cast", [mask], "mask", to=TensorProto.FLOAT)
    attention_bias = g.node("Mul", [g.node("Sub", [one, mask], "mask"), mask_value], "mask_bias")
    if a.kind == "mpnet":
        table = g.constant(
            "encoder.relative_attention_bias.weight", w("encoder.relative_attention_bias.weight")
        )
        relative = g.node("Gather", [table, POSITION_BUCKETS], "relative")  # [q, k, heads]
        relative = g.node("Transpose", [relative], "relative", perm=[2, 0, 1])
        relative = g.node("Unsqueeze", [relative, zero], "relative")  # [1, heads, q, k]
        attention_bias = g.node("Add", [attention_bias, relative], "attention_bias")

    names = LAYER_NAMES[a.kind]
    for layer in range(a.layers):
        p = f"encoder.layer.{layer}."
        n = f"l{layer}"

        def heads(t: str, perm: list[int], name: str) -> str:
            return g.node("Transpose", [g.node("Reshape", [t, split_heads], name)], name, perm=perm)

        q = heads(dense(x, p + names["q"], f"{n}_q"), [0, 2, 1, 3], f"{n}_q")
        k = heads(dense(x, p + names["k"], f"{n}_k"), [0, 2, 3, 1], f"{n}_k")  # transposed
        v = heads(dense(x, p + names["v"], f"{n}_v"), [0, 2, 1, 3], f"{n}_v")
        scores = g.node("Div", [g.node("MatMul", [q, k], f"{n}_qk"), scale], f"{n}_qk")
        scores = g.node("Add", [scores, attention_bias], f"{n}_scores")
        probs = g.node("Softmax", [scores], f"{n}_probs", axis=-1)
        context = g.node("MatMul", [probs, v], f"{n}_context")
        context = g.node("Transpose", [context], f"{n}_context", perm=[0, 2, 1, 3])
        context = g.node("Reshape", [context, merge_heads], f"{n}_context")
        attended = g.node("Add", [dense(context, p + names["o"], f"{n}_o"), x], f"{n}_residual")
        x = layer_norm(attended, p + names["attention_norm"])
        hidden = dense(x, p + "intermediate.dense", f"{n}_ffn_in")
        # BERT's exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in the form ONNX
        # Runtime fuses with the bias before it into one BiasGelu.
        erf = g.node("Erf", [g.node("Div", [hidden, sqrt2], f"{n}_gelu")], f"{n}_gelu")
        gelu = g.node("Mul", [hidden, g.node("Add", [erf, one], f"{n}_gelu")], f"{n}_gelu")
        gelu = g.node("Mul", [gelu, half], f"{n}_gelu")
        out = g.node("Add", [dense(gelu, p + "output.dense", f"{n}_ffn_out"), x], f"{n}_residual")
        x = layer_norm(out, p + "output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT], name=OUTPUT))

    inputs = [
        helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, ["batch", "sequence"]),
    ]
    if a.kind == "mpnet":
        inputs.append(
            helper.make_tensor_value_info(
                POSITION_BUCKETS, TensorProto.INT64, ["sequence", "sequence"]
            )
        )
    graph = helper.make_graph(
        g.nodes,
        f"{a.kind}-encoder",
        inputs,
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", "sequence", a.hidden])],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="northwind-care",
    )
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    return model
