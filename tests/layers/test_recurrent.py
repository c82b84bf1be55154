"""Recurrent-family layers without Keras: shapes, the fused and step-by-step paths agreeing (outputs
and gradients), masks in models, state, dropout, saving, and every bad-input message."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

torch.set_num_threads(1)


def built(layer, shape):
    layer.build_from(shape)
    return layer


@pytest.mark.parametrize("layer,shape,expected", [
    (L.SimpleRNN(4), (None, 7, 3), (None, 4)),
    (L.LSTM(4, return_sequences=True), (None, 7, 3), (None, 7, 4)),
    (L.GRU(4, return_sequences=True, go_backwards=True), (None, None, 3), (None, None, 4)),
    (L.Bidirectional(L.LSTM(4)), (None, 7, 3), (None, 8)),
    (L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum"), (None, 7, 3), (None, 7, 4)),
    (L.TimeDistributed(L.Dense(5)), (None, 7, 3), (None, 7, 5)),
    (L.TimeDistributed(L.Conv1D(2, 3)), (None, 7, 10, 3), (None, 7, 8, 2)),
    (L.RepeatVector(6), (None, 3), (None, 6, 3)),
    (L.Embedding(10, 4), (None, 7), (None, 7, 4)),
    (L.Masking(), (None, 7, 3), (None, 7, 3)),
])
def test_shapes(layer, shape, expected):
    assert layer.build_from(shape) == expected
    x = torch.rand(2, *(7 if d is None else d for d in shape[1:]))
    if isinstance(layer, L.Embedding):
        x = (x * 10).long()
    assert tuple(layer(x).shape) == (2, *(7 if d is None else d for d in expected[1:]))


def test_return_state_shapes():
    out, h, c = built(L.LSTM(4, return_state=True), (None, 5, 3))(torch.rand(2, 5, 3))
    assert out.shape == h.shape == c.shape == (2, 4)
    assert torch.equal(out, h)
    y, *states = built(L.Bidirectional(L.GRU(4, return_state=True)), (None, 5, 3))(torch.rand(2, 5, 3))
    assert y.shape == (2, 8) and len(states) == 2


@pytest.mark.parametrize("make", [lambda: L.SimpleRNN(5, return_sequences=True),
                                  lambda: L.LSTM(5, return_sequences=True, go_backwards=True),
                                  lambda: L.GRU(5, return_sequences=True)])
@pytest.mark.parametrize("with_mask", [False, True])
def test_fused_path_equals_step_loop_with_gradients(make, with_mask):
    """The fused kernel (and its packed-mask path) and the exact step loop agree, gradients included."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0]]).bool()
    fused = built(make(), (None, 6, 3))
    loop = built(make(), (None, 6, 3))
    loop.set_weights(fused.get_weights())
    loop.kernel_fn = None
    results = []
    for layer in (fused, loop):
        y = layer(x, mask=mask if with_mask else None)
        (y ** 2).sum().backward()
        results.append((y.detach(), [p.grad.clone() for p in (layer.weight_ih, layer.weight_hh, layer.bias)]))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_keras_weight_layout_and_gate_order():
    gru = built(L.GRU(2), (None, 4, 3))
    kernel, recurrent, bias = gru.get_weights()
    assert kernel.shape == (3, 6) and recurrent.shape == (2, 6) and bias.shape == (2, 6)
    # Keras' first block is the update gate z, which PyTorch stores second.
    np.testing.assert_array_equal(kernel[:, :2], gru.weight_ih[2:4].detach().numpy().T)
    lstm = built(L.LSTM(3), (None, 4, 2))
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    rng = np.random.default_rng(0)
    new = [rng.normal(size=w.shape).astype("float32") for w in gru.get_weights()]
    gru.set_weights(new)
    for a, b in zip(gru.get_weights(), new):
        np.testing.assert_array_equal(a, b)


def test_recurrent_initializer_is_orthogonal():
    w = built(L.SimpleRNN(16), (None, 3, 4)).get_weights()[1]
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-5)


def test_stateful_carries_state_and_resets():
    layer = built(L.GRU(3, stateful=True), (None, 4, 2))
    x = torch.randn(5, 8, 2)
    whole = built(L.GRU(3, return_sequences=True), (None, None, 2))
    whole.set_weights(layer.get_weights())
    layer(x[:, :4])
    second = layer(x[:, 4:])
    torch.testing.assert_close(second, whole(x)[:, -1])  # two halves with state carried == one pass
    layer.reset_states()
    torch.testing.assert_close(layer(x[:, :4]), whole(x[:, :4])[:, -1])


def test_stateful_batch_size_that_does_not_divide_the_data():
    model = layerwise.Sequential([layerwise.Input((4, 2)), L.LSTM(3, stateful=True), L.Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="stateful.*divisible by the batch size"):
        model.fit(np.zeros((10, 4, 2)), np.zeros((10, 1)), batch_size=4, shuffle=False, verbose=0)


def test_dropout_and_recurrent_dropout_train_and_infer():
    torch.manual_seed(0)
    layer = built(L.LSTM(4, dropout=0.3, recurrent_dropout=0.3), (None, 5, 3))
    x = torch.randn(8, 5, 3)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))  # no dropout at inference
    layer.train()
    y = layer(x)
    y.sum().backward()
    assert not torch.allclose(y, layer(x)) and layer.weight_hh.grad is not None


def test_masked_model_trains_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    x = layerwise.utils.pad_sequences([rng.integers(1, 9, rng.integers(1, 8)) for _ in range(64)], maxlen=8)
    y = (x == 3).any(1).astype("float32")[:, None]
    model = layerwise.Sequential([layerwise.Input((8,)), L.Embedding(10, 4, mask_zero=True),
                                  L.Bidirectional(L.GRU(4, return_sequences=True)), L.LSTM(3),
                                  L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "rnn.lw"
    model.save(path)
    from layerwise.saving import load_model
    again = load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]


def test_config_round_trip_of_wrappers():
    for layer in (L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="ave"),
                  L.TimeDistributed(L.Dense(2, activation="relu")), L.GRU(3, reset_after=False), L.RepeatVector(2)):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_lstm_benchmark_model_fits():
    """The speed benchmark's model: LSTM(64) on (64, 100, 8) batches, then Dense(1), MSE."""
    model = layerwise.Sequential([layerwise.Input((100, 8)), L.LSTM(64), L.Dense(1)])
    model.compile("adam", "mse")
    assert model.count_params() == 4 * 64 * (8 + 64 + 1) + 65
    x = np.random.default_rng(0).normal(size=(128, 100, 8)).astype("float32")
    history = model.fit(x, x[:, -1, :1], batch_size=64, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(x, batch_size=64, verbose=0).shape == (128, 1)


# ---- bad input ------------------------------------------------------------------------------------
def test_2d_input_to_recurrent_layer_says_how_to_reshape():
    with pytest.raises(ValueError, match=r"\(batch, timesteps, features\).*x\[\.\.\., None\]"):
        layerwise.Sequential([layerwise.Input((20,)), L.LSTM(4)])
    with pytest.raises(ValueError, match="reshape"):
        L.GRU(3)(torch.zeros(4, 20))


def test_stacked_recurrent_layer_without_return_sequences_is_pointed_to_it():
    with pytest.raises(ValueError, match=r"lstm_top.*\(None, 8\).*give that layer return_sequences=True"):
        layerwise.Sequential([layerwise.Input((5, 3)), L.LSTM(8), L.LSTM(4, name="lstm_top")])


def test_a_list_of_states_given_to_a_single_input_layer_says_to_unpack_it():
    inputs = layerwise.Input((5, 3))
    returned = L.LSTM(8, return_state=True)(inputs)  # [outputs, state_h, state_c]
    with pytest.raises(ValueError, match=r"Layer 'head' \(Dense\) expects 1 input, but it received 3 input "
                                         r"tensors with shapes \[\(None, 8\), \(None, 8\), \(None, 8\)\].*unpack"):
        L.Dense(2, name="head")(returned)
    with pytest.raises(ValueError, match=r"\(Dense\) expects 1 input, but it received 3"):
        layerwise.Sequential([layerwise.Input((5, 3)), L.LSTM(8, return_state=True), L.Dense(2)])
    both = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None)(inputs)
    with pytest.raises(ValueError, match=r"\(LSTM\) expects 1 input, but it received 2"):
        L.LSTM(4)(both)
    eager = L.LSTM(8, return_state=True)(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="expects 1 input"):
        L.Dense(2)(eager)
    # the layers that take lists still do, and the unpacked tensors flow on
    outputs, state_h, state_c = returned
    merged = L.Concatenate()([outputs, state_h])
    attended = L.Attention()([L.Reshape((1, 8))(state_h), L.Reshape((1, 8))(state_c)])
    model = layerwise.Model(inputs, [L.Dense(2)(merged), attended])
    first, second = model.predict(np.zeros((2, 5, 3), np.float32), verbose=0)
    assert first.shape == (2, 2) and second.shape == (2, 1, 8)


def test_ragged_lists_suggest_pad_sequences():
    model = layerwise.Sequential([layerwise.Input((None,)), L.Embedding(10, 2), L.LSTM(2)])
    with pytest.raises(ValueError, match="pad_sequences"):
        model.predict([[1, 2, 3], [4, 5]], verbose=0)


def test_embedding_names_the_largest_id():
    model = layerwise.Sequential([layerwise.Input((3,)), L.Embedding(10, 2)])
    with pytest.raises(ValueError, match=r"token id 42 \(largest id seen: 42\).*input_dim=10"):
        model.predict(np.array([[1, 42, 3], [9, 10, 0]]), verbose=0)
    with pytest.raises(ValueError, match="token id -1"):
        model.predict(np.array([[1, -1, 3]]), verbose=0)


def test_empty_sequences_are_refused():
    with pytest.raises(ValueError, match="at least one time step"):
        L.LSTM(3)(torch.zeros(2, 0, 4))
    model = layerwise.Sequential([layerwise.Input((None, 4)), L.LSTM(3)])
    with pytest.raises(ValueError, match="0 time steps"):
        model.predict(np.zeros((2, 0, 4)), verbose=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        L.LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        L.GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="merge mode"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="recurrent layer"):
        L.Bidirectional(L.Dense(3))
    with pytest.raises(ValueError, match="initial state"):
        built(L.LSTM(3), (None, 2, 2))(torch.zeros(1, 2, 2), initial_state=[torch.zeros(1, 3)])


def test_a_2d_array_given_to_a_sequence_model_says_how_to_reshape():
    from layerwise import models

    model = models.Sequential([L.Input((10, 3)), L.LSTM(4), L.Dense(1)])
    with pytest.raises(ValueError, match=r"received \(32, 10\)\. The model takes sequences \(batch, timesteps, "
                                         r"features\).*x\.reshape"):
        model.predict(np.zeros((32, 10), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"Each row holds 10 time steps of 3 features: x\.reshape\(len\(x\), 10, 3\)"):
        model.predict(np.zeros((32, 30), "float32"), verbose=0)
    inp = L.Input((10, 3))
    functional = models.Model(inp, L.GRU(2)(inp))
    with pytest.raises(ValueError, match=r"The model takes sequences"):
        functional.predict(np.zeros((4, 10), "float32"), verbose=0)


def test_empty_sequences_in_a_model_get_advice():
    from layerwise import models

    model = models.Sequential([L.LSTM(4), L.Dense(1)])
    with pytest.raises(ValueError, match="at least one time step.*drop them or pad them"):
        model.predict(np.zeros((4, 0, 3), "float32"), verbose=0)


def test_negative_token_ids_are_named_as_such():
    with pytest.raises(ValueError, match=r"negative token id -1; ids are 0\.\.9\. Padding is 0"):
        L.Embedding(10, 2)(np.array([[1, -1]]))


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_keras_implementation_argument_is_taken_and_left_out_of_the_config(cls):
    # Keras (and Keras 2 code) passes implementation=1 or 2 to pick how the gate products are split
    layer = getattr(L, cls)(3, implementation=1)
    assert "implementation" not in layer.get_config()
