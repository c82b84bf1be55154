"""An RNN over a stack of cells hands its states out nested per cell, as Keras 3 does: ``return_state`` gives
``(output, [h1, c1], h2)`` for an LSTM cell and a GRU cell, in eager and symbolic calls, through Bidirectional, in a
functional model, and in a stateful layer's ``states``. Compared with Keras' symbolic structure (its eager calls
give ``[h2]`` for a cell of one state: the one difference, documented in the README)."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L, tree

X = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
STACKS = {
    "lstm_gru": lambda M: [M.LSTMCell(4), M.GRUCell(6)],
    "gru_lstm_simple": lambda M: [M.GRUCell(3), M.LSTMCell(2), M.SimpleRNNCell(5)],
    "one_cell": lambda M: [M.SimpleRNNCell(4)],
    "explicit_stack": lambda M: M.StackedRNNCells([M.LSTMCell(4), M.LSTMCell(2)]),
}


def structure(value):
    """Lists and tuples kept, each tensor replaced by its shape without the batch axis."""
    if isinstance(value, (list, tuple)):
        return type(value)(structure(v) for v in value)
    return tuple(value.shape)[1:]


def weights_from(k_layer, lw_layer) -> None:
    lw_layer.build_from((None, *X.shape[1:]))
    lw_layer.set_weights(k_layer.get_weights())


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_return_state_nests_states_as_keras(keras, stack, return_sequences):
    options = {"return_state": True, "return_sequences": return_sequences}
    k_rnn = keras.layers.RNN(STACKS[stack](keras.layers), **options)
    k_symbolic = k_rnn(keras.Input(X.shape[1:]))
    k_eager = k_rnn(X)
    lw_rnn = L.RNN(STACKS[stack](L), **options)
    weights_from(k_rnn, lw_rnn)
    lw_eager = lw_rnn(torch.from_numpy(X))
    lw_symbolic = lw_rnn(layerwise.Input(X.shape[1:]))
    assert structure(lw_eager) == structure(lw_symbolic) == structure(k_symbolic)
    assert isinstance(lw_eager, tuple)
    for ours, theirs in zip(tree.flatten(lw_eager), tree.flatten(k_eager), strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().cpu().numpy(), atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_nests_each_directions_states(keras, merge_mode):
    def make(M):
        return M.layers.Bidirectional(M.layers.RNN(STACKS["lstm_gru"](M.layers), return_state=True,
                                                   return_sequences=True), merge_mode=merge_mode)

    k_layer, lw_layer = make(keras), make(layerwise)
    k_symbolic = k_layer(keras.Input(X.shape[1:]))
    k_eager = k_layer(X)
    weights_from(k_layer, lw_layer)
    lw_eager = lw_layer(torch.from_numpy(X))
    assert structure(lw_eager) == structure(lw_layer(layerwise.Input(X.shape[1:]))) == structure(k_symbolic)
    for ours, theirs in zip(tree.flatten(lw_eager), tree.flatten(k_eager), strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().cpu().numpy(), atol=1e-5)
    states = lw_eager[2 if merge_mode is None else 1:]
    again = lw_layer(torch.from_numpy(X), initial_state=list(states))  # nested states go back in as they came
    flat_again = lw_layer(torch.from_numpy(X), initial_state=tree.flatten(states))
    for a, b in zip(tree.flatten(again), tree.flatten(flat_again), strict=True):
        torch.testing.assert_close(a, b)


def test_functional_model_unpacks_states_per_cell_and_saves(tmp_path):
    """Keras code unpacks a stack's states per cell (``out, (h1, c1), h2 = rnn(inputs)``); the model built from
    them runs, saves and loads."""
    inputs = layerwise.Input(X.shape[1:])
    out, (h1, c1), h2 = L.RNN([L.LSTMCell(4), L.GRUCell(6)], return_state=True)(inputs)
    model = layerwise.Model(inputs, [out, c1, L.Concatenate()([h1, h2])])
    expected = model.predict(X, verbose=0)
    assert [e.shape for e in expected] == [(2, 6), (2, 4), (2, 10)]
    np.testing.assert_allclose(expected[0], expected[2][:, 4:], atol=1e-6)  # the last cell's output is its state
    for name in ("m.keras", "m.lw"):
        model.save(tmp_path / name)
        again = layerwise.models.load_model(tmp_path / name)
        for a, b in zip(again.predict(X, verbose=0), expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_stateful_states_nest_per_cell_and_reset_takes_them():
    rnn = L.RNN([L.LSTMCell(4), L.GRUCell(6)], stateful=True)
    rnn(torch.from_numpy(X))
    (h1, c1), h2 = rnn.states
    assert [tuple(t.shape) for t in (h1, c1, h2)] == [(2, 4), (2, 4), (2, 6)]
    rnn.reset_states([[torch.ones(2, 4), torch.zeros(2, 4)], torch.ones(2, 6)])
    (h1, c1), h2 = rnn.states
    assert h1.eq(1).all() and c1.eq(0).all() and h2.eq(1).all()


def test_sequence_output_keeps_its_mask_eagerly():
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7]])
    embedded = L.Embedding(10, 3, mask_zero=True)(ids)
    out, (h1, c1), h2 = L.RNN([L.LSTMCell(4), L.GRUCell(6)], return_sequences=True, return_state=True)(embedded)
    np.testing.assert_array_equal(out._keras_mask.numpy(), ids != 0)
    assert all(getattr(s, "_keras_mask", None) is None for s in (h1, c1, h2))


def test_initial_state_nests_per_cell_and_goes_back_in(keras):
    lw_rnn = L.RNN(STACKS["gru_lstm_simple"](L))
    zeros = lw_rnn.get_initial_state(2)
    k_zeros = keras.layers.RNN(STACKS["gru_lstm_simple"](keras.layers)).get_initial_state(2)
    assert structure(zeros) == [(3,), [(2,), (2,)], (5,)]
    assert structure(tree.flatten(zeros)) == structure(tree.flatten(k_zeros))  # Keras: [(3,)] for the GRU cell
    np.testing.assert_array_equal(lw_rnn(torch.from_numpy(X), initial_state=zeros).detach().numpy(),
                                  lw_rnn(torch.from_numpy(X)).detach().numpy())
