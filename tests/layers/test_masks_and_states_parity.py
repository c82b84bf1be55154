"""Masks through normalisation layers, TimeDistributed and Bidirectional, and recurrent initial states,
checked against Keras 3 (torch backend) on the same weights."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

from layerwise import layers as L
from layerwise import models

ATOL = 1e-5


def padded_ids(shape=(6, 7), vocab=10, seed=0) -> np.ndarray:
    """Token ids with trailing padding (0) of different lengths per row (and per inner sequence)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, shape)
    lengths = rng.integers(1, shape[-1] + 1, shape[:-1])
    ids[np.arange(shape[-1]) >= lengths[..., None]] = 0
    return ids


def copy_weights(ours, theirs) -> None:
    for a, b in zip(ours.layers, theirs.layers):
        a.set_weights(b.get_weights())


def sequential_pair(keras, make_layers, input_shape):
    """The same Sequential in both libraries (``make_layers(module)`` gives its layers), Keras' weights copied."""
    theirs = keras.Sequential([keras.Input(input_shape), *make_layers(keras.layers)])
    ours = models.Sequential([L.Input(input_shape), *make_layers(L)])
    copy_weights(ours, theirs)
    return ours, theirs


NORMALISATIONS = {
    "LayerNormalization": lambda m: m.LayerNormalization(),
    "BatchNormalization": lambda m: m.BatchNormalization(),
    "GroupNormalization": lambda m: m.GroupNormalization(groups=5),
    "UnitNormalization": lambda m: m.UnitNormalization(),
    "Rescaling": lambda m: m.Rescaling(0.5, offset=0.1),
    "Identity": lambda m: m.Identity(),
}


@pytest.mark.parametrize("name", NORMALISATIONS)
def test_mask_passes_normalisation_layers_so_loss_skips_padding(keras, name):
    x, y = padded_ids(), np.random.default_rng(1).normal(size=(6, 7, 2)).astype("float32")

    def make(m):
        return [m.Embedding(10, 4, mask_zero=True), m.LSTM(5, return_sequences=True), NORMALISATIONS[name](m),
                m.Dense(2)]

    ours, theirs = sequential_pair(keras, make, (7,))
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
    assert abs(ours.evaluate(x, y, verbose=0) - theirs.evaluate(x, y, verbose=0)) < ATOL
    assert ours.layers[2].supports_masking


def test_batch_normalization_trains_on_unmasked_steps_only(keras):
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    mask = np.ones((4, 6), bool)
    mask[0, 3:] = mask[2, 1:] = False
    ours, theirs = L.BatchNormalization(momentum=0.5), keras.layers.BatchNormalization(momentum=0.5)
    out_theirs = theirs(x, training=True, mask=mask)
    ours.build((None, 6, 3))
    ours.set_weights([w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in theirs.get_weights()])
    ours.moving_mean.zero_()
    ours.moving_variance.fill_(1.0)
    ours.train()
    out_ours = ours(torch.as_tensor(x), mask=torch.as_tensor(mask))
    np.testing.assert_allclose(out_ours.detach().numpy(), keras.ops.convert_to_numpy(out_theirs), atol=ATOL)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=ATOL)
    with pytest.raises(ValueError, match="one dimension less than the input"):
        ours(torch.as_tensor(x), mask=torch.ones(4, 6, 3, dtype=torch.bool))


@pytest.mark.parametrize("inner", ["LSTM", "GRU", "Bidirectional"])
def test_time_distributed_hands_the_mask_to_the_wrapped_recurrent_layer(keras, inner):
    x = padded_ids((4, 3, 5))

    def make(m):
        rnn = m.Bidirectional(m.GRU(3)) if inner == "Bidirectional" else getattr(m, inner)(3)
        return [m.Embedding(10, 4, mask_zero=True), m.TimeDistributed(rnn)]

    ours, theirs = sequential_pair(keras, make, (3, 5))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=ATOL)


def test_time_distributed_batch_normalization_uses_per_step_statistics_in_training(keras):
    x = (np.random.default_rng(0).normal(size=(5, 4, 3)) * np.arange(1, 5)[None, :, None]).astype("float32")
    theirs = keras.layers.TimeDistributed(keras.layers.BatchNormalization(momentum=0.5))
    out_theirs = keras.ops.convert_to_numpy(theirs(x, training=True))
    ours = L.TimeDistributed(L.BatchNormalization(momentum=0.5))
    ours.build((None, 4, 3))
    ours.train()
    np.testing.assert_allclose(ours(torch.as_tensor(x)).detach().numpy(), out_theirs, atol=ATOL)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=ATOL)


def test_bidirectional_without_merge_masks_both_sequence_outputs(keras):
    x = padded_ids()
    rng = np.random.default_rng(2)
    targets = [rng.normal(size=(6, 7, 2)).astype("float32") for _ in range(2)]

    def build(m, model_class):
        inp = m.Input((7,))
        e = m.Embedding(10, 4, mask_zero=True)(inp)
        f, b = m.Bidirectional(m.GRU(3, return_sequences=True), merge_mode=None)(e)
        return model_class(inp, [m.Dense(2)(f), m.Dense(2)(b)])

    theirs, ours = build(keras.layers, keras.Model), build(L, models.Model)
    copy_weights(ours, theirs)
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss=["mse", "mse"])
    np.testing.assert_allclose(ours.evaluate(x, targets, verbose=0), theirs.evaluate(x, targets, verbose=0),
                               atol=ATOL)


def test_bidirectional_output_shape_with_a_backward_layer_of_other_units():
    layer = L.Bidirectional(L.LSTM(3, return_sequences=True),
                            backward_layer=L.GRU(2, return_sequences=True, go_backwards=True))
    assert layer.compute_output_shape((None, 6, 4)) == (None, 6, 5)
    assert tuple(layer(torch.rand(2, 6, 4)).shape) == (2, 6, 5)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_masks_its_sequences_when_the_directions_carry_other_state_counts(keras, merge_mode):
    """A SimpleRNN forwards (one state) and an LSTM backwards (two): the sequence outputs keep the input's mask,
    one mask per output as in Keras. The count used to come from the forward layer twice, so the eager outputs
    lost their masks."""
    x = np.random.default_rng(0).random((2, 4, 3)).astype("float32")
    x[1, 2:] = 0

    def make(m):
        return m.Bidirectional(m.SimpleRNN(2, return_sequences=True, return_state=True), merge_mode=merge_mode,
                               backward_layer=m.LSTM(2, return_sequences=True, return_state=True, go_backwards=True))

    def masked(outputs):
        return [getattr(t, "_keras_mask", None) is not None for t in outputs]

    ours, theirs = make(L)(L.Masking()(x)), make(keras.layers)(keras.layers.Masking()(x))
    assert len(ours) == len(theirs) == (5 if merge_mode is None else 4)
    assert masked(ours) == masked(theirs) == [True] * (2 if merge_mode is None else 1) + [False] * 3
    np.testing.assert_array_equal(ours[0]._keras_mask.numpy(), [[True] * 4, [True, True, False, False]])


@pytest.mark.parametrize("layer_class", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state_of_the_wrong_batch_size_is_refused(layer_class):
    layer = getattr(L, layer_class)(2, return_state=True)
    x = torch.rand(2, 3, 4)
    count = 2 if layer_class == "LSTM" else 1
    with pytest.raises(ValueError, match=r"initial state 0 of shape \(2, 2\) \(the batch's size first\); got \(3, 2\)"):
        layer(x, initial_state=[torch.rand(3, 2)] * count)
    cell = {"SimpleRNN": L.SimpleRNNCell, "LSTM": L.LSTMCell, "GRU": L.GRUCell}[layer_class](2)
    with pytest.raises(ValueError, match=r"got \(1, 2\)"):
        L.RNN(cell)(x, initial_state=[torch.rand(1, 2)] * count)


def test_numpy_initial_state_and_mask_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    h, c = rng.normal(size=(2, 5)).astype("float32"), rng.normal(size=(2, 5)).astype("float32")
    mask = np.array([[True] * 4, [True, True, False, False]])
    theirs = keras.layers.LSTM(5)
    expected = keras.ops.convert_to_numpy(theirs(x, initial_state=[h, c], mask=mask))
    ours = L.LSTM(5)
    ours.build((None, 4, 3))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(torch.as_tensor(x), initial_state=[h, c], mask=mask).detach().numpy(), expected,
                               atol=ATOL)


def test_embedding_drops_keras_2_input_length_with_keras_warning(keras):
    with pytest.warns(UserWarning, match="`input_length` is deprecated"):
        ours = L.Embedding(10, 2, input_length=5)
    assert "input_length" not in ours.get_config()


def test_masking_on_rows(keras):
    x = np.array([[0.0, 1.0], [0.0, 0.0]], "float32")
    theirs = keras.layers.Masking()
    ours = L.Masking()
    np.testing.assert_array_equal(ours(torch.as_tensor(x)).numpy(), keras.ops.convert_to_numpy(theirs(x)))
    np.testing.assert_array_equal(ours.compute_mask(torch.as_tensor(x)).numpy(),
                                  keras.ops.convert_to_numpy(theirs.compute_mask(x)))


@pytest.mark.parametrize("layer_class", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_mask_of_keras_shapes_or_a_clear_error(keras, layer_class):
    """A mask ``(batch, timesteps, 1)`` is taken as Keras takes it; a mask of another shape is refused with the
    layer's name and both shapes (it raised an expand error, or ran with a wrong result for ``(batch,)``)."""
    x = np.random.default_rng(1).random((2, 4, 3)).astype("float32")
    mask = np.array([[True] * 4, [True, True, False, False]])
    theirs = getattr(keras.layers, layer_class)(2, return_sequences=True)
    expected = keras.ops.convert_to_numpy(theirs(x, mask=mask))
    ours = getattr(L, layer_class)(2, return_sequences=True)
    ours.build_from((None, 4, 3))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x, mask=mask[..., None]).detach().numpy(), expected, atol=ATOL)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs(x, mask=mask[..., None])), expected, atol=ATOL)
    for wrong in (mask[:, 0], np.ones((2, 5), bool)):
        with pytest.raises(ValueError, match=rf"'{ours.name}' \({layer_class}\) expects a mask of shape \(batch, "
                                             rf"timesteps\) = \(2, 4\).*received a mask of shape \({wrong.shape[0]},"):
            ours(x, mask=wrong)


def test_bidirectional_over_an_rnn_of_cells_writes_the_zero_output_its_copies_use(keras):
    """Bidirectional makes its copies zero masked outputs when they return sequences; Keras writes that in their
    configs, layerwise wrote the RNN's constructor value."""
    def make(m):
        return m.Bidirectional(m.RNN(m.GRUCell(2), return_sequences=True))

    ours, theirs = make(L).get_config(), make(keras.layers).get_config()
    for side in ("layer", "backward_layer"):
        assert ours[side]["config"]["zero_output_for_mask"] is theirs[side]["config"]["zero_output_for_mask"] is True
