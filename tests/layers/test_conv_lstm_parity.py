"""ConvLSTM1D/2D/3D against Keras 3 (torch backend): the same weights give the same outputs within 1e-5 over
padding, strides, dilation, return_sequences, return_state, go_backwards, initial_state, masks and (with Keras'
masks handed over) dropout; weight shapes, parameter counts and output shapes equal Keras'; a next-frame model
trains one SGD step as Keras does and saves; bad arguments and inputs are refused naming the layer."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5
BATCH, STEPS, SIZE, CHANNELS, FILTERS = 3, 4, 7, 2, 5
NAMES = {1: "ConvLSTM1D", 2: "ConvLSTM2D", 3: "ConvLSTM3D"}
SETTINGS = [
    (3, {}),
    (3, {"padding": "same"}),
    (3, {"strides": 2}),
    (3, {"dilation_rate": 2, "padding": "same"}),
    (2, {"padding": "same"}),  # an even kernel: Keras' asymmetric 'same' padding, also in the recurrent conv
    (2, {"strides": 2, "padding": "same", "use_bias": False}),
    (3, {"return_sequences": True}),
    (3, {"go_backwards": True, "return_sequences": True, "padding": "same"}),
    (3, {"return_state": True}),
    (3, {"return_state": True, "return_sequences": True, "activation": "relu", "unit_forget_bias": False}),
]


def as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t)


def input_shape(rank: int) -> tuple:
    return (None, STEPS, *(SIZE,) * rank, CHANNELS)


def twin_layers(keras, rank: int, kernel_size, kwargs: dict):
    """A Keras layer with distinct random weights and a layerwise layer holding the same ones."""
    k_layer = getattr(keras.layers, NAMES[rank])(FILTERS, kernel_size, **kwargs)
    k_layer.build(input_shape(rank))
    rng = np.random.default_rng(7)
    k_layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in k_layer.get_weights()])
    lw_layer = getattr(L, NAMES[rank])(FILTERS, kernel_size, **kwargs)
    lw_layer.build_from(input_shape(rank))
    lw_layer.set_weights(k_layer.get_weights())
    return k_layer, lw_layer


def frames(rank: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(BATCH, *input_shape(rank)[1:])).astype("float32")


def assert_same(k_out, lw_out) -> None:
    k_out, lw_out = as_list(k_out), as_list(lw_out)
    assert len(k_out) == len(lw_out)
    for a, b in zip(k_out, lw_out):
        np.testing.assert_allclose(numpy(b), numpy(a), atol=ATOL, rtol=0)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kernel_size, kwargs", SETTINGS)
def test_outputs_shapes_and_weights_match_keras(keras, rank, kernel_size, kwargs):
    k_layer, lw_layer = twin_layers(keras, rank, kernel_size, kwargs)
    x = frames(rank)
    assert_same(k_layer(x), lw_layer(torch.from_numpy(x)))
    assert [w.shape for w in lw_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    assert lw_layer.count_params() == k_layer.count_params()
    k_shape = k_layer.compute_output_shape(input_shape(rank))
    lw_shape = lw_layer.compute_output_shape(input_shape(rank))
    assert [tuple(s) for s in as_list(lw_shape)] == [tuple(s) for s in as_list(k_shape)] if \
        kwargs.get("return_state") else tuple(lw_shape) == tuple(k_shape)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_initial_state_matches_keras(keras, rank):
    k_layer, lw_layer = twin_layers(keras, rank, 3, {"padding": "same", "return_state": True})
    x = frames(rank)
    rng = np.random.default_rng(5)
    h0, c0 = (rng.normal(size=(BATCH, *(SIZE,) * rank, FILTERS)).astype("float32") for _ in range(2))
    k_out = k_layer(x, initial_state=[h0, c0])
    lw_out = lw_layer(torch.from_numpy(x), initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
    assert_same(k_out, lw_out)
    # The final states handed back as initial states continue the sequence, in both.
    assert_same(k_layer(x, initial_state=list(k_out[1:])), lw_layer(torch.from_numpy(x), initial_state=lw_out[1:]))
    assert_same(k_out, lw_layer(torch.from_numpy(x), initial_state=[h0, c0]))  # numpy states, as Keras takes


@pytest.mark.parametrize("return_sequences", [False, True])
def test_masks_match_keras(keras, return_sequences):
    k_layer, lw_layer = twin_layers(keras, 2, 3, {"padding": "same", "return_sequences": return_sequences})
    x = frames(2)
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, 2:] = False  # right padding
    mask[1, [0, 2]] = False  # a masked first step and a hole
    mask[2, :] = False  # nothing real: zero output, initial state
    assert_same(k_layer(x, mask=mask), lw_layer(torch.from_numpy(x), mask=torch.from_numpy(mask)))


def test_dropout_uses_keras_per_gate_masks_shared_by_every_step(keras):
    """Given the masks layerwise draws, Keras' cell computes the same training output."""
    kwargs = {"padding": "same", "dropout": 0.3, "recurrent_dropout": 0.4, "return_sequences": True}
    k_layer, lw_layer = twin_layers(keras, 2, 3, kwargs)
    x = torch.from_numpy(frames(2))
    torch.manual_seed(11)
    lw_out = lw_layer(x, training=True)
    torch.manual_seed(11)  # the same draws, in the layer's order: input masks, then recurrent masks
    keep = lw_layer._gate_keep(x[:, 0], 0.3)
    rec_keep = lw_layer._gate_keep(torch.zeros(BATCH, SIZE, SIZE, FILTERS), 0.4)
    k_layer.cell._dropout_mask = list(keep.unbind(-2))
    k_layer.cell._recurrent_dropout_mask = list(rec_keep.unbind(-2))
    assert_same(k_layer(x.numpy(), training=True), lw_out)
    assert sorted(np.unique(keep.numpy()).round(4)) == [0.0, round(1 / 0.7, 4)]
    assert not torch.equal(keep[..., 0, :], keep[..., 1, :])  # one mask per gate
    # Inference drops nothing (a layer alone is a torch module, in training mode unless told).
    np.testing.assert_allclose(numpy(lw_layer(x, training=False)), numpy(k_layer(x.numpy())), atol=ATOL)


def test_fresh_weights_start_as_keras_does(keras):
    k_layer = keras.layers.ConvLSTM2D(4, 3)
    k_layer.build((None, 2, 6, 6, 3))
    lw_layer = L.ConvLSTM2D(4, 3)
    lw_layer.build_from((None, 2, 6, 6, 3))
    np.testing.assert_array_equal(lw_layer.get_weights()[2], k_layer.get_weights()[2])  # forget bias at 1
    kernel = lw_layer.get_weights()[0]
    limit = np.sqrt(6 / ((3 + 16) * 9))  # glorot_uniform over Keras' fans of (3, 3, 3, 16)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    recurrent = lw_layer.get_weights()[1].reshape(-1, 16)  # orthogonal as Keras flattens it: (36, 16)
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(16), atol=1e-5)


def test_stateful_carries_the_states_between_batches():
    layer = L.ConvLSTM1D(3, 3, padding="same", stateful=True, return_sequences=True)
    whole = L.ConvLSTM1D(3, 3, padding="same", return_sequences=True)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 6, 5, 2)).astype("float32"))
    layer.build_from(x.shape)
    whole.build_from(x.shape)
    whole.set_weights(layer.get_weights())
    halves = torch.cat([layer(x[:, :3]), layer(x[:, 3:])], dim=1)
    np.testing.assert_allclose(numpy(halves), numpy(whole(x)), atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(numpy(layer(x[:, :3])), numpy(whole(x[:, :3])), atol=1e-6)


def next_frame_layers(lib):
    """Keras' next-frame video prediction example, small."""
    return [lib.layers.ConvLSTM2D(6, (3, 3), padding="same", return_sequences=True, activation="relu"),
            lib.layers.BatchNormalization(),
            lib.layers.ConvLSTM2D(4, (1, 1), padding="same", return_sequences=True, activation="relu"),
            lib.layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")]


def test_next_frame_model_trains_like_keras_and_saves(keras, tmp_path):
    shape = (5, 8, 8, 1)
    k_model = keras.Sequential([keras.Input(shape), *next_frame_layers(keras)])
    model = layerwise.Sequential([layerwise.Input(shape), *next_frame_layers(layerwise)])
    model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(0)
    x = (rng.random((4, *shape)) > 0.7).astype("float32")
    y = np.roll(x, 1, axis=2)  # the next frame: the pattern moved one row
    k_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    model.compile(optimizer=layerwise.optimizers.SGD(0.1), loss="binary_crossentropy")
    np.testing.assert_allclose(model.train_on_batch(x, y), k_model.train_on_batch(x, y), rtol=1e-5)
    for i, (ours, theirs) in enumerate(zip(model.get_weights(), k_model.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    np.testing.assert_allclose(model.predict(x, verbose=0), numpy(k_model.predict(x, verbose=0)), atol=ATOL)
    path = tmp_path / "next_frame.lw"
    model.save(path)
    loaded = layerwise.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_config_round_trips_and_reads_keras_configs(keras):
    layer = L.ConvLSTM3D(4, (1, 2, 3), strides=(1, 1, 2), padding="SAME", recurrent_activation="hard_sigmoid",
                         kernel_regularizer="l2", recurrent_dropout=0.2, return_state=True, name="clstm")
    config = layer.get_config()
    assert config["kernel_size"] == (1, 2, 3) and config["name"] == "clstm"
    assert L.ConvLSTM3D.from_config(config).get_config() == config
    assert keras.layers.ConvLSTM3D.from_config(config).get_config()["strides"] == (1, 1, 2)
    k_config = keras.layers.ConvLSTM2D(3, 5, dilation_rate=2, go_backwards=True).get_config()
    ours = L.ConvLSTM2D.from_config(k_config)
    assert (ours.kernel_size, ours.dilation_rate, ours.go_backwards) == ((5, 5), (2, 2), True)


@pytest.mark.parametrize("make, message", [
    (lambda: L.ConvLSTM2D(3, 3, padding="causal"), "ConvLSTM2D padding must be one of 'valid', 'same', got 'causal'"),
    (lambda: L.ConvLSTM1D(0, 3), "ConvLSTM1D filters must be a positive integer, got 0"),
    (lambda: L.ConvLSTM2D(3, (3, 3, 3)), r"ConvLSTM2D kernel_size must be an int or a tuple of 2 positive ints"),
    (lambda: L.ConvLSTM2D(3, 3, strides=2, dilation_rate=2), "not take strides > 1 together with dilation_rate"),
    (lambda: L.ConvLSTM3D(3, 3, data_format="channels_middle"), "data_format must be .* 'channels_first'"),
    (lambda: L.ConvLSTM2D(3, 3, dropout=1.0), r"ConvLSTM2D dropout must be in \[0, 1\), got 1.0"),
])
def test_bad_arguments_are_refused_with_the_reason(keras, make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_keras_refuses_causal_padding_too(keras):
    with pytest.raises(ValueError, match="padding"):
        keras.layers.ConvLSTM2D(3, 3, padding="causal")


def test_bad_inputs_name_the_layer_and_the_expected_shape():
    with pytest.raises(ValueError, match=r"'conv_lstm2d.*' \(ConvLSTM2D\) expected a 5-D input \(batch, time, rows, "
                                         r"cols, channels\), but received input with shape \(2, 5, 6, 6\)"):
        L.ConvLSTM2D(3, 3)(torch.ones(2, 5, 6, 6))
    with pytest.raises(ValueError, match=r"\(ConvLSTM1D\) expected a 4-D input \(batch, time, rows, channels\)"):
        L.ConvLSTM1D(3, 3)(torch.ones(2, 5, 6, 6, 1))
    with pytest.raises(ValueError, match=r"\(ConvLSTM3D\) expected known spatial sizes"):
        L.ConvLSTM3D(3, 3).build_from((None, 4, None, 6, 6, 1))
    with pytest.raises(ValueError, match=r"\(ConvLSTM2D\) expected spatial sizes of at least the dilated kernel"):
        L.ConvLSTM2D(3, 5)(torch.ones(2, 5, 4, 8, 1))
    layer = L.ConvLSTM2D(3, 3)
    layer(torch.ones(2, 5, 6, 6, 1))
    with pytest.raises(ValueError, match=r"expected input shape \(None, None, 6, 6, 1\) \(spatial sizes and channels "
                                         r"are fixed when the layer builds\), but received input with shape "
                                         r"\(2, 5, 7, 6, 1\)"):
        layer(torch.ones(2, 5, 7, 6, 1))
    with pytest.raises(ValueError, match=r"expects a mask of shape \(batch, timesteps\) = \(2, 5\).*received a mask "
                                         r"of shape \(2, 5, 6, 6\)\. Masking\(\) before a ConvLSTM"):
        layer(torch.ones(2, 5, 6, 6, 1), mask=torch.rand(2, 5, 6, 6) > 0.5)
    with pytest.raises(ValueError, match=r"takes 2 initial state tensor\(s\), got 1"):
        layer(torch.ones(2, 5, 6, 6, 1), initial_state=[torch.zeros(2, 4, 4, 3)])
    with pytest.raises(ValueError, match=r"needs initial state 0 of shape \(2, 4, 4, 3\) \(the batch's size first\); got \(2, 6, 6, 3\)"):
        layer(torch.ones(2, 5, 6, 6, 1), initial_state=[torch.zeros(2, 6, 6, 3)] * 2)
