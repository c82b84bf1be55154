"""The state API of SimpleRNN, LSTM, GRU, RNN(cell) and Bidirectional against Keras 3 (torch backend): ``states``
of stateful layers (zeros once the batch size is known, zeros again after ``reset_states``), ``state_size``,
``get_initial_state``, ``cell`` (a Keras cell over the layer's own weights), the fixed batch size of a stateful
layer, and Bidirectional's ``states`` and its count of initial states."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

BATCH, STEPS, FEATURES, UNITS = 2, 5, 4, 3
KINDS = ["LSTM", "GRU", "SimpleRNN"]


def arr(t) -> np.ndarray:
    """A tensor or Keras variable as numpy."""
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)


def shapes(states) -> list[tuple]:
    return [tuple(s.shape) for s in states]


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_states_are_zeros_once_built_and_after_reset(keras, kind, x):
    ours, theirs = getattr(L, kind)(UNITS, stateful=True), getattr(keras.layers, kind)(UNITS, stateful=True)
    assert ours.states is None and theirs.states is None  # Keras 3: None before build
    ours.build((BATCH, STEPS, FEATURES))
    theirs.build((BATCH, STEPS, FEATURES))
    # Keras 3: one zero (batch, units) variable per state once built: 2 for LSTM, 1 for GRU and SimpleRNN
    assert shapes(ours.states) == shapes(theirs.states) == [(BATCH, UNITS)] * (2 if kind == "LSTM" else 1)
    assert all(not arr(s).any() for s in ours.states)
    ours(x)
    assert all(arr(s).any() for s in ours.states)
    ours.reset_states()
    theirs.reset_states()
    # Keras 3: zeros again after reset_states(), of the same shape
    assert shapes(ours.states) == shapes(theirs.states)
    assert all(not arr(s).any() for s in ours.states)
    # Keras 3: a layer that is not stateful has states None, before and after a call and a reset
    plain = getattr(L, kind)(UNITS)
    plain(x)
    plain.reset_states()
    assert plain.states is None


def test_stateful_states_follow_the_batch_size_of_the_model_input(x):
    inputs = layerwise.Input(batch_shape=(4, STEPS, FEATURES))
    lstm = L.LSTM(UNITS, stateful=True)
    model = layerwise.Model(inputs, L.Dense(1)(lstm(inputs)))
    # Keras 3: LSTM states [(4, 3), (4, 3)] as soon as the model is built on Input(batch_size=4)
    assert shapes(lstm.states) == [(4, UNITS)] * 2
    # Keras 2's LSTM(batch_input_shape=...) in a Sequential gives the batch size too
    keras2 = layerwise.Sequential([L.GRU(UNITS, stateful=True, batch_input_shape=(1, STEPS, FEATURES))])
    assert shapes(keras2.layers[0].states) == [(1, UNITS)]
    # Keras 3: predict over 10 samples in batches of 4 raises on the last batch of 2 ('Expected batch size: 4')
    with pytest.raises(ValueError, match=r"stateful.*divisible by the batch size.*len\(x\) % 4"):
        model.predict(np.zeros((10, STEPS, FEATURES), "float32"), batch_size=4, verbose=0)


@pytest.mark.parametrize("kind", KINDS)
def test_state_size_and_get_initial_state(keras, kind):
    ours, theirs = getattr(L, kind)(UNITS), getattr(keras.layers, kind)(UNITS)
    # Keras 3: [3, 3] for LSTM, [3] (a list, not 3) for GRU and SimpleRNN; built or not
    assert ours.state_size == theirs.state_size == [UNITS] * (2 if kind == "LSTM" else 1)
    # Keras 3: a list of zero tensors (batch, units), one per state, before the layer is built too
    got = ours.get_initial_state(7)
    assert isinstance(got, list) and shapes(got) == shapes(theirs.get_initial_state(7))
    assert all(not arr(s).any() for s in got) and len({id(s) for s in got}) == len(got)  # not one aliased
    ours.build((None, STEPS, FEATURES))
    assert ours.get_initial_state(2)[0].dtype == ours.weight_hh.dtype


@pytest.mark.parametrize("kind", KINDS)
def test_cell_holds_the_layer_s_own_weights(keras, kind):
    layer, theirs = getattr(L, kind)(UNITS), getattr(keras.layers, kind)(UNITS)
    cell = layer.cell
    # Keras 3: an LSTMCell named 'lstm_cell' (gru_cell, simple_rnn_cell), unbuilt until the layer is built
    assert type(cell).__name__ == type(theirs.cell).__name__ and cell.name == theirs.cell.name
    assert not cell.built and layer.cell is cell
    layer.build((None, STEPS, FEATURES))
    assert cell.built
    # the very same tensors (Keras: the layer's weights are its cell's variables), nothing duplicated
    assert len(cell.weights) == 3 and all(a is b for a, b in zip(cell.weights, layer.weights))
    assert len(list(layer.parameters())) == 3 and list(layer.state_dict()) == ["weight_ih", "weight_hh", "bias"]
    assert cell.get_config()["units"] == UNITS and "cell" not in layer.get_config()
    assert cell.state_size == theirs.cell.state_size  # Keras 3: [3, 3] for LSTMCell, 3 for the others


@pytest.mark.parametrize("kind", KINDS)
def test_cell_steps_as_keras_cell_and_trains_the_layer(keras, kind, x):
    layer, theirs = getattr(L, kind)(UNITS), getattr(keras.layers, kind)(UNITS)
    layer.build((None, STEPS, FEATURES))
    theirs.build((None, STEPS, FEATURES))
    layer.set_weights(theirs.get_weights())
    states = [np.random.default_rng(1).normal(size=(BATCH, UNITS)).astype("float32")
              for _ in layer.state_size]
    out, new = layer.cell(x[:, 0], [torch.from_numpy(s) for s in states])
    k_out, k_new = theirs.cell(x[:, 0], [keras.ops.convert_to_tensor(s) for s in states])
    np.testing.assert_allclose(arr(out), arr(k_out), atol=1e-5)
    np.testing.assert_allclose(np.stack([arr(s) for s in new]), np.stack([arr(s) for s in k_new]), atol=1e-5)
    # one step of the layer (its fused kernel) is one step of its cell
    np.testing.assert_allclose(arr(layer(x[:, :1], initial_state=states)), arr(out), atol=1e-6)
    out.sum().backward()
    assert layer.weight_hh.grad is not None and layer.weight_hh.grad.abs().sum() > 0
    # RNN over the layer's cell runs on the same weights and gives the layer's output (Keras shares them too)
    np.testing.assert_allclose(arr(L.RNN(layer.cell)(x)), arr(layer(x)), atol=1e-6)


def test_freezing_the_layer_or_its_cell_freezes_the_shared_weights(keras):
    layer, theirs = L.LSTM(UNITS), keras.layers.LSTM(UNITS)
    layer.build((None, STEPS, FEATURES))
    theirs.build((None, STEPS, FEATURES))
    layer.trainable = theirs.trainable = False
    # Keras 3: freezing the layer freezes its cell
    assert layer.cell.trainable is theirs.cell.trainable is False and layer.cell.trainable_weights == []
    layer.trainable = theirs.trainable = True
    assert layer.cell.trainable and len(layer.cell.trainable_weights) == 3
    layer.cell.trainable = theirs.cell.trainable = False
    # Keras 3: freezing the cell leaves the layer with no trainable weights
    assert layer.trainable_weights == theirs.trainable_weights == []
    assert not layer.weight_hh.requires_grad
    standalone = L.LSTMCell(UNITS, trainable=False)
    assert not standalone.trainable and not standalone.sequence.trainable


def test_rnn_refuses_a_whole_recurrent_layer_as_its_cell():
    # Keras 3 accepts RNN(LSTM(3)) and fails when called ('expected ndim=3, found ndim=2'); the cell is its .cell
    with pytest.raises(ValueError, match=r"RNN: LSTM 'enc' is a recurrent layer, not a cell.*\.cell.*LSTMCell"):
        L.RNN(L.LSTM(UNITS, name="enc"))


@pytest.mark.parametrize("when", ["after reset", "with initial_state", "first call after build"])
def test_stateful_batch_size_is_fixed_as_keras(keras, when, x):
    ours, theirs = L.GRU(UNITS, stateful=True), keras.layers.GRU(UNITS, stateful=True)
    bigger = np.ones((BATCH + 1, STEPS, FEATURES), "float32")
    kwargs = {}
    for layer in (ours, theirs):
        if when == "first call after build":
            layer.build((BATCH, STEPS, FEATURES))
        else:
            layer(x)
        if when == "after reset":
            layer.reset_states()
        if when == "with initial_state":
            kwargs = {"initial_state": [np.zeros((BATCH + 1, UNITS), "float32")]}
    # Keras 3: ValueError 'If an RNN is stateful, the batch size of the input sequences must be the same as the
    # batch size of the initial state. - Expected batch size: 2 - Received batch size: 3', in all three cases
    with pytest.raises(ValueError, match="Expected batch size: 2"):
        theirs(bigger, **kwargs)
    with pytest.raises(ValueError, match=r"stateful.*expected batch size: 2, received batch size: 3.*divisible"):
        ours(bigger, **kwargs)
    assert tuple(ours(x).shape) == (BATCH, UNITS)  # the batch size it was fixed to still runs


def test_reset_states_with_values_checks_them():
    layer = L.LSTM(UNITS, stateful=True)
    layer.build((BATCH, STEPS, FEATURES))
    h = np.ones((BATCH, UNITS), "float32")
    layer.reset_states([h, 2 * h])  # Keras 2's reset_states(states) (Keras 3 takes no argument)
    np.testing.assert_array_equal(arr(layer.states[1]), 2 * h)
    with pytest.raises(ValueError, match=r"LSTM 'lstm.*' carries 2 state tensor\(s\), got 1"):
        layer.reset_states([h])
    with pytest.raises(ValueError, match=r"needs state 1 of shape \(2, 3\).*got \(3, 3\)"):
        layer.reset_states([h, np.ones((3, UNITS), "float32")])
    with pytest.raises(AttributeError, match="is not stateful"):  # as Keras 2: 'Layer must be stateful.'
        L.GRU(UNITS).reset_states([h])


def test_rnn_over_cells_follows_the_same_state_rules(keras, x):
    ours, theirs = L.RNN(L.LSTMCell(UNITS), stateful=True), keras.layers.RNN(keras.layers.LSTMCell(UNITS),
                                                                            stateful=True)
    ours.build((BATCH, STEPS, FEATURES))
    theirs.build((BATCH, STEPS, FEATURES))
    # Keras 3: RNN(LSTMCell(3)) built for batches of 2 has two zero states (2, 3), and refuses another batch size
    assert shapes(ours.states) == shapes(theirs.states) == [(BATCH, UNITS)] * 2
    assert shapes(ours.get_initial_state(5)) == shapes(theirs.get_initial_state(5)) == [(5, UNITS)] * 2
    ours(x)
    ours.reset_states()
    assert all(not arr(s).any() for s in ours.states)
    with pytest.raises(ValueError, match="expected batch size: 2, received batch size: 3"):
        ours(np.ones((BATCH + 1, STEPS, FEATURES), "float32"))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_states(keras, kind, x):
    ours = L.Bidirectional(getattr(L, kind)(UNITS, stateful=True))
    theirs = keras.layers.Bidirectional(getattr(keras.layers, kind)(UNITS, stateful=True))
    assert ours.states is None and theirs.states is None  # Keras 3: None before build
    ours.build((BATCH, STEPS, FEATURES))
    theirs.build((BATCH, STEPS, FEATURES))
    # Keras 3: a tuple of the forward layer's states then the backward layer's, 4 for LSTM and 2 for GRU
    assert isinstance(ours.states, tuple) and isinstance(theirs.states, tuple)
    assert shapes(ours.states) == shapes(theirs.states) == [(BATCH, UNITS)] * (4 if kind == "LSTM" else 2)
    ours(x)
    half = len(ours.states) // 2
    np.testing.assert_array_equal(arr(ours.states[half]), arr(ours.backward_layer.states[0]))
    assert all(arr(s).any() for s in ours.states)
    ours.reset_states()
    assert all(not arr(s).any() for s in ours.states)
    plain, their_plain = L.Bidirectional(getattr(L, kind)(UNITS)), keras.layers.Bidirectional(
        getattr(keras.layers, kind)(UNITS))
    plain(x)
    their_plain(x)
    assert plain.states is None  # Keras 3: None when not stateful
    with pytest.raises(AttributeError, match="must be stateful"):  # Keras 3 refuses to reset it
        their_plain.reset_states()
    with pytest.raises(AttributeError, match="'bidirectional.*' is not stateful.*stateful=True"):
        plain.reset_states()


@pytest.mark.parametrize("kind, given, message", [
    ("LSTM", 2, r"takes 4 initial state tensors \[h_f, c_f, h_b, c_b\].*forward LSTM's.*backward LSTM's; got 2"),
    ("LSTM", 6, r"takes 4 initial state tensors \[h_f, c_f, h_b, c_b\].*got 6"),
    ("GRU", 4, r"takes 2 initial state tensors \[h_f, h_b\].*got 4"),
    ("SimpleRNN", 1, r"takes 2 initial state tensors \[h_f, h_b\].*got 1"),
])
def test_bidirectional_initial_state_count_is_checked(kind, given, message, x):
    # Keras 3 raises a bare IndexError ('list index out of range') for too few, and drops the extra tensors of
    # too many (GRU given 4, LSTM given 6 run); the count of each direction is named here instead
    layer = L.Bidirectional(getattr(L, kind)(UNITS))
    with pytest.raises(ValueError, match=message):
        layer(x, initial_state=[np.zeros((BATCH, UNITS), "float32")] * given)
    with pytest.raises(ValueError, match=message.replace("initial state", "state")):
        L.Bidirectional(getattr(L, kind)(UNITS, stateful=True)).reset_states(
            [np.zeros((BATCH, UNITS), "float32")] * given)


def test_conv_lstm_follows_the_same_state_rules(keras):
    ours = L.ConvLSTM2D(2, 3, padding="same", stateful=True)
    theirs = keras.layers.ConvLSTM2D(2, 3, padding="same", stateful=True)
    for layer in (ours, theirs):
        layer.build((BATCH, STEPS, 5, 5, 1))
    # Keras 3: zeros of (batch, rows, cols, filters) per state once built
    assert shapes(ours.states) == shapes(theirs.states) == [(BATCH, 5, 5, 2)] * 2
    ours(np.ones((BATCH, STEPS, 5, 5, 1), "float32"))
    assert all(arr(s).any() for s in ours.states)
    ours.reset_states()
    assert all(not arr(s).any() for s in ours.states)
    with pytest.raises(ValueError, match="expected batch size: 2, received batch size: 3"):
        ours(np.ones((3, STEPS, 5, 5, 1), "float32"))
