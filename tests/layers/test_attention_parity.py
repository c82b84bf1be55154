"""Attention, AdditiveAttention and MultiHeadAttention against Keras 3 (torch backend): the same weights
give Keras' outputs and scores within 1e-5 with masks, causal masks, keys, score modes, attention masks and
attention axes; weights have Keras' layout and order; functional models carry the query's mask; a small
LSTM-plus-attention model trains with fit and round-trips through its config and a file; bad calls raise
errors that name the layer and the shapes."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import layerwise
from layerwise import layers as L

ATOL = 1e-5
BATCH, TQ, TV, DIM = 3, 4, 5, 6
RNG = np.random.default_rng(0)


def numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)


def _numpy(keras, value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()


def as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def random_weights(weights: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.normal(0, 0.5, w.shape).astype("float32") for w in weights]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    q_mask, v_mask = np.ones((BATCH, TQ), bool), np.ones((BATCH, TV), bool)
    q_mask[0, 3:] = q_mask[2, 1:] = False
    v_mask[0, 2:] = v_mask[1, :1] = False
    v_mask[2, :] = False  # nothing to attend to
    return {"query": rng.normal(size=(BATCH, TQ, DIM)).astype("float32"),
            "value": rng.normal(size=(BATCH, TV, DIM)).astype("float32"),
            "key": rng.normal(size=(BATCH, TV, DIM)).astype("float32"),
            "value7": rng.normal(size=(BATCH, TV, 7)).astype("float32"),
            "q_mask": q_mask, "v_mask": v_mask, "attention_mask": rng.random((BATCH, TQ, TV)) > 0.3}


def torch_args(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, list):
        return [torch_args(v) for v in value]
    if isinstance(value, dict):
        return {k: torch_args(v) for k, v in value.items()}
    return value


def assert_same(k_out, lw_out) -> None:
    k_out, lw_out = as_list(k_out), as_list(lw_out)
    assert len(k_out) == len(lw_out)
    for a, b in zip(k_out, lw_out):
        np.testing.assert_allclose(numpy(b), numpy(a), atol=ATOL, rtol=0)


ATTENTIONS = [("Attention", {}), ("Attention", {"use_scale": True}), ("Attention", {"score_mode": "concat"}),
              ("Attention", {"score_mode": "concat", "use_scale": True}), ("AdditiveAttention", {}),
              ("AdditiveAttention", {"use_scale": False})]
CALLS = {
    "plain": ([("query", "value")], {}),
    "key": ([("query", "value", "key")], {}),
    "masks": ([("query", "value")], {"mask": ["q_mask", "v_mask"]}),
    "causal_and_masks_scores": ([("query", "value", "key")], {"mask": ["q_mask", "v_mask"], "use_causal_mask": True,
                                                             "return_attention_scores": True}),
    "scores": ([("query", "value")], {"return_attention_scores": True}),
}


def resolve(data: dict, call: tuple) -> tuple[list, dict]:
    (names,), kwargs = call
    kwargs = {k: [data[n] for n in v] if k == "mask" else v for k, v in kwargs.items()}
    return [data[n] for n in names], kwargs


@pytest.mark.parametrize("name,kwargs", ATTENTIONS)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_attention_layers_match_keras(keras, data, name, kwargs, call):
    k_layer, lw_layer = getattr(keras.layers, name)(**kwargs), getattr(L, name)(**kwargs)
    inputs, call_kwargs = resolve(data, CALLS[call])
    k_layer(inputs)
    lw_layer(torch_args(inputs))
    assert lw_layer.count_params() == k_layer.count_params()
    assert [w.shape for w in lw_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    k_layer.set_weights(random_weights(k_layer.get_weights()))
    lw_layer.set_weights(k_layer.get_weights())
    assert_same(k_layer(inputs, **call_kwargs), lw_layer(torch_args(inputs), **torch_args(call_kwargs)))


def test_attention_uses_scaled_dot_product_attention_unless_scores_are_asked_for(data, monkeypatch):
    calls = []
    fused = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or fused(*a, **k))
    q, v = torch.from_numpy(data["query"]), torch.from_numpy(data["value"])
    layer, mha = L.Attention(), L.MultiHeadAttention(2, 3)
    expected, scores = layer([q, v], return_attention_scores=True)
    assert not calls
    torch.testing.assert_close(layer([q, v]), expected)
    mha(q, v, return_attention_scores=True)
    assert len(calls) == 1
    mha(q, v, use_causal_mask=True)
    assert len(calls) == 2


MHAS = [{}, {"value_dim": 3, "output_shape": (2, 5)}, {"use_bias": False, "output_shape": 4},
        {"dropout": 0.2},  # dropout: Keras' softmax path, at inference
        {"use_gate": True, "value_dim": 4}, {"use_gate": True, "use_bias": False}]
MHA_CALLS = {
    "self": (("query", "query"), {}),
    "cross": (("query", "value7"), {}),
    "key": (("query", "value7", "key"), {}),
    "attention_mask": (("query", "value7"), {"attention_mask": "attention_mask"}),
    "causal": (("query", "value7"), {"use_causal_mask": True}),
    "causal_and_attention_mask": (("query", "value7"), {"use_causal_mask": True, "attention_mask": "attention_mask"}),
    "scores": (("query", "value7"), {"return_attention_scores": True}),
    "value_mask_scores": (("query", "value7"), {"value_mask": "v_mask", "return_attention_scores": True}),
    "value_mask": (("query", "value7"), {"value_mask": "v_mask"}),
}


@pytest.mark.parametrize("kwargs", MHAS, ids=str)
@pytest.mark.parametrize("call", sorted(MHA_CALLS))
def test_multi_head_attention_matches_keras(keras, data, kwargs, call):
    names, call_kwargs = MHA_CALLS[call]
    inputs = [data[n] for n in names]
    call_kwargs = {k: data[v] if isinstance(v, str) else v for k, v in call_kwargs.items()}
    k_layer, lw_layer = keras.layers.MultiHeadAttention(2, 3, **kwargs), L.MultiHeadAttention(2, 3, **kwargs)
    k_layer(*inputs)
    lw_layer(*torch_args(inputs))
    assert lw_layer.count_params() == k_layer.count_params()
    assert [w.shape for w in lw_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    k_layer.set_weights(random_weights(k_layer.get_weights()))
    lw_layer.set_weights(k_layer.get_weights())
    k_out = k_layer(*inputs, training=False, **call_kwargs)
    assert_same(k_out, lw_layer(*torch_args(inputs), training=False, **torch_args(call_kwargs)))


@pytest.mark.parametrize("axes", [(2,), (1, 2), None, -2])
def test_multi_head_attention_over_attention_axes_matches_keras(keras, axes):
    rng = np.random.default_rng(1)
    query, value = rng.normal(size=(2, 3, 4, 5)).astype("float32"), rng.normal(size=(2, 3, 4, 6)).astype("float32")
    k_layer = keras.layers.MultiHeadAttention(2, 3, attention_axes=axes)
    lw_layer = L.MultiHeadAttention(2, 3, attention_axes=axes)
    k_layer(query, value)
    lw_layer(torch.from_numpy(query), torch.from_numpy(value))
    k_layer.set_weights(random_weights(k_layer.get_weights()))
    lw_layer.set_weights(k_layer.get_weights())
    for kwargs in ({}, {"return_attention_scores": True}):
        lw_out = lw_layer(torch.from_numpy(query), torch.from_numpy(value), **kwargs)
        assert_same(k_layer(query, value, **kwargs), lw_out)


def _text_classifier(M, lib, attention: str):
    ids = lib.Input((7,))
    x = M.Embedding(20, DIM, mask_zero=True)(ids)
    if attention == "mha":
        x = M.MultiHeadAttention(2, 4)(x, x)
    else:
        x = M.Attention(use_scale=True)([x, x])
    return lib.Model(ids, M.Dense(2)(M.GlobalAveragePooling1D()(x)))


@pytest.mark.parametrize("attention", ["mha", "attention"])
def test_functional_self_attention_carries_the_embedding_mask_as_keras(keras, attention):
    ids = np.random.default_rng(2).integers(1, 20, (5, 7))
    ids[0, 4:] = 0
    ids[1, :2] = 0
    ids[2, 1:] = 0
    k_model = _text_classifier(keras.layers, keras, attention)
    lw_model = _text_classifier(L, layerwise, attention)
    assert lw_model.count_params() == k_model.count_params()
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(lw_model.predict(ids, verbose=0), k_model.predict(ids, verbose=0), atol=ATOL, rtol=0)


def _cross_attention_model(M, lib, attention: str):
    question, document = lib.Input((5,)), lib.Input((7,))
    q = M.Embedding(20, DIM, mask_zero=True)(question)
    d = M.Embedding(20, DIM, mask_zero=True)(document)
    x = M.MultiHeadAttention(2, 4)(q, d) if attention == "mha" else M.Attention()([q, d])
    return lib.Model([question, document], M.Dense(2)(M.GlobalAveragePooling1D()(x)))


@pytest.mark.parametrize("attention", ["mha", "attention"])
def test_functional_cross_attention_masks_the_value_padding_as_keras(keras, attention):
    rng = np.random.default_rng(4)
    question, document = rng.integers(1, 20, (6, 5)), rng.integers(1, 20, (6, 7))
    question[0, 3:] = 0
    document[:3, 4:] = 0
    document[3, 1:] = 0
    k_model = _cross_attention_model(keras.layers, keras, attention)
    lw_model = _cross_attention_model(L, layerwise, attention)
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    expected = k_model.predict([question, document], verbose=0)
    np.testing.assert_allclose(lw_model.predict([question, document], verbose=0), expected, atol=ATOL, rtol=0)
    unmasked = document.copy()
    unmasked[unmasked == 0] = 1  # without padding the outputs differ: the value's mask was applied
    assert not np.allclose(lw_model.predict([question, unmasked], verbose=0), expected, atol=ATOL)


def _encoder_with_attention(M, lib):
    tokens, query = lib.Input((6,)), lib.Input((3, 4))
    seq = M.LSTM(4, return_sequences=True)(M.Embedding(12, 5)(tokens))
    context, scores = M.Attention()([query, seq], return_attention_scores=True)
    mixed = M.MultiHeadAttention(2, 2)(context, seq, use_causal_mask=True)
    pooled = M.GlobalAveragePooling1D()(M.Concatenate()([context, mixed]))
    return lib.Model([tokens, query], [M.Dense(1, activation="sigmoid")(pooled), scores])


def test_functional_encoder_with_attention_matches_keras_trains_and_round_trips(keras, tmp_path):
    keras.utils.set_random_seed(0)  # the starting weights and the batch order, whatever ran before
    layerwise.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    tokens, query = rng.integers(0, 12, (64, 6)), rng.normal(size=(64, 3, 4)).astype("float32")
    k_model, lw_model = _encoder_with_attention(keras.layers, keras), _encoder_with_attention(L, layerwise)
    assert lw_model.count_params() == k_model.count_params()
    lw_model.set_weights(k_model.get_weights())
    expected = k_model.predict([tokens, query], verbose=0)
    for a, b in zip(expected, lw_model.predict([tokens, query], verbose=0)):
        np.testing.assert_allclose(b, a, atol=ATOL, rtol=0)
    model = layerwise.Model(lw_model.inputs, lw_model.outputs[0])  # the same layers, one output to train
    model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="binary_crossentropy")
    labels = (query[:, :, 0].sum(1) > 0).astype("float32")[:, None]
    history = model.fit([tokens, query], labels, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    trained = lw_model.predict([tokens, query], verbose=0)
    rebuilt = type(lw_model).from_config(lw_model.get_config())
    rebuilt.set_weights(lw_model.get_weights())
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.models.load_model(tmp_path / "m.lw")
    for copy in (rebuilt, loaded):
        for a, b in zip(trained, copy.predict([tokens, query], verbose=0)):
            np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)


def test_configs_round_trip():
    for layer in (L.Attention(use_scale=True, score_mode="concat", dropout=0.1), L.AdditiveAttention(use_scale=False),
                  L.MultiHeadAttention(2, 3, value_dim=4, output_shape=(2, 3), attention_axes=(1,),
                                       kernel_regularizer="l2")):
        config = layer.get_config()
        copy = type(layer).from_config(config)
        assert copy.get_config() == {**config, "name": copy.name}
    assert "score_mode" not in L.AdditiveAttention().get_config()


def test_multi_head_attention_regularizers_follow_keras():
    layer = L.MultiHeadAttention(2, 3, kernel_regularizer=layerwise.regularizers.L2(0.1),
                                 activity_regularizer=layerwise.regularizers.L1(0.01))
    x = torch.randn(2, 4, 5)
    layer(x, x)
    kernels = [w for v, w in zip(layer.weight_views(), layer.get_weights()) if v.name.endswith("kernel")]
    penalties = sorted(float(p.detach()) for p in layer.losses)
    expected = sorted(0.1 * float((k ** 2).sum()) for k in kernels)
    assert len(kernels) == 4 and len(penalties) == 5  # four kernels, one activity penalty (of the projections)
    matched = [p for p in penalties if any(p == pytest.approx(e, rel=1e-5) for e in expected)]
    assert len(matched) == 4 and sum(penalties) - sum(matched) > 0


def test_bad_calls_raise_clear_errors(data):
    q, v = torch.from_numpy(data["query"]), torch.from_numpy(data["value7"])
    with pytest.raises(ValueError, match=r"Layer 'att' \(Attention\) must be called on a list \[query, value\]"):
        L.Attention(name="att")(q)
    with pytest.raises(ValueError, match=r"Layer 'att' \(Attention\) expected query and key with the same number of "
                                         r"features .* received query \(3, 4, 6\) and key \(3, 5, 7\)"):
        L.Attention(name="att")([q, v])
    with pytest.raises(ValueError, match=r"\(AdditiveAttention\) expected query and key with the same number"):
        L.AdditiveAttention()([q, v])
    with pytest.raises(ValueError, match=r"\(Attention\) expected query, value and key of one rank, at least 3 .*"
                                         r"'value': \(3, 7\)"):
        L.Attention()([q, v[:, 0]])
    with pytest.raises(ValueError, match=r"expected a value and key with the same steps .* value \(3, 5, 7\) and key "
                                         r"\(3, 4, 6\)"):
        L.Attention()([q, v, q])
    with pytest.raises(ValueError, match=r"takes mask=\[query_mask, value_mask\], got a list of 1"):
        L.Attention()([q, q], mask=[None])
    with pytest.raises(ValueError, match=r"score_mode must be one of \('dot', 'concat'\), got 'add'"):
        L.Attention(score_mode="add")
    mha = L.MultiHeadAttention(2, 3, name="mha")
    with pytest.raises(ValueError, match=r"Layer 'mha' \(MultiHeadAttention\) needs a value"):
        mha(q)
    mha(q, v)
    with pytest.raises(ValueError, match=r"Layer 'mha' \(MultiHeadAttention\) was built for a value of 7 features, "
                                         r"but received value shape \(3, 4, 6\)"):
        mha(q, q)
    with pytest.raises(ValueError, match=r"attention_axes \(3,\) must name distinct axes of the inputs \(rank 3\)"):
        L.MultiHeadAttention(2, 3, attention_axes=3)(q, q)
    with pytest.raises(ValueError, match=r"num_heads must be a positive integer, got 0"):
        L.MultiHeadAttention(0, 3)


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal"])
def test_multi_head_attention_initial_scale_matches_keras(keras, initializer):
    """Keras counts an attention kernel's fans over its input and output axes ((features), (heads, size)),
    not as a convolution kernel's: the initial weights have Keras' spread (conv-style fans made it 3x smaller)."""
    x = np.zeros((1, 5, 64), "float32")
    k_layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=32, kernel_initializer=initializer)
    lw_layer = L.MultiHeadAttention(num_heads=4, key_dim=32, kernel_initializer=initializer)
    k_layer(x, x)
    lw_layer(x, x)
    kernels = [(k, w) for k, w in zip(k_layer.get_weights(), lw_layer.get_weights()) if k.ndim == 3]
    assert len(kernels) == 4
    for k_kernel, lw_kernel in kernels:
        assert k_kernel.shape == lw_kernel.shape
        assert lw_kernel.std() == pytest.approx(k_kernel.std(), rel=0.06)


# ---- MultiHeadAttention ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("argument", ["value_dim", "sliding_window"])
def test_multi_head_attention_refuses_zero_value_dim_and_sliding_window_as_keras(keras, argument):
    with pytest.raises(ValueError):
        keras.layers.MultiHeadAttention(2, 4, **{argument: 0})
    with pytest.raises(ValueError, match=f"{argument} must be None or a positive integer, got 0"):
        L.MultiHeadAttention(2, 4, **{argument: 0})
    assert L.MultiHeadAttention(2, 4, value_dim=None).value_dim == 4


def test_multi_head_attention_has_keras_einsum_sublayers_viewing_its_weights(keras):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    ours, theirs = L.MultiHeadAttention(2, 3, output_shape=(5, 2)), keras.layers.MultiHeadAttention(2, 3,
                                                                                                   output_shape=(5, 2))
    ours(x, x), theirs(x, x)
    ours.set_weights(theirs.get_weights())
    for name in ("query_dense", "key_dense", "value_dense", "output_dense", "_query_dense", "_output_dense"):
        mine, keras_layer = getattr(ours, name), getattr(theirs, name)
        assert isinstance(mine, L.EinsumDense) and mine.name == keras_layer.name
        assert mine.equation == keras_layer.equation and mine.bias_axes == keras_layer.bias_axes
        assert tuple(mine.kernel.shape) == tuple(keras_layer.kernel.shape)
        np.testing.assert_allclose(mine.get_weights()[0], keras_layer.get_weights()[0])
        given = x if name != "output_dense" and name != "_output_dense" else RNG.normal(size=(2, 3, 2, 3))
        np.testing.assert_allclose(_numpy(keras, mine(given.astype("float32"))),
                                   _numpy(keras, keras_layer(given.astype("float32"))), atol=1e-5)
    kernel = np.full_like(ours.get_weights()[0], 0.5)
    ours.query_dense.set_weights([kernel, np.zeros_like(ours.get_weights()[1])])  # writes the layer's own weight
    np.testing.assert_array_equal(ours.get_weights()[0], kernel)
    with pytest.raises(AttributeError):  # not built yet, as in Keras
        _ = L.MultiHeadAttention(2, 3).query_dense


@pytest.mark.parametrize("kwargs, rank", [({}, 3), ({"output_shape": 7, "attention_axes": 1}, 3),
                                          ({"attention_axes": -2}, 4), ({}, 4)])
def test_multi_head_attention_resolves_attention_axes_and_config_forms_as_keras(keras, kwargs, rank):
    ours, theirs = L.MultiHeadAttention(2, 3, **kwargs), keras.layers.MultiHeadAttention(2, 3, **kwargs)
    for key in ("output_shape", "attention_axes"):
        assert ours.get_config()[key] == theirs.get_config()[key]
    x = RNG.normal(size=(2, 3, 4, 5)[:rank - 1] + (6,)).astype("float32")
    ours(x, x), theirs(x, x)
    assert ours.attention_axes == theirs.attention_axes
    assert ours.get_config()["attention_axes"] == theirs.get_config()["attention_axes"]
    assert type(L.MultiHeadAttention.from_config(ours.get_config()).get_config()["attention_axes"]) is tuple


# ---- Attention and AdditiveAttention ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_scores_returned_while_training_are_the_weights_after_dropout(keras, name):
    q, v = RNG.normal(size=(64, 8, 4)).astype("float32"), RNG.normal(size=(64, 8, 4)).astype("float32")
    for library in (keras, layerwise):
        out, scores = getattr(library.layers, name)(dropout=0.5)([q, v], training=True, return_attention_scores=True)
        out, scores = _numpy(keras, out), _numpy(keras, scores)
        np.testing.assert_allclose(out, scores @ v, atol=1e-5)  # what the output was computed from
        assert 0.4 < (scores == 0).mean() < 0.6


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_attention_takes_inputs_of_rank_above_three_as_keras(keras, name):
    q, v = RNG.normal(size=(2, 2, 3, 4)).astype("float32"), RNG.normal(size=(2, 2, 5, 4)).astype("float32")
    query_mask = RNG.random((2, 2, 3)) > 0.3
    value_mask = RNG.random((2, 2, 5)) > 0.3
    ours, theirs = getattr(L, name)(), getattr(keras.layers, name)()
    theirs([q, v])
    ours.build([q.shape, v.shape])
    ours.set_weights(theirs.get_weights())
    for kwargs in ({}, {"use_causal_mask": True}, {"mask": [query_mask, None]},
                   {"mask": [None, value_mask], "use_causal_mask": True}):
        np.testing.assert_allclose(_numpy(keras, ours([q, v], **kwargs)), _numpy(keras, theirs([q, v], **kwargs)),
                                   atol=1e-5)
    q_in, v_in = layerwise.Input((2, 3, 4)), layerwise.Input((2, 5, 4))
    assert getattr(L, name)()([q_in, v_in]).shape == (None, 2, 3, 4)


def test_attention_called_on_a_list_takes_masks_only_as_a_list(keras):
    q = RNG.normal(size=(2, 3, 4)).astype("float32")
    mask = np.array([[True, True, False], [True, False, False]])
    with pytest.raises(ValueError, match="mask must be a list"):
        keras.layers.Attention()([q, q], mask=mask)
    with pytest.raises(ValueError, match=r"mask must be a list, namely \[query_mask, value_mask\]"):
        L.Attention()([q, q], mask=mask)


def test_symbolic_attention_scores_come_as_a_tuple_as_in_keras(keras, tmp_path):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    for library in (keras, layerwise):
        q = library.Input((3, 4))
        assert type(library.layers.MultiHeadAttention(2, 2)(q, q, return_attention_scores=True)) is tuple
        out = library.layers.Attention()([q, q], return_attention_scores=True)
        assert type(out) is tuple
        model = library.Model(q, out)
        assert type(model.predict(x, verbose=0)) is tuple
    model.save(tmp_path / "m.keras")
    reloaded = layerwise.models.load_model(tmp_path / "m.keras")
    for got, expected in zip(reloaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_gated_multi_head_attention_reads_and_writes_keras_weights_files(keras, data, tmp_path):
    # Keras keeps the gate in its private _gate_dense, between the key and the value projections
    def model(lib):
        query, value = lib.Input((TQ, DIM)), lib.Input((TV, 7))
        return lib.Model([query, value], lib.layers.MultiHeadAttention(2, 3, use_gate=True)(query, value))

    theirs, ours = model(keras), model(layerwise)
    theirs.set_weights(random_weights(theirs.get_weights()))
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    inputs = [data["query"], data["value7"]]
    expected = keras.ops.convert_to_numpy(theirs(inputs))
    np.testing.assert_allclose(ours.predict(inputs, verbose=0), expected, atol=1e-5)
    ours.save_weights(tmp_path / "l.weights.h5")
    theirs.set_weights([np.zeros_like(w) for w in theirs.get_weights()])
    theirs.load_weights(tmp_path / "l.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs(inputs)), expected, atol=1e-6)
