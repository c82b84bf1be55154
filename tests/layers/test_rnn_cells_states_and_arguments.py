"""RNN over cells against Keras 3 (torch backend): cells called directly on numpy states, a Keras 2 style
``get_initial_state(inputs=None, batch_size=None, dtype=None)``, a stack whose custom cell has its own initial
state, the sequence output's mask with ``return_state`` when called eagerly, an RNN over another layer's cell,
frozen stacks through their config, argument errors that name the cell, and cells returning too few states."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 4


def numpy_of(t) -> np.ndarray:
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)


def scaled_cell_class(ops_module, base_layer, initial_state: str):
    """A Keras-style cell ``h = tanh(x W + 0.5 h_prev)`` made with ``ops_module``/``base_layer`` (Keras' or
    layerwise's); ``initial_state``: 'keras2' (``get_initial_state(inputs, batch_size, dtype)`` giving 0.3) or
    'ones' (``get_initial_state(batch_size)`` giving ones)."""

    class ScaledCell(base_layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size = units, units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                          name="kernel")

        def call(self, inputs, states):
            out = ops_module.tanh(ops_module.matmul(inputs, self.kernel) + 0.5 * states[0])
            return out, [out]

        if initial_state == "keras2":
            def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
                return [ops_module.ones((batch_size, self.units)) * 0.3]
        else:
            def get_initial_state(self, batch_size=None):
                return [ops_module.ones((batch_size, self.units))]

    return ScaledCell


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    return {"x": rng.randn(BATCH, STEPS, FEATURES).astype("float32"),
            "step": rng.randn(BATCH, FEATURES).astype("float32"),
            "h": rng.randn(BATCH, UNITS).astype("float32"), "c": rng.randn(BATCH, UNITS).astype("float32")}


@pytest.mark.parametrize("name,states", [("LSTMCell", "hc"), ("GRUCell", "h_list"), ("GRUCell", "h"),
                                         ("SimpleRNNCell", "h")])
def test_builtin_cell_called_on_numpy_states_matches_keras(keras, data, name, states):
    """Keras takes numpy states (a list, or one array for a single state); layerwise crashed in F.linear, or
    iterated one array's rows as states ('takes 1 state tensor(s), got 3')."""
    given = {"hc": [data["h"], data["c"]], "h_list": [data["h"]], "h": data["h"]}[states]
    k_cell, l_cell = getattr(keras.layers, name)(UNITS), getattr(L, name)(UNITS)
    k_out, k_states = k_cell(data["step"], given)
    l_cell(torch.tensor(data["step"]), given)
    l_cell.set_weights(k_cell.get_weights())
    l_out, l_states = l_cell(data["step"], given)
    np.testing.assert_allclose(numpy_of(l_out), numpy_of(k_out), atol=ATOL)
    assert isinstance(l_states, torch.Tensor) == (states == "h")  # one state given, one state back (as Keras)
    k_flat = [k_states] if states == "h" else list(k_states)
    l_flat = [l_states] if states == "h" else list(l_states)
    for k, lw_state in zip(k_flat, l_flat, strict=True):
        np.testing.assert_allclose(numpy_of(lw_state), numpy_of(k), atol=ATOL)


def test_stacked_cells_called_on_numpy_states_match_keras(keras, data):
    def make(K):
        return K.layers.StackedRNNCells([K.layers.LSTMCell(UNITS), K.layers.GRUCell(2)])

    states = [[data["h"], data["c"]], np.zeros((BATCH, 2), "float32")]
    k_stack, l_stack = make(keras), make(layerwise)
    k_out, _ = k_stack(data["step"], states)
    l_stack(torch.tensor(data["step"]), states)
    l_stack.set_weights(k_stack.get_weights())
    np.testing.assert_allclose(numpy_of(l_stack(data["step"], states)[0]), numpy_of(k_out), atol=ATOL)


def test_keras2_get_initial_state_signature_is_called_by_keyword(keras, data):
    """Keras calls ``cell.get_initial_state(batch_size=...)``; layerwise passed the batch size positionally,
    into a Keras 2 cell's ``inputs``, and crashed on ``batch_size=None``."""
    k_rnn = keras.layers.RNN(scaled_cell_class(keras.ops, keras.layers.Layer, "keras2")(UNITS), return_state=True)
    l_rnn = L.RNN(scaled_cell_class(layerwise.ops, layerwise.layers.Layer, "keras2")(UNITS), return_state=True)
    k_out = k_rnn(data["x"])
    l_rnn(data["x"])
    l_rnn.set_weights(k_rnn.get_weights())
    for k, lw_out in zip(k_out, l_rnn(data["x"]), strict=True):
        np.testing.assert_allclose(numpy_of(lw_out), numpy_of(k), atol=ATOL)


def test_stack_uses_each_custom_cells_initial_state(keras, data):
    """Keras' StackedRNNCells starts each cell from its own ``get_initial_state``; layerwise started every cell
    of a stack from zeros, a silently different output (0.04 here)."""
    def make(K):
        cell = scaled_cell_class(K.ops, K.layers.Layer, "ones")(UNITS)
        return K.layers.RNN([cell, K.layers.GRUCell(2)], return_state=True)

    k_rnn, l_rnn = make(keras), make(layerwise)
    k_out = k_rnn(data["x"])
    l_rnn(data["x"])
    l_rnn.set_weights(k_rnn.get_weights())
    l_out = l_rnn(data["x"])
    np.testing.assert_allclose(numpy_of(l_out[0]), numpy_of(k_out[0]), atol=ATOL)
    np.testing.assert_allclose(numpy_of(l_out[1]), numpy_of(k_out[1][0]), atol=ATOL)
    ones = l_rnn.cell.get_initial_state(2)
    assert [[tuple(t.shape) for t in s] for s in ones] == [[(2, UNITS)], [(2, 2)]]  # Keras' structure
    np.testing.assert_array_equal(numpy_of(ones[0][0]), np.ones((2, UNITS)))


def test_return_state_keeps_the_sequence_mask_eagerly(keras):
    """Keras attaches the input's mask to the sequence output of ``RNN(..., return_sequences=True,
    return_state=True)`` called on tensors (the states get none); layerwise dropped it, so a loss or pooling
    after it counted the padded steps."""
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7]])
    embedded = L.Embedding(10, 3, mask_zero=True)(ids)
    outs = L.RNN(L.GRUCell(UNITS), return_sequences=True, return_state=True)(embedded)
    np.testing.assert_array_equal(numpy_of(outs[0]._keras_mask), ids != 0)
    assert getattr(outs[1], "_keras_mask", None) is None
    k_outs = keras.layers.RNN(keras.layers.GRUCell(UNITS), return_sequences=True, return_state=True)(
        keras.layers.Embedding(10, 3, mask_zero=True)(ids))
    np.testing.assert_array_equal(numpy_of(k_outs[0]._keras_mask), ids != 0)
    last_only = L.RNN(L.GRUCell(UNITS), return_state=True)(embedded)
    assert getattr(last_only[0], "_keras_mask", None) is None


def test_rnn_over_a_layers_own_cell_leaves_that_layer_unchanged(keras):
    """``RNN(lstm.cell, return_sequences=True)`` shares the LSTM's weights, as in Keras; layerwise also set the
    LSTM's own ``return_sequences`` to True, so the LSTM returned (batch, steps, units) afterwards (Keras:
    (batch, units) still) and saved that in its config."""
    x = np.random.RandomState(0).randn(2, STEPS, FEATURES).astype("float32")
    lstm = L.LSTM(UNITS)
    before = numpy_of(lstm(x))
    rnn = L.RNN(lstm.cell, return_sequences=True)
    assert tuple(rnn(x).shape) == (2, STEPS, UNITS)
    assert rnn.weights[0] is lstm.weights[0]
    np.testing.assert_array_equal(numpy_of(lstm(x)), before)
    assert lstm.return_sequences is False and lstm.get_config()["return_sequences"] is False
    k_lstm = keras.layers.LSTM(UNITS)
    keras.layers.RNN(k_lstm.cell, return_sequences=True)(x)
    assert tuple(k_lstm(x).shape) == (2, UNITS)


def test_frozen_stacked_cells_stay_frozen_through_the_config(keras):
    """Keras' StackedRNNCells config holds ``trainable``; layerwise's left it out, so a frozen stack came back
    trainable from ``get_config``/``from_config`` (and from a saved model)."""
    x = np.random.RandomState(0).randn(2, STEPS, FEATURES).astype("float32")
    stack = L.StackedRNNCells([L.LSTMCell(UNITS), L.GRUCell(2)], trainable=False)
    assert stack.get_config()["trainable"] is False
    k_stack = keras.layers.StackedRNNCells([keras.layers.LSTMCell(UNITS)], trainable=False)
    assert k_stack.get_config()["trainable"] is False
    reloaded = L.RNN.from_config(L.RNN(stack).get_config())
    reloaded(x)
    assert reloaded.cell.trainable is False
    assert len(reloaded.trainable_weights) == 0 and len(reloaded.non_trainable_weights) == 6


@pytest.mark.parametrize("name", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("args,argument", [((0,), "units"), ((3,), "dropout")])
def test_cell_argument_errors_name_the_cell(name, args, argument):
    """A bad argument to a cell was reported under its sequence layer's name ('LSTM units must be ...')."""
    kwargs = {"dropout": 1.5} if argument == "dropout" else {}
    with pytest.raises(ValueError, match=rf"^{name} {argument} must be"):
        getattr(L, name)(*args, **kwargs)


def fewer_states_cell_class(base_layer):
    """A cell whose state_size promises two states but whose call returns one."""

    class Cell(base_layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = [FEATURES, FEATURES]

        def call(self, inputs, states):
            h = inputs + states[0]
            return h, [h]

    return Cell


def test_a_cell_returning_fewer_states_than_its_state_size_is_refused(keras):
    # The missing state silently stayed as it was; Keras raises too.
    x = np.ones((BATCH, STEPS, FEATURES), "float32")
    with pytest.raises(ValueError):
        keras.layers.RNN(fewer_states_cell_class(keras.layers.Layer)(), return_state=True)(x)
    with pytest.raises(ValueError, match=r"the cell Cell returned 1 state tensor\(s\), but its state_size "
                                         r"\[4, 4\] holds 2"):
        L.RNN(fewer_states_cell_class(L.Layer)(), return_state=True)(x)


@pytest.mark.parametrize("make", [lambda m: m.RNN(m.LSTMCell(3)), lambda m: m.RNN([m.GRUCell(2), m.SimpleRNNCell(3)]),
                                  lambda m: m.RNN(m.StackedRNNCells([m.LSTMCell(2)])),
                                  lambda m: m.Bidirectional(m.LSTM(3)), lambda m: m.TimeDistributed(m.Dense(2))])
def test_wrapper_configs_cross_to_keras_and_back(keras, make):
    # The inner layer's entry lacked Keras' module and registered_name: Keras could not locate 'LSTMCell'.
    x = np.random.default_rng(0).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    ours = make(L)
    ours(x)
    theirs = type(make(keras.layers)).from_config(ours.get_config())
    theirs(x)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(numpy_of(theirs(x)), numpy_of(ours(x)), atol=ATOL)
    again = type(ours).from_config(theirs.get_config())
    assert again.get_config() == ours.get_config()
