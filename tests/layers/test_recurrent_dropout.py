"""Dropout in the recurrent layers as Keras 3 draws it: one mask per sequence shared by every step; with
recurrent dropout, an input and a recurrent mask per gate of LSTM and GRU (Keras' implementation 1); ``seed``
gives a layer its own generator. Masks are seen through gradients: an input feature masked for every gate gets
none."""
from __future__ import annotations

import pytest
import torch

from layerwise import layers as L


def training_output(layer, x: torch.Tensor, **kwargs) -> torch.Tensor:
    layer.build_from(tuple(x.shape))
    return layer(x, training=True, **kwargs)


def initial_states(layer, batch: int) -> list[torch.Tensor]:
    """Random states, so that every gate counts in the first step (a zero state silences LSTM's forget gate and
    GRU's reset gate)."""
    return [torch.randn(batch, layer.units) for _ in range(2 if isinstance(layer, L.LSTM) else 1)]


def inputs_dropped_for_every_gate(layer, x: torch.Tensor) -> float:
    """Share of the first step's input features that get no gradient from a one-step training call."""
    x = x[:, :1].clone().requires_grad_(True)
    layer.build_from(tuple(x.shape))
    out = layer(x, initial_state=initial_states(layer, x.shape[0]), training=True)
    grad, = torch.autograd.grad(out.sum(), x)
    return (grad == 0).float().mean().item()


def units_dropped_for_every_gate(layer, gates: int) -> float:
    """Share of the initial state's units that no gate's recurrent weights see in a one-step training call of one
    sequence: the units whose column of ``weight_hh``'s gradient is zero in every gate's block."""
    x = torch.randn(1, 1, 3)
    layer.build_from(tuple(x.shape))
    units = layer.units
    layer(x, initial_state=initial_states(layer, 1), training=True).sum().backward()
    unseen = (layer.weight_hh.grad.view(gates, units, units) == 0).all(dim=1)  # (gates, units)
    return unseen.all(dim=0).float().mean().item()


@pytest.mark.parametrize("make, gates", [(L.LSTM, 4), (L.GRU, 3),
                                         (lambda *a, **k: L.GRU(*a, reset_after=False, **k), 3)])
def test_recurrent_dropout_draws_a_mask_per_gate_as_keras(make, gates):
    # One mask was shared by every gate: half of the features dropped for all four gates, where Keras drops
    # 0.5 ** 4 of them.
    x = torch.randn(512, 3, 8)
    assert inputs_dropped_for_every_gate(make(8, dropout=0.5, recurrent_dropout=0.5, seed=1), x) == \
        pytest.approx(0.5 ** gates, abs=0.03)
    assert units_dropped_for_every_gate(make(512, recurrent_dropout=0.5, seed=1), gates) == \
        pytest.approx(0.5 ** gates, abs=0.04)
    shared = make(8, dropout=0.5, seed=1)  # no recurrent dropout: Keras' fused path, one input mask
    assert inputs_dropped_for_every_gate(shared, x) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("make", [lambda **k: L.LSTM(5, **k), lambda **k: L.GRU(5, **k),
                                  lambda **k: L.GRU(5, reset_after=False, **k), lambda **k: L.SimpleRNN(5, **k)])
def test_masks_that_keep_everything_give_the_inference_output(make):
    # The per-gate products equal the one-matrix product when no unit is dropped.
    x = torch.randn(4, 6, 3)
    layer = make(dropout=1e-12, recurrent_dropout=1e-12, return_sequences=True)
    torch.testing.assert_close(training_output(layer, x), layer(x, training=False), atol=1e-6, rtol=1e-6)


BOTH = {"dropout": 0.5, "recurrent_dropout": 0.5}


@pytest.mark.parametrize("make, rates", [(L.LSTM, BOTH), (L.GRU, BOTH), (L.SimpleRNN, BOTH),
                                         (L.LSTM, {"dropout": 0.5})])
def test_a_seed_gives_the_layer_its_own_masks(make, rates):
    # The seed was ignored: masks came from the global generator, unlike Dropout(seed=...) and Keras.
    x = torch.randn(6, 5, 3)
    first, second, other = make(4, seed=3, **rates), make(4, seed=3, **rates), make(4, seed=4, **rates)
    for layer in (first, second, other):
        layer.build_from(tuple(x.shape))
    second.set_weights(first.get_weights())
    other.set_weights(first.get_weights())
    torch.manual_seed(0)
    a = first(x, training=True)
    torch.manual_seed(1)  # the global generator plays no part
    b = second(x, training=True)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, other(x, training=True))


def test_without_a_seed_masks_follow_the_global_generator():
    x = torch.randn(6, 5, 3)
    layer = L.GRU(4, dropout=0.5, recurrent_dropout=0.5)
    layer.build_from(tuple(x.shape))
    torch.manual_seed(0)
    a = layer(x, training=True)
    torch.manual_seed(0)
    torch.testing.assert_close(layer(x, training=True), a)
    assert not torch.allclose(layer(x, training=True), a)


@pytest.mark.parametrize("cell", [L.SimpleRNNCell, L.LSTMCell, L.GRUCell])
def test_a_cells_seed_is_its_attribute_and_rules_its_masks(cell):
    # LSTMCell(3, seed=5).seed raised an AttributeError (Keras gives 5).
    assert cell(3, seed=5).seed == 5 and cell(3).seed is None
    x = torch.randn(4, 5, 2)
    first, second = (L.RNN(cell(3, dropout=0.5, recurrent_dropout=0.5, seed=5)) for _ in "ab")
    first.build_from(tuple(x.shape))
    second.build_from(tuple(x.shape))
    second.set_weights(first.get_weights())
    torch.testing.assert_close(first(x, training=True), second(x, training=True))


def test_a_bad_seed_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match="LSTM seed must be an int or None, got seed='1'"):
        L.LSTM(3, seed="1")


def test_conv_lstm_dropout_follows_its_seed():
    x = torch.randn(2, 3, 5, 5, 2)
    first, second = (L.ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.5, seed=9) for _ in "ab")
    first.build_from(tuple(x.shape))
    second.build_from(tuple(x.shape))
    second.set_weights(first.get_weights())
    torch.manual_seed(0)
    a = first(x, training=True)
    torch.manual_seed(1)
    torch.testing.assert_close(second(x, training=True), a)


@pytest.mark.parametrize("name, kwargs, keras_order", [("LSTM", {}, [0, 1, 2, 3]), ("GRU", {}, [1, 0, 2]),
                                                       ("GRU", {"reset_after": False}, [1, 0, 2])])
def test_training_with_the_same_masks_per_gate_gives_keras_outputs(keras, name, kwargs, keras_order):
    """Keras' cell handed the masks layerwise drew (GRU's gates are (z, r, h) in Keras, (r, z, n) here)."""
    x = torch.randn(3, 4, 5)
    ours = getattr(L, name)(6, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, **kwargs)
    theirs = getattr(keras.layers, name)(6, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, **kwargs)
    theirs.build(tuple(x.shape))
    ours.build_from(tuple(x.shape))
    ours.set_weights([w.detach().cpu().numpy() if hasattr(w, "detach") else w for w in theirs.get_weights()])
    torch.manual_seed(5)
    out = ours(x, training=True)
    torch.manual_seed(5)  # the same draws, in the layer's order: input masks, then recurrent masks
    keep = ours._dropout_keep(x, (3, 1, ours.gates, 5), 0.3)[:, 0]  # (batch, gates, features)
    rec_keep = ours._dropout_keep(x, (3, ours.gates, 6), 0.4)
    theirs.cell._dropout_mask = [keep[:, g] for g in keras_order]
    theirs.cell._recurrent_dropout_mask = [rec_keep[:, g] for g in keras_order]
    expected = theirs(x, training=True)
    torch.testing.assert_close(out, torch.as_tensor(expected.detach().cpu()), atol=1e-5, rtol=1e-5)
