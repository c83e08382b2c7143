"""The sentence-encoder featurizer: which encoder, and what it adds to a message."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from in_rasa.nlu.featurizer import SentenceEncoderFeaturizer
from in_rasa.nlu.tokenizer import SocialTokenizer


def featurized(config: dict) -> Message:
    message = Message(data={TEXT: "my bag never showed up 😡"})
    tokenizer = SocialTokenizer(SocialTokenizer.get_default_config())
    message.set(TOKENS_NAMES[TEXT], tokenizer.tokenize(message, TEXT))
    featurizer = SentenceEncoderFeaturizer(
        {**SentenceEncoderFeaturizer.get_default_config(), **config}, "featurizer"
    )
    featurizer.process([message])
    return message


@pytest.mark.parametrize(
    ("encoder", "width"), [("all-MiniLM-L6-v2", 384), ("all-mpnet-base-v2", 768)]
)
def test_each_token_and_the_sentence_get_the_encoders_vectors(encoder: str, width: int) -> None:
    message = featurized({"encoder": encoder})
    sequence, sentence = message.get_dense_features(TEXT)
    assert sentence is not None and sentence.features.shape == (1, width)
    assert sequence is not None and sequence.features.shape == (6, width)


def test_an_unknown_encoder_is_refused_when_the_pipeline_is_built() -> None:
    with pytest.raises(ValueError, match="unknown encoder 'bert-large'"):
        SentenceEncoderFeaturizer.validate_config({"encoder": "bert-large"})
    with pytest.raises(ValueError, match="unknown encoder"):
        featurized({"encoder": "bert-large"})


def test_the_model_fingerprint_changes_with_the_encoder() -> None:
    minilm = SentenceEncoderFeaturizer.fingerprint_addon({"encoder": "all-MiniLM-L6-v2"})
    mpnet = SentenceEncoderFeaturizer.fingerprint_addon({"encoder": "all-mpnet-base-v2"})
    assert minilm != mpnet
    assert SentenceEncoderFeaturizer.fingerprint_addon({}) == minilm


def test_the_onnx_and_numpy_runtimes_give_the_same_features() -> None:
    onnx_sequence, onnx_sentence = featurized({"runtime": "onnx"}).get_dense_features(TEXT)
    numpy_sequence, numpy_sentence = featurized({"runtime": "numpy"}).get_dense_features(TEXT)
    assert onnx_sequence is not None and numpy_sequence is not None
    assert onnx_sentence is not None and numpy_sentence is not None
    np.testing.assert_allclose(onnx_sentence.features, numpy_sentence.features, atol=1e-5)
    np.testing.assert_allclose(onnx_sequence.features, numpy_sequence.features, atol=1e-4)


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ({"runtime": "torch"}, "unknown runtime 'torch'"),
        ({"quantize": "int4"}, "unknown quantize 'int4'"),
        ({"runtime": "numpy", "quantize": "int8"}, "quantize needs runtime: onnx"),
    ],
)
def test_an_unknown_runtime_or_quantization_is_refused(config: dict, refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        SentenceEncoderFeaturizer.validate_config(config)


def test_the_model_fingerprint_changes_with_the_runtime_and_quantization() -> None:
    prints = {
        SentenceEncoderFeaturizer.fingerprint_addon(
            {"encoder": "all-mpnet-base-v2", "runtime": runtime, "quantize": quantize}
        )
        for runtime, quantize in [("numpy", "none"), ("onnx", "none"), ("onnx", "int8")]
    }
    assert len(prints) == 3
    # The defaults are ONNX Runtime in float32.
    assert SentenceEncoderFeaturizer.fingerprint_addon(
        {"encoder": "all-mpnet-base-v2"}
    ) == SentenceEncoderFeaturizer.fingerprint_addon(
        {"encoder": "all-mpnet-base-v2", "runtime": "onnx", "quantize": "none"}
    )


def test_the_encoder_is_loaded_with_the_model_not_on_the_first_message() -> None:
    from types import SimpleNamespace

    from in_rasa.nlu.encoder import shared_encoder

    shared_encoder.cache_clear()
    context = SimpleNamespace(node_name="featurizer")
    config = {"encoder": "all-MiniLM-L6-v2", "runtime": "numpy"}
    SentenceEncoderFeaturizer.create(config, None, None, context)  # type: ignore[arg-type]
    # Loaded and run once at create (when Rasa loads the model); the message reuses it.
    assert shared_encoder.cache_info().currsize == 1
    featurized(config)
    assert shared_encoder.cache_info().hits >= 1 and shared_encoder.cache_info().currsize == 1
