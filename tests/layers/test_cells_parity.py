"""RNN over cells against Keras 3 (torch backend): SimpleRNNCell, LSTMCell, GRUCell (reset_after both
ways), stacks of them and a custom cell written the Keras way give Keras' outputs within 1e-5 for the same
weights, with return_sequences, return_state, go_backwards, masks and initial states; parameter counts,
weight layout, config round trips, the fused path, and the errors for bad cells and inputs."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5
BATCH, STEPS, FEATURES, UNITS = 4, 6, 5, 4

CELLS = [
    ("SimpleRNNCell", {}),
    ("SimpleRNNCell", {"activation": "relu"}),
    ("LSTMCell", {}),
    ("LSTMCell", {"unit_forget_bias": False, "use_bias": False}),
    ("GRUCell", {}),
    ("GRUCell", {"reset_after": False}),
    ("GRUCell", {"recurrent_activation": "tanh"}),  # no fused kernel: the step loop
]
MODES = [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True}, {"return_state": True},
         {"return_state": True, "return_sequences": True, "zero_output_for_mask": True}]


def flat(out) -> list:
    """Outputs and states as a flat list of numpy arrays (Keras nests a stack's states per cell)."""
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in flat(item)]
    return [np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)]


def random_weights(weights: list[np.ndarray], seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.5, w.shape).astype("float32") for w in weights]


def twins(keras, build, mode: dict, features: int = FEATURES):
    """The same RNN in both libraries (``build(layers_module, cell_class_of)`` makes the cell or cells), built
    and given Keras' weights, randomized."""
    k_rnn = keras.layers.RNN(build(keras.layers), **mode)
    k_rnn.build((None, STEPS, features))
    k_rnn.set_weights(random_weights(k_rnn.get_weights()))
    lw_rnn = L.RNN(build(L), **mode)
    lw_rnn.build_from((None, STEPS, features))
    lw_rnn.set_weights(k_rnn.get_weights())
    assert lw_rnn.count_params() == k_rnn.count_params()
    assert [w.shape for w in lw_rnn.get_weights()] == [w.shape for w in k_rnn.get_weights()]
    return k_rnn, lw_rnn


def compare(k_layer, lw_layer, x: np.ndarray, mask: np.ndarray | None = None, **kwargs) -> None:
    k_out = k_layer(x, **kwargs) if mask is None else k_layer(x, mask=mask, **kwargs)
    lw_kwargs = {k: [torch.from_numpy(s) for s in flat(v)] if k == "initial_state" else v for k, v in kwargs.items()}
    lw_out = lw_layer(torch.from_numpy(x), mask=None if mask is None else torch.from_numpy(mask), **lw_kwargs)
    k_out, lw_out = flat(k_out), flat(lw_out)
    assert len(k_out) == len(lw_out)
    for a, b in zip(k_out, lw_out):
        np.testing.assert_allclose(b, a, atol=ATOL, rtol=0)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


@pytest.fixture(scope="module")
def mask() -> np.ndarray:
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, 4:] = False  # right padding
    mask[1, :3] = False  # left padding
    mask[2, [1, 4]] = False  # holes
    mask[3, :] = False  # nothing real
    return mask


def keras_cell_class(keras):
    """The Keras guide's minimal cell, written for Keras and (the same code) for layerwise."""
    return _minimal_cell(keras.layers.Layer, keras.ops)


def _minimal_cell(base, ops):
    class MinimalRNNCell(base):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            output = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel))
            return output, [output]

    return MinimalRNNCell


LW_MINIMAL_CELL = _minimal_cell(L.Layer, torch)


@pytest.mark.parametrize("name,kwargs", CELLS)
@pytest.mark.parametrize("mode", MODES)
def test_each_cell_in_rnn_matches_keras(keras, inputs, mask, name, kwargs, mode):
    k_rnn, lw_rnn = twins(keras, lambda M: getattr(M, name)(UNITS, **kwargs), mode)
    compare(k_rnn, lw_rnn, inputs)
    compare(k_rnn, lw_rnn, inputs, mask)


@pytest.mark.parametrize("name,kwargs", CELLS)
def test_one_step_of_a_cell_matches_keras(keras, name, kwargs):
    k_cell, lw_cell = getattr(keras.layers, name)(UNITS, **kwargs), getattr(L, name)(UNITS, **kwargs)
    k_cell.build((None, FEATURES))
    k_cell.set_weights(random_weights(k_cell.get_weights()))
    lw_cell.build_from((None, FEATURES))
    lw_cell.set_weights(k_cell.get_weights())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2 if name == "LSTMCell" else 1)]
    k_out, k_states = k_cell(x, states)
    lw_out, lw_states = lw_cell(torch.from_numpy(x), [torch.from_numpy(s) for s in states])
    for a, b in zip(flat([k_out, k_states]), flat([lw_out, lw_states])):
        np.testing.assert_allclose(b, a, atol=ATOL, rtol=0)
    assert lw_cell.state_size == k_cell.state_size and lw_cell.output_size == UNITS


STACKS = {
    "lstm_gru_simple": lambda M: [M.LSTMCell(4), M.GRUCell(3, reset_after=False), M.SimpleRNNCell(2)],
    "two_lstm_as_stacked_cells": lambda M: M.StackedRNNCells([M.LSTMCell(4), M.LSTMCell(3)]),
}


@pytest.mark.parametrize("case", sorted(STACKS))
@pytest.mark.parametrize("mode", MODES)
def test_stacked_cells_match_keras(keras, inputs, mask, case, mode):
    k_rnn, lw_rnn = twins(keras, STACKS[case], mode)
    assert lw_rnn.sequence_layers() is not None  # built-in cells only: the fused path
    compare(k_rnn, lw_rnn, inputs)
    compare(k_rnn, lw_rnn, inputs, mask)


CUSTOM = {
    "alone": lambda M, cell: cell(3),
    "stacked_with_lstm": lambda M, cell: [cell(3), M.LSTMCell(2)],
}


@pytest.mark.parametrize("case", sorted(CUSTOM))
@pytest.mark.parametrize("mode", MODES)
def test_a_custom_cell_written_the_keras_way_matches_keras(keras, inputs, mask, case, mode):
    k_cell = keras_cell_class(keras)

    def build(M):
        return CUSTOM[case](M, k_cell if M is keras.layers else LW_MINIMAL_CELL)

    k_rnn, lw_rnn = twins(keras, build, mode)
    assert lw_rnn.sequence_layers() is None  # runs step by step
    compare(k_rnn, lw_rnn, inputs)
    compare(k_rnn, lw_rnn, inputs, mask)


def test_initial_states_match_keras_flat_or_nested(keras, inputs):
    rng = np.random.default_rng(4)
    k_rnn, lw_rnn = twins(keras, lambda M: M.LSTMCell(UNITS), {"return_sequences": True, "return_state": True})
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
    compare(k_rnn, lw_rnn, inputs, initial_state=states)
    k_rnn, lw_rnn = twins(keras, STACKS["two_lstm_as_stacked_cells"], {"return_state": True})
    nested = [[rng.normal(size=(BATCH, n)).astype("float32") for _ in range(2)] for n in (4, 3)]
    compare(k_rnn, lw_rnn, inputs, initial_state=nested)
    flat_states = [torch.from_numpy(s) for pair in nested for s in pair]
    given_flat = flat(lw_rnn(torch.from_numpy(inputs), initial_state=flat_states))
    for a, b in zip(given_flat, flat(lw_rnn(torch.from_numpy(inputs), initial_state=nested))):
        np.testing.assert_array_equal(a, b)


def test_rnn_of_a_built_in_cell_runs_the_fused_kernel_and_equals_the_sequence_layer(inputs, mask):
    lstm = L.LSTM(UNITS, return_sequences=True)
    rnn = L.RNN(L.LSTMCell(UNITS), return_sequences=True)
    lstm.build_from((None, STEPS, FEATURES))
    rnn.build_from((None, STEPS, FEATURES))
    rnn.set_weights(random_weights(rnn.get_weights()))
    lstm.set_weights(rnn.get_weights())

    def no_loop(*args):
        raise AssertionError("the step loop ran")

    rnn.cell.sequence._run_loop = no_loop
    x, m = torch.from_numpy(inputs), torch.from_numpy(mask)
    torch.testing.assert_close(rnn(x, mask=m), lstm(x, mask=m), atol=0, rtol=0)


def test_stateful_rnn_carries_states_between_batches(inputs):
    whole = L.RNN(L.GRUCell(UNITS), return_sequences=True)
    halves = L.RNN(L.GRUCell(UNITS), return_sequences=True, stateful=True)
    whole.build_from((None, STEPS, FEATURES))
    halves.build_from((None, STEPS, FEATURES))
    halves.set_weights(whole.get_weights())
    x = torch.from_numpy(inputs)
    split = torch.cat([halves(x[:, :3]), halves(x[:, 3:])], dim=1)
    torch.testing.assert_close(split, whole(x), atol=1e-6, rtol=0)
    halves.reset_states()
    torch.testing.assert_close(halves(x[:, :3]), whole(x[:, :3]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"stateful and carries state for batches of 4 sequences"):
        halves(x[:2])


def _encoder_decoder(M, lib):
    enc_in, dec_in = lib.Input((STEPS, FEATURES)), lib.Input((3, 2))
    _, h, c = M.RNN(M.LSTMCell(UNITS), return_state=True)(enc_in)
    seq = M.RNN([M.LSTMCell(UNITS), M.GRUCell(UNITS)], return_sequences=True)(dec_in, initial_state=[[h, c], h])
    return lib.Model([enc_in, dec_in], M.Dense(2)(seq))


def test_functional_encoder_decoder_with_initial_state_matches_keras_and_round_trips(keras, inputs, tmp_path):
    k_model, lw_model = _encoder_decoder(keras.layers, keras), _encoder_decoder(L, layerwise)
    assert lw_model.count_params() == k_model.count_params()
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    dec = np.random.default_rng(5).normal(size=(BATCH, 3, 2)).astype("float32")
    expected = k_model.predict([inputs, dec], verbose=0)
    np.testing.assert_allclose(lw_model.predict([inputs, dec], verbose=0), expected, atol=ATOL, rtol=0)
    rebuilt = type(lw_model).from_config(lw_model.get_config())
    rebuilt.set_weights(lw_model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([inputs, dec], verbose=0), expected, atol=ATOL, rtol=0)
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.models.load_model(tmp_path / "m.lw")
    np.testing.assert_allclose(loaded.predict([inputs, dec], verbose=0), expected, atol=ATOL, rtol=0)


def test_bidirectional_rnn_of_a_cell_matches_keras(keras, inputs, mask):
    def build(M):
        return M.Bidirectional(M.RNN(M.GRUCell(3), return_sequences=True))

    k_layer, lw_layer = build(keras.layers), build(L)
    k_layer.build((None, STEPS, FEATURES))
    k_layer.set_weights(random_weights(k_layer.get_weights()))
    lw_layer.build_from((None, STEPS, FEATURES))
    lw_layer.set_weights(k_layer.get_weights())
    compare(k_layer, lw_layer, inputs, mask)


def test_config_round_trip_keeps_the_cells(inputs):
    rnn = L.RNN([L.LSTMCell(3, dropout=0.1), L.GRUCell(2, reset_after=False)], go_backwards=True,
                return_sequences=True)
    rnn.build_from((None, STEPS, FEATURES))
    config = rnn.get_config()
    assert config["cell"]["class_name"] == "StackedRNNCells" and config["go_backwards"] is True
    assert [c["class_name"] for c in config["cell"]["config"]["cells"]] == ["LSTMCell", "GRUCell"]
    copy = L.RNN.from_config(config)
    copy.build_from((None, STEPS, FEATURES))
    copy.set_weights(rnn.get_weights())
    x = torch.from_numpy(inputs)
    torch.testing.assert_close(copy.eval()(x), rnn.eval()(x))
    assert copy.cell.cells[1].reset_after is False and copy.cell.cells[0].dropout == 0.1


def test_regularizers_and_freezing_reach_the_cells_weights():
    rnn = L.RNN(L.LSTMCell(3, kernel_regularizer=layerwise.regularizers.L2(0.5)))
    rnn.build_from((None, STEPS, FEATURES))
    kernel = rnn.get_weights()[0]
    (penalty,) = rnn.losses
    assert float(penalty.detach()) == pytest.approx(0.5 * float((kernel ** 2).sum()), rel=1e-5)
    rnn.trainable = False
    assert not any(p.requires_grad for p in rnn.parameters())


def test_bad_cells_and_inputs_raise_clear_errors():
    class NoStateSize(L.Layer):
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match=r"RNN: the cell NoStateSize has no `state_size` attribute"):
        L.RNN(NoStateSize())
    with pytest.raises(ValueError, match=r"StackedRNNCells: the cell NoStateSize has no `state_size`"):
        L.RNN([L.LSTMCell(2), NoStateSize()])
    with pytest.raises(ValueError, match=r"StackedRNNCells takes a non-empty list of cells"):
        L.StackedRNNCells([])
    rnn = L.RNN(L.LSTMCell(3), name="enc")
    with pytest.raises(ValueError, match=r"Layer 'enc' \(RNN\) expected a 3-D input \(batch, timesteps, features\), "
                                         r"but received input with shape \(4, 5\)"):
        rnn(torch.ones(4, 5))
    with pytest.raises(ValueError, match=r"RNN 'enc' takes 2 initial state tensor\(s\) .* got 1"):
        rnn(torch.ones(4, 2, 5), initial_state=[torch.zeros(4, 3)])
    with pytest.raises(ValueError, match=r"\(RNN\) expected input shape \(None, 2, 5\) \(its last axis, 5"):
        rnn(torch.ones(4, 2, 6))
    custom = L.RNN(LW_MINIMAL_CELL(3), name="custom")
    with pytest.raises(ValueError, match=r"Layer 'custom' \(RNN\) expected an input \(batch, timesteps, features"):
        custom(torch.ones(4, 5))
    cell = L.LSTMCell(3, name="step")
    with pytest.raises(ValueError, match=r"LSTMCell 'step' takes 2 state tensor\(s\), got 1"):
        cell(torch.ones(4, 5), [torch.zeros(4, 3)])


def test_masked_sequential_model_of_cells_matches_keras(keras):
    ids = np.random.default_rng(1).integers(1, 20, (5, 9))
    ids[0, 6:] = ids[1, :4] = ids[3, 1:] = 0
    models = [lib.Sequential([lib.Input((9,)), M.Embedding(20, 4, mask_zero=True),
                              M.RNN([M.LSTMCell(3), M.GRUCell(3)], return_sequences=True), M.RNN(M.SimpleRNNCell(3)),
                              M.Dense(2)]) for M, lib in ((keras.layers, keras), (L, layerwise))]
    k_model, lw_model = models
    assert lw_model.count_params() == k_model.count_params()
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(lw_model.predict(ids, verbose=0), k_model.predict(ids, verbose=0), atol=ATOL, rtol=0)
