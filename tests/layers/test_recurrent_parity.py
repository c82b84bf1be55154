"""Recurrent layers against Keras 3 (torch backend): the same weights give the same outputs within
1e-5, with return_sequences, return_state, go_backwards, masks (right-, left- and hole-padded, and a
fully masked row), Bidirectional, and parameter counts equal to Keras'."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5
STEPS, FEATURES, UNITS = 7, 5, 6

LAYERS = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu"}),
    ("SimpleRNN", {"activation": "sigmoid"}),  # no fused kernel: the step loop
    ("LSTM", {}),
    ("LSTM", {"unit_forget_bias": False, "use_bias": False}),
    ("LSTM", {"recurrent_activation": "tanh"}),  # the step loop
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
    ("GRU", {"use_bias": False}),
]
MODES = [{}, {"return_sequences": True}, {"go_backwards": True}, {"go_backwards": True, "return_sequences": True},
         {"return_state": True}, {"return_state": True, "return_sequences": True}]


def as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def random_weights(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Distinct values everywhere (biases too), so a misplaced gate or transposed kernel shows."""
    rng = np.random.default_rng(7)
    return [rng.normal(0, 0.5, w.shape).astype("float32") for w in weights]


def twin_layers(keras, name: str, kwargs: dict):
    k_layer = getattr(keras.layers, name)(UNITS, **kwargs)
    k_layer.build((None, STEPS, FEATURES))
    k_layer.set_weights(random_weights(k_layer.get_weights()))
    lw_layer = getattr(L, name)(UNITS, **kwargs)
    lw_layer.build_from((None, STEPS, FEATURES))
    lw_layer.set_weights(k_layer.get_weights())
    return k_layer, lw_layer


def masks() -> dict[str, np.ndarray]:
    right = np.ones((4, STEPS), bool)
    right[1, 5:] = right[2, 2:] = right[3, 6:] = False
    mixed = np.ones((4, STEPS), bool)
    mixed[0, 4:] = False  # right padding
    mixed[1, :3] = False  # left padding, as pad_sequences gives by default
    mixed[2, [1, 4]] = False  # holes
    mixed[3, :] = False  # nothing real: state stays initial, output zero
    return {"right": right, "mixed": mixed}


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(4, STEPS, FEATURES)).astype("float32")


def compare(k_layer, lw_layer, x: np.ndarray, mask: np.ndarray | None = None) -> None:
    k_out = k_layer(x) if mask is None else k_layer(x, mask=mask)
    lw_out = lw_layer(torch.from_numpy(x), mask=None if mask is None else torch.from_numpy(mask))
    k_out, lw_out = as_list(k_out), as_list(lw_out)
    assert len(k_out) == len(lw_out)
    for a, b in zip(k_out, lw_out):
        a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)
        np.testing.assert_allclose(b.detach().numpy(), a, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name,kwargs", LAYERS)
@pytest.mark.parametrize("mode", MODES)
def test_outputs_match_keras(keras, inputs, name, kwargs, mode):
    k_layer, lw_layer = twin_layers(keras, name, {**kwargs, **mode})
    assert lw_layer.count_params() == k_layer.count_params()
    assert [w.shape for w in lw_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    compare(k_layer, lw_layer, inputs)


@pytest.mark.parametrize("name,kwargs", LAYERS)
@pytest.mark.parametrize("mask_kind", ["right", "mixed"])
@pytest.mark.parametrize("mode", [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
                                  {"return_state": True}])
def test_masked_outputs_match_keras(keras, inputs, name, kwargs, mask_kind, mode):
    k_layer, lw_layer = twin_layers(keras, name, {**kwargs, **mode})
    mask = masks()[mask_kind]
    compare(k_layer, lw_layer, inputs, mask)
    # and the mask matters: the unmasked output differs
    full = as_list(lw_layer(torch.from_numpy(inputs)))[0]
    masked = as_list(lw_layer(torch.from_numpy(inputs), mask=torch.from_numpy(mask)))[0]
    assert not torch.allclose(full, masked)


def test_zero_output_for_mask_matches_keras(keras, inputs):
    k_layer, lw_layer = twin_layers(keras, "GRU", {"return_sequences": True, "zero_output_for_mask": True})
    compare(k_layer, lw_layer, inputs, masks()["mixed"])


@pytest.mark.parametrize("units,features,expected", [(8, 3, 8 * (3 + 8 + 1))])
def test_parameter_counts_follow_keras_formulas(keras, units, features, expected):
    counts = {"SimpleRNN": units * (features + units + 1), "LSTM": 4 * units * (features + units + 1),
              "GRU": 3 * units * (features + units + 2)}
    assert counts["SimpleRNN"] == expected
    for name, count in counts.items():
        lw_layer = getattr(L, name)(units)
        lw_layer.build_from((None, 10, features))
        k_layer = getattr(keras.layers, name)(units)
        k_layer.build((None, 10, features))
        assert lw_layer.count_params() == k_layer.count_params() == count
    gru = L.GRU(units, reset_after=False)
    gru.build_from((None, 10, features))
    assert gru.count_params() == 3 * units * (features + units + 1)


def twin_models(keras, input_shape: tuple, build) -> tuple:
    k_model = keras.Sequential([keras.Input(input_shape), *build(keras.layers)])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape), *build(L)])
    assert lw_model.count_params() == k_model.count_params()
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model


MODELS = {
    "bidirectional_lstm_concat": lambda M: [M.Bidirectional(M.LSTM(4, return_sequences=True)), M.LSTM(3)],
    "bidirectional_gru_sum": lambda M: [M.Bidirectional(M.GRU(4), merge_mode="sum"), M.Dense(2)],
    "bidirectional_rnn_ave": lambda M: [M.Bidirectional(M.SimpleRNN(4, return_sequences=True), merge_mode="ave")],
    "bidirectional_mul": lambda M: [M.Bidirectional(M.LSTM(4), merge_mode="mul")],
    "seq2seq_repeat": lambda M: [M.LSTM(4), M.RepeatVector(3), M.GRU(4, return_sequences=True),
                                 M.TimeDistributed(M.Dense(2))],
    "conv_then_lstm": lambda M: [M.Conv1D(4, 3, activation="relu"), M.MaxPooling1D(), M.LSTM(3)],
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_models_match_keras(keras, case):
    k_model, lw_model = twin_models(keras, (8, 3), MODELS[case])
    x = np.random.default_rng(5).normal(size=(4, 8, 3)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL, rtol=0)


MASKED_MODELS = {
    "embedding_bidirectional": lambda M: [M.Embedding(20, 4, mask_zero=True),
                                          M.Bidirectional(M.LSTM(3, return_sequences=True)), M.GRU(5), M.Dense(2)],
    "embedding_bidirectional_last": lambda M: [M.Embedding(20, 4, mask_zero=True),
                                               M.Bidirectional(M.GRU(3), merge_mode="sum"), M.Dense(2)],
    "embedding_dense_average": lambda M: [M.Embedding(20, 4, mask_zero=True), M.SimpleRNN(3, return_sequences=True),
                                          M.Dense(4), M.GlobalAveragePooling1D(), M.Dense(2)],
    "embedding_time_distributed": lambda M: [M.Embedding(20, 4, mask_zero=True), M.TimeDistributed(M.Dense(3)),
                                             M.LSTM(3, return_sequences=True, go_backwards=True), M.LSTM(2)],
}


@pytest.mark.parametrize("case", sorted(MASKED_MODELS))
def test_masked_models_match_keras(keras, case):
    ids = np.random.default_rng(1).integers(1, 20, (5, 9))
    ids[0, 6:] = 0
    ids[1, :4] = 0
    ids[2, 3] = 0
    ids[3, 1:] = 0
    k_model, lw_model = twin_models(keras, (9,), MASKED_MODELS[case])
    np.testing.assert_allclose(lw_model.predict(ids, verbose=0), k_model.predict(ids, verbose=0), atol=ATOL, rtol=0)


def test_masking_layer_matches_keras(keras):
    x = np.random.default_rng(2).normal(size=(4, 6, 3)).astype("float32")
    x[0, 4:] = 0
    x[1, :2] = 0
    k_model, lw_model = twin_models(keras, (6, 3), lambda M: [M.Masking(), M.LSTM(3, return_sequences=True)])
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL, rtol=0)


def test_embedding_matches_keras(keras):
    k_model, lw_model = twin_models(keras, (5,), lambda M: [M.Embedding(10, 3)])
    ids = np.random.default_rng(0).integers(0, 10, (4, 5))
    np.testing.assert_allclose(lw_model.predict(ids, verbose=0), k_model.predict(ids, verbose=0), atol=ATOL, rtol=0)


def test_embedding_takes_pretrained_weights_as_keras(keras):
    """``Embedding(..., weights=[matrix], trainable=False)``, the pretrained-vectors idiom of Keras 2 courses."""
    vectors = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    ids = np.array([[1, 9, 0]])
    for weights in ([vectors], vectors):
        ours = layerwise.layers.Embedding(10, 3, weights=weights, trainable=False)
        theirs = keras.layers.Embedding(10, 3, weights=weights, trainable=False)
        np.testing.assert_array_equal(ours(ids).numpy(), keras.ops.convert_to_numpy(theirs(ids)))
        assert ours.trainable_weights == [] and "weights" not in ours.get_config()
    with pytest.raises(ValueError, match=r"weight 'embeddings' has shape \(10, 4\); received \(10, 3\)"):
        layerwise.layers.Embedding(10, 4, weights=vectors)
