"""EinsumDense and GroupedQueryAttention against Keras 3 (torch backend).

With Keras' weights the outputs (and attention scores) agree to 1e-5 across equations, bias axes, masks,
causal masks, gates and sliding windows; weights have Keras' shapes and order, models count Keras' params,
train, and round-trip through their config and a file.
"""
from __future__ import annotations

import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5


def numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)


def random_weights(weights: list[np.ndarray], seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.5, np.shape(w)).astype("float32") for w in weights]


def param_counts(model, capsys) -> list[tuple[str, str]]:
    capsys.readouterr()
    model.summary()
    return re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", capsys.readouterr().out)


# ---- EinsumDense ------------------------------------------------------------------------------------------

EINSUM_CASES = [  # equation, output_shape, bias_axes, input shape (batch first)
    ("ab,bc->ac", 4, "c", (3, 5)),
    ("abc,cd->abd", (None, 4), "d", (3, 6, 5)),
    ("abc,cde->abde", (None, 2, 4), "de", (3, 6, 5)),
    ("abc,cde->abde", (None, 2, 4), "d", (3, 6, 5)),  # bias (2, 1): broadcast over the last axis
    ("abcd,cde->abe", (7, 4), "be", (3, 7, 2, 5)),
    ("...b,bc->...c", 4, "c", (3, 6, 5)),
    ("...b,bc->...c", 4, None, (3, 5)),
    ("ab...,bc->ac...", 4, "c", (3, 5, 2, 6)),  # carried axes after the output: bias (4, 1, 1)
    ("bqm,muh->bquh", (None, 2, 3), "uh", (3, 4, 5)),
]


@pytest.mark.parametrize("equation,output_shape,bias_axes,shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(keras, equation, output_shape, bias_axes, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    theirs = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    ours = L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    theirs.build((None, *shape[1:]))
    ours.build_from((None, *shape[1:]))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert ours.count_params() == theirs.count_params()
    weights = random_weights(theirs.get_weights())
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(numpy(ours(x)), numpy(theirs(x)), atol=ATOL, rtol=0)
    assert ours.compute_output_shape((None, *shape[1:])) == tuple(theirs.compute_output_shape((None, *shape[1:])))


def test_einsum_dense_gives_the_true_shape_where_keras_reverses_carried_axes(keras):
    # Keras reports (None, 4, 3, 6) for "...b,bc->...c" on (None, 3, 4, 5) and then returns (2, 3, 4, 6).
    ours = L.EinsumDense("...b,bc->...c", 6)
    x = torch.randn(2, 3, 4, 5)
    assert tuple(ours(x).shape) == (2, 3, 4, 6) == (2, *ours.compute_output_shape((None, 3, 4, 5))[1:])
    assert tuple(keras.layers.EinsumDense("...b,bc->...c", 6)(x.numpy()).shape) == (2, 3, 4, 6)


def test_einsum_dense_kernel_fans_follow_keras(keras):
    # Keras counts a variance-scaling kernel's fans over its input and output axes: glorot_uniform on a
    # (64, 8, 16) "abc,cde->abde" kernel draws from +-sqrt(6 / (64 + 128)), not the convolution-style limit.
    ours = L.EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer="glorot_uniform")
    ours.build_from((None, 3, 64))
    theirs = keras.layers.EinsumDense("abc,cde->abde", (None, 8, 16))
    theirs.build((None, 3, 64))
    limit = np.sqrt(6 / (64 + 8 * 16))
    for kernel in (ours.get_weights()[0], numpy(theirs.get_weights()[0])):
        assert limit * 0.97 < np.abs(kernel).max() <= limit
    normal = L.EinsumDense("abc,cd->abd", (None, 500), kernel_initializer=layerwise.initializers.HeNormal(seed=0))
    normal.build_from((None, 3, 200))
    assert abs(normal.get_weights()[0].std() - np.sqrt(2 / 200)) < 0.003


def _einsum_model(lib, M):
    return lib.Sequential([lib.Input((6, 5)), M.EinsumDense("abc,cd->abd", (None, 4), bias_axes="d", activation="relu"),
                           M.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="e"), M.Reshape((6, 6)),
                           M.GlobalAveragePooling1D(), M.Dense(1)])


def test_einsum_dense_in_a_model_trains_and_round_trips(keras, tmp_path, capsys):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(64, 6, 5)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    k_model, lw_model = _einsum_model(keras, keras.layers), _einsum_model(layerwise, L)
    assert param_counts(lw_model, capsys) == param_counts(k_model, capsys)
    lw_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL, rtol=0)
    lw_model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="mse")
    history = lw_model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    trained = lw_model.predict(x, verbose=0)
    lw_model.save(tmp_path / "einsum.lw")
    loaded = layerwise.models.load_model(tmp_path / "einsum.lw")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), trained, atol=1e-6, rtol=0)
    rebuilt = layerwise.Sequential.from_config(lw_model.get_config())
    rebuilt.set_weights(lw_model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), trained, atol=1e-6, rtol=0)


def test_einsum_dense_config_follows_keras(keras):
    ours = L.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="e", activation="relu",
                         kernel_regularizer="l2", name="proj")
    config = ours.get_config()
    theirs = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="e", activation="relu",
                                      kernel_regularizer="l2").get_config()
    assert set(config) <= set(theirs)
    assert config["output_shape"] == theirs["output_shape"] == (None, 2, 4) and config["equation"] == "abc,cde->abde"
    assert L.EinsumDense.from_config(config).get_config() == config
    assert keras.layers.EinsumDense.from_config(config).compute_output_shape((None, 5, 3)) == (None, None, 2, 4)
    assert L.EinsumDense("ab,bc->ac", 4).get_config()["output_shape"] == (4,)


def test_einsum_dense_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"invalid equation 'ab->b'"):
        L.EinsumDense("ab->b", 3)
    with pytest.raises(ValueError, match=r"bias dimension 'x' was requested \(bias_axes='x'\)"):
        L.EinsumDense("ab,bc->ac", 3, bias_axes="x")
    with pytest.raises(ValueError, match=r"weight dimension 'z' .* has no match"):
        L.EinsumDense("ab,bz->a", ())
    with pytest.raises(ValueError, match=r"output_shape \(4, 3\) has 2 sizes, but equation 'ab,bc->ac' .* needs 1"):
        L.EinsumDense("ab,bc->ac", (4, 3))(torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"shared dimension 'b': the input has 6, output_shape gives 7"):
        L.EinsumDense("abc,cd->abd", (7, 4))(torch.ones(2, 6, 5))
    with pytest.raises(ValueError, match=r"needs inputs of rank 2, but received input shape \(2, 6, 5\)"):
        L.EinsumDense("ab,bc->ac", 3)(torch.ones(2, 6, 5))
    with pytest.raises(ValueError, match=r"LoRA .* not supported"):
        L.EinsumDense("ab,bc->ac", 3, lora_rank=2)
    with pytest.raises(ValueError, match=r"quantization .* not supported"):
        L.EinsumDense("ab,bc->ac", 3, quantization_config={"mode": "int8"})
    layer = L.EinsumDense("abc,cd->abd", (None, 4), name="ed")
    layer(torch.ones(2, 6, 5))
    assert tuple(layer(torch.ones(2, 9, 5)).shape) == (2, 9, 4)  # the steps may change; the features may not
    with pytest.raises(ValueError, match=r"Layer 'ed' \(EinsumDense\) expected input shape \(None, 6, 5\)"):
        layer(torch.ones(2, 6, 7))


# ---- GroupedQueryAttention ---------------------------------------------------------------------------------

B, TQ, TV, DIM = 3, 4, 5, 6


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    q_mask, v_mask = np.ones((B, TQ), bool), np.ones((B, TV), bool)
    q_mask[0, 3:] = q_mask[2, 1:] = False
    v_mask[0, 2:] = v_mask[1, :1] = False
    v_mask[2, :] = False  # nothing to attend to
    return {"query": rng.normal(size=(B, TQ, DIM)).astype("float32"),
            "value": rng.normal(size=(B, TV, DIM)).astype("float32"),
            "key": rng.normal(size=(B, TV, 7)).astype("float32"),
            "query_mask": q_mask, "value_mask": v_mask, "attention_mask": rng.random((B, TQ, TV)) > 0.3}


GQA_LAYERS = [(4, 4, 2, {}), (4, 4, 2, {"use_gate": True}), (3, 6, 1, {"use_bias": False}),
              (2, 2, 2, {"sliding_window": 2}), (4, 4, 2, {"dropout": 0.3})]
GQA_CALLS = {
    "plain": {},
    "key": {"key": "key"},
    "causal": {"use_causal_mask": True},
    "masks": {"query_mask": "query_mask", "value_mask": "value_mask"},
    "attention_mask_causal": {"attention_mask": "attention_mask", "use_causal_mask": True},
    "scores": {"return_attention_scores": True},
    "scores_masks_causal": {"return_attention_scores": True, "query_mask": "query_mask", "value_mask": "value_mask",
                            "use_causal_mask": True},
}


@pytest.mark.parametrize("call", list(GQA_CALLS))
@pytest.mark.parametrize("head_dim,query_heads,kv_heads,kwargs", GQA_LAYERS)
def test_grouped_query_attention_matches_keras(keras, data, head_dim, query_heads, kv_heads, kwargs, call):
    arguments = {k: data[v] if isinstance(v, str) else v for k, v in GQA_CALLS[call].items()}
    theirs = keras.layers.GroupQueryAttention(head_dim, query_heads, kv_heads, **kwargs)
    ours = L.GroupQueryAttention(head_dim, query_heads, kv_heads, **kwargs)
    theirs(data["query"], data["value"], **arguments)
    ours(data["query"], data["value"], **arguments)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    weights = random_weights(theirs.get_weights())
    theirs.set_weights(weights)
    ours.set_weights(weights)
    expected = theirs(data["query"], data["value"], **arguments)
    got = ours(torch.from_numpy(data["query"]), torch.from_numpy(data["value"]),
               **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in arguments.items()})
    expected, got = (list(t) if isinstance(t, tuple) else [t] for t in (expected, got))
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        assert tuple(b.shape) == tuple(a.shape)
        np.testing.assert_allclose(numpy(b), numpy(a), atol=ATOL, rtol=0)


def test_grouped_query_attention_weights_follow_keras_order(keras, data):
    ours, theirs = L.GroupedQueryAttention(4, 4, 2, use_gate=True), keras.layers.GroupQueryAttention(4, 4, 2,
                                                                                                  use_gate=True)
    ours(data["query"], data["value"], data["key"])
    theirs(data["query"], data["value"], data["key"])
    names = [v.name for v in ours.weight_views()]
    assert names == [w.path.split("/", 1)[1] for w in theirs.weights] == [
        "query/kernel", "query/bias", "key/kernel", "key/bias", "gate/kernel", "gate/bias", "value/kernel",
        "value/bias", "attention_output/kernel", "attention_output/bias"]
    assert ours.count_params() == theirs.count_params()


def test_grouped_query_attention_dropout_only_while_training(data):
    layer = L.GroupQueryAttention(4, 4, 2, dropout=0.5)
    q, v = torch.from_numpy(data["query"]), torch.from_numpy(data["value"])
    inference = layer(q, v)
    assert torch.equal(inference, layer(q, v))
    torch.manual_seed(0)
    _, scores = layer(q, v, return_attention_scores=True, training=True)
    assert torch.allclose(scores.sum(-1), torch.ones(()))  # the scores before dropout, as Keras returns them
    assert not torch.allclose(layer(q, v, training=True), inference)


def _gqa_classifier(lib, M):
    tokens = lib.Input((7,))
    x = M.Embedding(30, 8, mask_zero=True)(tokens)
    x = M.GroupQueryAttention(4, 4, 2, use_gate=True)(x, x, use_causal_mask=True)
    return lib.Model(tokens, M.Dense(1, activation="sigmoid")(M.GlobalAveragePooling1D()(x)))


def test_grouped_query_attention_model_carries_masks_trains_and_round_trips(keras, tmp_path, capsys):
    rng = np.random.default_rng(4)
    tokens = rng.integers(1, 30, (48, 7))
    tokens[:10, 4:] = 0
    tokens[10:20, 2:] = 0
    labels = (tokens[:, :1] > 15).astype("float32")
    k_model, lw_model = _gqa_classifier(keras, keras.layers), _gqa_classifier(layerwise, L)
    assert param_counts(lw_model, capsys) == param_counts(k_model, capsys)
    k_model.set_weights(random_weights(k_model.get_weights()))
    lw_model.set_weights(k_model.get_weights())
    expected = k_model.predict(tokens, verbose=0)
    np.testing.assert_allclose(lw_model.predict(tokens, verbose=0), expected, atol=ATOL, rtol=0)
    lw_model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="binary_crossentropy")
    history = lw_model.fit(tokens, labels, epochs=10, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    trained = lw_model.predict(tokens, verbose=0)
    lw_model.save(tmp_path / "gqa.lw")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "gqa.lw").predict(tokens, verbose=0), trained,
                               atol=1e-6, rtol=0)


def test_grouped_query_attention_config_follows_keras(keras):
    kwargs = dict(dropout=0.1, use_bias=False, sliding_window=3, use_gate=True, kernel_regularizer="l2", seed=5)
    ours = L.GroupQueryAttention(8, 4, 2, flash_attention=False, **kwargs)
    theirs = keras.layers.GroupQueryAttention(8, 4, 2, **kwargs).get_config()
    config = ours.get_config()
    assert set(config) <= set(theirs) and "flash_attention" not in config
    assert {k: config[k] for k in ("head_dim", "num_query_heads", "num_key_value_heads", "sliding_window")} == \
        {k: theirs[k] for k in ("head_dim", "num_query_heads", "num_key_value_heads", "sliding_window")}
    assert L.GroupedQueryAttention.from_config(config).get_config() == {**config, "name": config["name"]}
    assert L.get("GroupQueryAttention") is L.get("GroupedQueryAttention") is L.GroupedQueryAttention


def test_grouped_query_attention_regularizers_reach_every_projection():
    layer = L.GroupQueryAttention(2, 2, 1, kernel_regularizer=layerwise.regularizers.L2(0.1))
    x = torch.randn(2, 3, 4)
    layer(x, x)
    kernels = [w for v, w in zip(layer.weight_views(), layer.get_weights()) if v.name.endswith("kernel")]
    penalties = sorted(float(p.detach()) for p in layer.losses)
    assert penalties == pytest.approx(sorted(0.1 * float((k ** 2).sum()) for k in kernels), rel=1e-5)


def test_grouped_query_attention_bad_arguments_and_inputs(data):
    q, v = torch.from_numpy(data["query"]), torch.from_numpy(data["key"])
    with pytest.raises(ValueError, match=r"num_query_heads \(4\) must be divisible by num_key_value_heads \(3\)"):
        L.GroupQueryAttention(2, 4, 3)
    with pytest.raises(ValueError, match=r"head_dim must be a positive integer, got 0"):
        L.GroupQueryAttention(0, 4, 2)
    with pytest.raises(ValueError, match=r"sliding_window must be None or a positive integer, got 0"):
        L.GroupQueryAttention(2, 4, 2, sliding_window=0)
    with pytest.raises(ValueError, match=r"dropout is not supported with flash_attention=True"):
        L.GroupQueryAttention(2, 4, 2, dropout=0.1, flash_attention=True)
    layer = L.GroupQueryAttention(2, 4, 2, name="gqa")
    with pytest.raises(ValueError, match=r"Layer 'gqa' \(GroupedQueryAttention\) needs a value"):
        layer(q)
    with pytest.raises(ValueError, match=r"expected query, value and key of rank 3"):
        layer(q[:, None], q[:, None])
    layer(q, v)
    with pytest.raises(ValueError, match=r"Layer 'gqa' \(GroupedQueryAttention\) was built for a value of 7 features, "
                                         r"but received value shape \(3, 4, 6\)"):
        layer(q, q)
    with pytest.raises(ValueError, match=r"cannot return attention scores with flash_attention=True"):
        L.GroupQueryAttention(2, 4, 2, flash_attention=True)(q, q, return_attention_scores=True)


def test_grouped_query_attention_in_float64(keras, data):
    # its projections ran in float32 over float64 weights ("expected scalar type Float but found Double");
    # Keras 3.15 computes part of it in float32 (1.4e-7 from a float64 reference, layerwise 3e-16)
    query, value = data["query"].astype("float64"), data["value"].astype("float64")
    theirs, ours = (lib.GroupQueryAttention(4, 4, 2, dtype="float64") for lib in (keras.layers, L))
    theirs(query, value)
    ours(query, value)
    ours.set_weights(theirs.get_weights())
    got = ours(torch.from_numpy(query), torch.from_numpy(value))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(numpy(got), numpy(theirs(query, value)), atol=1e-6)
