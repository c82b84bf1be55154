"""The neural-network ops (convolutions, pools, patches, normalizations, attention, CTC, activations) and the
linear-algebra ops of ``layerwise.ops`` against ``keras.ops`` (torch backend): the same values and dtypes on
the same inputs, the same nodes in functional models, and clear errors for bad arguments."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import layerwise
from layerwise import ops
from layerwise.backend import clear_session

_rng = np.random.default_rng(0)


def _normal(*shape, dtype="float32"):
    return _rng.normal(size=shape).astype(dtype)


A = _normal(3, 6)
A64 = A.astype("float64")
EDGE = np.array([[np.nan, np.inf, -np.inf, 0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0]], "float32")
X1, X2, X3 = _normal(2, 7, 4), _normal(2, 7, 6, 4), _normal(2, 5, 6, 4, 4)
X2F = np.moveaxis(X2, -1, 1).copy()
LABELS = np.array([[0, 3, 3], [1, -1, 4]], "int32")
SCORES = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.0, 0.3, 0.3], [0.2, 0.2, 0.2, 0.2]], "float32")
IMAGES = _rng.uniform(size=(2, 8, 8, 3)).astype("float32")
Q, K, V = _normal(2, 5, 4, 8), _normal(2, 6, 4, 8), _normal(2, 6, 4, 8)
KV2 = _normal(2, 6, 2, 8)
MASK = _rng.uniform(size=(2, 1, 5, 6)) > 0.3
LOGITS = _normal(3, 6, 5)
TARGETS = np.array([[1, 2, 2], [3, 0, 0], [4, 1, 0]], "int32")
M = _normal(2, 4, 4)
SPD = M @ np.swapaxes(M, -1, -2) + 4 * np.eye(4, dtype="float32")
LOWER = np.tril(M) + 3 * np.eye(4, dtype="float32")
RECT = _normal(5, 3)
B_VEC, B_MAT = _normal(2, 4), _normal(2, 4, 2)


def _kernel(*shape):
    return _normal(*shape)


CASES = [
    # activations (the element-wise ones also on NaN, inf and the corners of their pieces)
    *[(name, (x,), {}) for name in ["celu", "hard_shrink", "soft_shrink", "tanh_shrink", "hard_silu", "hard_swish",
                                    "hard_tanh", "squareplus", "sparse_plus", "sparse_sigmoid"] for x in (A, EDGE)],
    *[(name, (A64,), {}) for name in ["celu", "sparse_plus", "sparse_sigmoid", "squareplus"]],
    ("celu", (A,), {"alpha": 0.5}),
    ("hard_shrink", (A,), {"threshold": 1.0}),
    ("soft_shrink", (EDGE,), {"threshold": 1.0}),
    ("squareplus", (A,), {"b": 1}),
    ("threshold", (A, 0.2, -1.0), {}),
    ("threshold", (EDGE, 0.0, 5.0), {}),
    ("glu", (A,), {}),
    ("glu", (X2,), {"axis": 2}),
    # encodings and metrics
    ("multi_hot", (LABELS, 5), {}),
    ("multi_hot", (LABELS[0], 5), {}),
    ("multi_hot", (LABELS,), {"num_classes": 6, "dtype": "int32"}),
    ("multi_hot", (LABELS,), {"num_tokens": 5}),
    ("multi_hot", (np.stack([LABELS, LABELS[::-1]]), 5), {}),
    ("in_top_k", (np.array([2, 0, 3]), SCORES, 1), {}),
    ("in_top_k", (np.array([1, 3, 0]), SCORES, 2), {}),
    ("psnr", (IMAGES, np.clip(IMAGES + 0.1 * _normal(2, 8, 8, 3), 0, 1), 1.0), {}),
    ("psnr", (IMAGES.astype("float64"), IMAGES[::-1].astype("float64"), 2.0), {}),
    ("polar", (np.abs(A), A), {}),
    ("polar", (np.abs(A64), A64), {}),
    ("polar", (np.array([1, 2, 3], "int32"), np.array([0.5], "float32")), {}),
    # normalizations
    ("batch_normalization", (X2, X2.mean((0, 1, 2)), X2.var((0, 1, 2)), -1), {}),
    ("batch_normalization", (X2F, X2F.mean((0, 2, 3)), X2F.var((0, 2, 3)), 1),
     {"offset": _normal(4), "scale": _normal(4), "epsilon": 0.1}),
    ("layer_normalization", (X2,), {}),
    ("layer_normalization", (X2,), {"gamma": _normal(4), "beta": _normal(4), "epsilon": 1e-3}),
    ("layer_normalization", (X2,), {"axis": (2, 3), "gamma": _normal(6, 4)}),
    ("layer_normalization", (X2.astype("float16"),), {}),
    ("layer_normalization", (A64,), {"axis": -1, "beta": _normal(6)}),
    ("layer_normalization", (X2,), {"gamma": _normal(4), "rms_scaling": True}),  # deprecated; both warn
    ("rms_normalization", (X2,), {}),
    ("rms_normalization", (X2,), {"scale": _normal(4), "epsilon": 1e-2}),
    ("rms_normalization", (X2,), {"axis": (-2, -1)}),
    ("rms_normalization", (X2.astype("float16"),), {}),
    # attention
    ("dot_product_attention", (Q, K, V), {}),
    ("dot_product_attention", (Q, K, V), {"mask": MASK}),
    ("dot_product_attention", (Q, K, V), {"bias": _normal(1, 4, 5, 6), "scale": 0.3}),
    ("dot_product_attention", (Q, K, V), {"is_causal": True}),
    ("dot_product_attention", (Q, K, V), {"mask": MASK, "is_causal": True}),
    ("dot_product_attention", (Q, KV2, KV2), {}),
    ("dot_product_attention", (Q, KV2[:, :, :1], KV2[:, :, :1]), {"mask": np.zeros((1, 1, 5, 6), bool)}),
    ("dot_product_attention", (Q.astype("float64"), K, V), {"flash_attention": False}),
    # CTC
    ("ctc_loss", (TARGETS, LOGITS, np.array([3, 1, 2]), np.array([6, 4, 5])), {}),
    ("ctc_loss", (TARGETS + 1, LOGITS.astype("float64"), np.array([3, 1, 2]), np.array([6, 6, 6])),
     {"mask_index": 0}),
    ("ctc_loss", (TARGETS, LOGITS, np.array([3, 1, 2]), np.array([6, 4, 5])), {"mask_index": 4}),
    ("ctc_decode", (LOGITS, np.array([6, 3, 0])), {}),
    ("ctc_decode", (LOGITS, np.array([6, 4, 5])), {"merge_repeated": False, "mask_index": None}),
    ("ctc_decode", (np.round(LOGITS), np.array([6, 4, 5])), {"strategy": "beam_search", "beam_width": 4,
                                                             "top_paths": 3}),
    ("ctc_decode", (LOGITS, np.array([6, 2, 5])), {"strategy": "beam_search", "beam_width": 1, "mask_index": 2}),
    # convolutions
    ("conv", (X1, _kernel(3, 4, 5)), {}),
    ("conv", (X1, _kernel(3, 4, 5)), {"padding": "same", "dilation_rate": 2}),
    ("conv", (X2, _kernel(3, 2, 4, 5)), {"strides": (2, 1), "padding": "SAME"}),
    ("conv", (X2F, _kernel(2, 2, 4, 5)), {"strides": 2, "padding": "same", "data_format": "channels_first"}),
    ("conv", (X2, _kernel(3, 3, 2, 6)), {"padding": "same"}),  # two groups of two channels
    ("conv", (X3, _kernel(2, 3, 1, 4, 2)), {"padding": "same", "strides": (1, 2, 2)}),
    ("conv", (X2.astype("float64"), _kernel(1, 1, 4, 3).astype("float64")), {}),
    ("depthwise_conv", (X1, _kernel(3, 4, 2)), {"padding": "same"}),
    ("depthwise_conv", (X2, _kernel(3, 3, 4, 1)), {"strides": 2}),
    ("depthwise_conv", (X2F, _kernel(2, 3, 4, 3)), {"data_format": "channels_first", "dilation_rate": (2, 1)}),
    ("separable_conv", (X1, _kernel(3, 4, 2), _kernel(1, 8, 5)), {"padding": "same"}),
    ("separable_conv", (X2, _kernel(3, 3, 4, 2), _kernel(1, 1, 8, 3)), {"strides": (2, 2), "padding": "same"}),
    ("conv_transpose", (X1, _kernel(3, 5, 4)), {}),
    ("conv_transpose", (X1, _kernel(3, 5, 4)), {"strides": 2, "padding": "same"}),
    ("conv_transpose", (X2, _kernel(3, 2, 5, 4)), {"strides": (2, 3), "output_padding": (1, 0)}),
    ("conv_transpose", (X2, _kernel(2, 2, 5, 4)), {"strides": 3, "padding": "same", "output_padding": 2}),
    ("conv_transpose", (X2F, _kernel(3, 3, 2, 4)), {"data_format": "channels_first", "dilation_rate": 2}),
    ("conv_transpose", (X3, _kernel(2, 2, 2, 3, 4)), {"strides": 2}),
    # pools
    ("max_pool", (X1, 2), {}),
    ("max_pool", (X2, (3, 2)), {"strides": (2, 1), "padding": "same"}),
    ("max_pool", (X2F, 3), {"strides": 2, "padding": "same", "data_format": "channels_first"}),
    ("max_pool", (X3, 2), {"padding": "same"}),
    ("average_pool", (X1, 3), {"strides": 1, "padding": "same"}),
    ("average_pool", (X2, 2), {"padding": "same"}),  # asymmetric padding of windows with one real value
    ("average_pool", (X2, (2, 3)), {"strides": (1, 2)}),
    ("average_pool", (X3, 2), {}),
    ("adaptive_average_pool", (X1, 3), {}),
    ("adaptive_average_pool", (X2, (4, 4)), {}),
    ("adaptive_average_pool", (X2F, 2), {"data_format": "channels_first"}),
    ("adaptive_max_pool", (X2, (3, 5)), {}),
    ("adaptive_max_pool", (X3, 2), {}),
    # patches and blocks
    ("unfold", (torch.as_tensor(X2F), 2), {}),  # Keras' unfold and fold take tensors only
    ("unfold", (torch.as_tensor(X2F), (3, 2)), {"dilation": (1, 2), "padding": 1, "stride": 2}),
    ("fold", (torch.as_tensor(_normal(2, 16, 20)), (5, 6), 2), {}),
    ("fold", (torch.as_tensor(_normal(1, 12, 12)), 6, (3, 2)), {"stride": 2, "padding": 1}),
    ("depth_to_space", (_normal(2, 3, 2, 8), 2), {}),
    ("depth_to_space", (_normal(2, 18, 2, 3), 3), {"data_format": "channels_first"}),
    ("space_to_depth", (_normal(2, 4, 6, 3), 2), {}),
    ("space_to_depth", (_normal(2, 3, 6, 9), 3), {"data_format": "channels_first"}),
    ("extract_sequences", (_normal(2, 3, 10), 4, 2), {}),
    ("extract_sequences", (np.arange(9, dtype="int32"), 3, 3), {}),
    # linear algebra
    *[(name, (x,), {}) for name in ["cholesky", "cholesky_inverse", "det", "inv", "eigh", "logdet", "slogdet",
                                    "lu_factor", "matrix_rank", "pinv", "qr", "svd"] for x in (SPD, SPD[0])],
    *[(name, (M,), {}) for name in ["det", "eig", "inv", "slogdet", "lu_factor", "logdet"]],
    ("cholesky", (SPD,), {"upper": True}),
    ("cholesky_inverse", (LOWER,), {}),
    ("cholesky_inverse", (np.swapaxes(LOWER, -1, -2),), {"upper": True}),
    ("det", (SPD.astype("float64"),), {}),
    ("qr", (RECT,), {"mode": "complete"}),
    ("qr", (RECT.T,), {}),
    ("svd", (RECT,), {"full_matrices": False}),
    ("svd", (RECT,), {"compute_uv": False}),
    ("pinv", (RECT,), {"rcond": 0.5}),
    ("matrix_rank", (np.outer(RECT[:, 0], RECT[0]),), {}),
    ("matrix_rank", (RECT,), {"tol": 1.0}),
    ("lu_factor", (RECT,), {}),
    ("solve", (SPD, B_VEC), {}),
    ("solve", (SPD, B_MAT), {}),
    ("solve", (SPD[0], B_MAT[0]), {}),
    ("solve_triangular", (LOWER, B_VEC), {"lower": True}),
    ("solve_triangular", (np.swapaxes(LOWER, -1, -2), B_MAT), {}),
    ("lstsq", (RECT, _normal(5)), {}),
    ("lstsq", (RECT, _normal(5, 2)), {"rcond": 0.1}),
    ("norm", (M,), {"ord": "nuc", "axis": (1, 2)}),
    ("norm", (A,), {"ord": 3, "axis": -1, "keepdims": True}),
]


def _as_numpy(value):
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value.detach().cpu().numpy()


def _dtypes(value):
    if isinstance(value, (list, tuple)):
        return [_dtypes(v) for v in value]
    return str(value.dtype).removeprefix("torch.")


def _flat(value):
    return [leaf for v in value for leaf in _flat(v)] if isinstance(value, list) else [value]


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.filterwarnings("ignore:.*rms_scaling")
def test_op_matches_keras(keras, name, args, kwargs):
    expected = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    assert _dtypes(got) == _dtypes(expected)
    got, expected = _flat(_as_numpy(got)), _flat(_as_numpy(expected))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=2e-5 if e.dtype != np.float16 else 2e-3, atol=2e-5)


def test_namespaces_hold_every_keras_op(keras):
    for namespace in ("nn", "linalg"):
        missing = [name for name in dir(getattr(keras.ops, namespace))
                   if not name.startswith("_") and not hasattr(getattr(ops, namespace), name)]
        assert not missing, f"ops.{namespace} lacks {missing}"
    assert ops.nn.conv is ops.conv and ops.linalg.inv is ops.inv and ops.linalg.norm is ops.norm
    assert ops.hard_swish is ops.hard_silu and ops.logdet is ops.linalg.logdet
    assert ops.celu(torch.ones(2)).dtype == torch.float32


def test_average_pool_same_averages_real_values_only(keras):
    # Keras' torch backend pads asymmetric 'same' windows by repeating the edge (the repeats count in the
    # mean) but symmetric ones with zeros it leaves out; its JAX and TensorFlow backends, and layerwise,
    # average the real values of every window.
    x = np.arange(12, dtype="float32").reshape(1, 6, 2)
    got = ops.average_pool(x, 3, strides=2, padding="same").numpy()
    np.testing.assert_allclose(got[0, :, 0], [(0 + 2 + 4) / 3, (4 + 6 + 8) / 3, (8 + 10) / 2])
    assert keras.ops.average_pool(x, 3, strides=2, padding="same").numpy()[0, -1, 0] == pytest.approx(28 / 3)


def test_sparsemax_is_the_projection_onto_the_simplex(keras):
    # Keras 3.15's sparsemax sums the wrong cumulative sums once the support has two entries or more (its
    # rows then do not sum to 1); layerwise's is the projection, and Keras' where the support is one entry.
    x = _normal(4, 7) * 2
    z = -np.sort(-x, axis=1)
    k = (1 + np.arange(1, 8) * z > np.cumsum(z, axis=1)).sum(1, keepdims=True)
    tau = (np.take_along_axis(np.cumsum(z, axis=1), k - 1, 1) - 1) / k
    got = ops.sparsemax(x).numpy()
    np.testing.assert_allclose(got, np.maximum(x - tau, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ops.sparsemax(x.T, axis=0).numpy(), got.T, rtol=1e-6)
    peaked = np.array([[5.0, 0.0, 1.0]], "float32")
    np.testing.assert_allclose(ops.sparsemax(peaked).numpy(), keras.ops.sparsemax(peaked).numpy())


def test_normalizations_over_inner_axes_match_numpy():
    # Keras' torch backend hands any run of consecutive axes to F.layer_norm / F.rms_norm, which normalize
    # the trailing axes: an inner axis is normalized wrongly there; layerwise normalizes the axes asked for.
    x, gamma, beta = X2.astype("float64"), _normal(7).astype("float64"), _normal(7).astype("float64")
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma[:, None, None] + beta[:, None, None]
    got = ops.layer_normalization(x, gamma, beta, axis=1, epsilon=1e-3)
    assert got.dtype == torch.float64  # computed in float32, as Keras does
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)
    rms = ops.rms_normalization(x, axis=(1, 2), epsilon=1e-3)
    np.testing.assert_allclose(rms.numpy(), x / np.sqrt((x ** 2).mean((1, 2), keepdims=True) + 1e-3), rtol=1e-5)
    assert ops.layer_normalization(x.astype("int32"), axis=-1).dtype == torch.int32  # Keras returns x's dtype


def test_linalg_takes_integer_matrices_as_float32():
    ints = np.array([[2, 1], [1, 3]], "int32")
    assert ops.det(ints).dtype == torch.float32 and ops.det(ints).item() == pytest.approx(5.0)
    np.testing.assert_allclose(ops.solve(ints, np.array([1, 2])).numpy(), np.linalg.solve(ints, [1, 2]), rtol=1e-6)


# Functional models: each builds an output from x (None, 8, 8, 3) float, m (None, 3, 3) float and
# i (None, 6, 5) float scores with the library's ops.
GRAPHS = {
    "conv_stack": lambda o, x, m, i: o.hard_silu(o.max_pool(o.conv(x, np.full((3, 3, 3, 4), 0.1, "float32"),
                                                                   padding="same"), 2)),
    "normalize": lambda o, x, m, i: o.rms_normalization(o.layer_normalization(x, axis=(2, 3)), axis=-1),
    "pools": lambda o, x, m, i: o.max_pool(o.average_pool(x, 3, strides=1, padding="same"), (3, 2), padding="same"),
    "blocks": lambda o, x, m, i: o.depth_to_space(o.depthwise_conv(x, np.ones((1, 1, 3, 4), "float32")), 2),
    "attention": lambda o, x, m, i: o.dot_product_attention(o.reshape(x, (-1, 16, 4, 3)), o.reshape(x, (-1, 16, 4, 3)),
                                                            o.reshape(x, (-1, 16, 4, 3)), is_causal=True),
    "linalg": lambda o, x, m, i: o.add(o.det(o.cholesky(o.add(o.matmul(m, o.transpose(m, (0, 2, 1))), 3 * np.eye(3)))),
                                       o.sum(o.inv(o.add(m, 4.0 * np.eye(3))), axis=(1, 2))),
    "svd": lambda o, x, m, i: o.svd(m, compute_uv=False),
    "psnr": lambda o, x, m, i: o.expand_dims(o.psnr(x, o.sparse_sigmoid(x), 1.0), 0),
    "ctc_decode": lambda o, x, m, i: o.ctc_decode(i, o.full_like(i[:, 0, 0], 6, "int32"),
                                                  strategy="beam_search", beam_width=3)[1],
}


def _graph_model(lib, build):
    x, m, i = lib.Input((8, 8, 3), name="x"), lib.Input((3, 3), name="m"), lib.Input((6, 5), name="i")
    return lib.Model([x, m, i], build(lib.ops, x, m, i))


def _summary(model, capsys) -> str:
    capsys.readouterr()
    model.summary()
    return re.sub(r"[ ─━]+", " ", capsys.readouterr().out.split("\n", 1)[1])


@pytest.mark.parametrize("name", list(GRAPHS))
def test_ops_record_keras_nodes(keras, rng, tmp_path, name):
    k_model, lw_model = _graph_model(keras, GRAPHS[name]), _graph_model(layerwise, GRAPHS[name])
    k_types = [type(op).__name__ for op in k_model.operations if type(op).__name__ != "InputLayer"]
    assert k_types == [op.type_name for op in lw_model.operations if op not in lw_model.layers]
    assert lw_model.output_shape == k_model.output_shape
    data = [torch.as_tensor(rng.normal(size=shape).astype("float32")) for shape in ((2, 8, 8, 3), (2, 3, 3), (2, 6, 5))]
    expected = k_model(data).detach().numpy()
    np.testing.assert_allclose(lw_model(data).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    lw_model.save(tmp_path / f"{name}.lw")
    loaded = layerwise.models.load_model(tmp_path / f"{name}.lw")
    np.testing.assert_allclose(loaded(data).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_summary_shows_keras_class_names(keras, capsys):
    def build(lib):
        x = lib.Input((8, 8, 3), name="x")
        y = lib.ops.layer_normalization(lib.ops.conv(x, np.ones((3, 3, 3, 4), "float32"), padding="same"))
        return lib.Model(x, lib.ops.psnr(y, lib.ops.hard_tanh(y), 1.0))
    keras.utils.clear_session(free_memory=False)  # fresh node names, without a slow garbage collection
    expected = _summary(build(keras), capsys)
    clear_session(free_memory=False)
    assert _summary(build(layerwise), capsys) == expected
    assert all(name in expected for name in ("layer_norm", "(LayerNorm)", "psnr", "(PSNR)"))


def test_conv_transpose_in_a_model_matches_eager(rng, tmp_path):
    # Keras' ConvTranspose node passes its arguments to the backend out of order, so Keras cannot be the
    # oracle here: the model must compute what the eager op (checked against Keras above) computes.
    kernel = rng.normal(size=(3, 3, 5, 3)).astype("float32")
    x = layerwise.Input((6, 6, 3))
    model = layerwise.Model(x, ops.conv_transpose(x, kernel, strides=2, padding="same"))
    assert model.output_shape == (None, 12, 12, 5)
    data = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    expected = ops.conv_transpose(data, kernel, strides=2, padding="same").numpy()
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-6)
    model.save(tmp_path / "transpose.lw")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "transpose.lw").predict(data, verbose=0),
                               expected, rtol=1e-6)


def test_models_give_nan_where_eager_ops_raise_for_degenerate_matrices():
    m = layerwise.Input((2, 2))
    model = layerwise.Model(m, [ops.inv(m), ops.cholesky(m), ops.solve(m, ops.sum(m, axis=-1))])
    assert [out.shape for out in model.outputs] == [(None, 2, 2), (None, 2, 2), (None, 2)]
    singular = np.ones((1, 2, 2), "float32")
    assert all(not torch.isfinite(out).all() for out in model(singular))
    assert torch.isnan(model(-np.eye(2, dtype="float32")[None])[1]).all()
    for op in (ops.inv, ops.cholesky, ops.cholesky_inverse, ops.lu_factor):
        with pytest.raises(ValueError):
            op(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match="singular"):
        ops.solve(singular, np.ones((1, 2), "float32"))


ERRORS = [
    (ops.conv, (X2, _kernel(3, 3, 3, 2)), {}, "multiple of the kernel's input channels"),
    (ops.conv, (X2, _kernel(3, 3, 4, 2)), {"padding": "causal"}, "padding must be one of"),
    (ops.conv, (X2, _kernel(3, 4, 2)), {}, "kernel must have the rank of inputs"),
    (ops.conv, (A, _kernel(3, 4, 2)), {}, "rank 3, 4 or 5"),
    (ops.conv, (X2, _kernel(3, 3, 4, 2)), {"data_format": "NHWC"}, "data_format must be"),
    (ops.depthwise_conv, (X2, _kernel(3, 3, 3, 2)), {}, "4 input channels"),
    (ops.conv_transpose, (X2, _kernel(3, 3, 4, 2)), {}, "out_channels, in_channels"),
    (ops.max_pool, (X2, (2, 2, 2)), {}, "pool_size must be an int or a tuple of 2"),
    (ops.adaptive_max_pool, (X2, 0), {}, "positive integers"),
    (ops.unfold, (X1, 2), {}, "4-D input"),
    (ops.fold, (X2, 4, 2), {}, "3-D input"),
    (ops.depth_to_space, (X2, 1), {}, "at least 2"),
    (ops.depth_to_space, (_normal(1, 2, 2, 6), 2), {}, "divisible by block_size"),
    (ops.space_to_depth, (_normal(1, 3, 4, 1), 2), {}, "divisible by block_size=2"),
    (ops.glu, (_normal(2, 3),), {}, "must be even"),
    (ops.multi_hot, (LABELS,), {}, "num_classes must be given"),
    (ops.in_top_k, (np.array([0, 1]), SCORES, 1), {}, r"targets \(batch,\)"),
    (ops.psnr, (A, A[:2], 1.0), {}, "same shape"),
    (ops.batch_normalization, (X2, np.zeros(3), np.ones(4), -1), {}, r"mean must have shape \(4,\)"),
    (ops.dot_product_attention, (Q, K, V), {"bias": 0.0, "mask": MASK}, "bias or mask, not both"),
    (ops.dot_product_attention, (Q, K, V), {"attn_logits_soft_cap": 20.0}, "attn_logits_soft_cap"),
    (ops.dot_product_attention, (Q[0], K, V), {}, "4-D"),
    (ops.dot_product_attention, (Q, _normal(2, 6, 3, 8), _normal(2, 6, 3, 8)), {}, "multiple of the key/value"),
    (ops.ctc_loss, (TARGETS, LOGITS[:2], np.ones(3), np.ones(2)), {}, r"target \(batch, max_label_length\)"),
    (ops.ctc_loss, (TARGETS, LOGITS, np.ones(2), np.ones(3)), {}, "target_length and output_length"),
    (ops.ctc_decode, (LOGITS, np.ones(3)), {"strategy": "best"}, "strategy must be"),
    (ops.ctc_decode, (LOGITS, np.ones(2)), {}, r"sequence_lengths must be \(batch,\)"),
    (ops.det, (RECT,), {}, "square matrices"),
    (ops.inv, (np.ones(3),), {}, "rank >= 2"),
    (ops.cholesky, (-SPD,), {}, "not positive-definite"),
    (ops.qr, (RECT,), {"mode": "r"}, "mode must be 'reduced' or 'complete'"),
    (ops.solve, (SPD, np.ones((2, 3, 1))), {}, "b must have the 4 rows of a"),
    (ops.lstsq, (RECT, np.ones(4)), {}, r"a \(m, n\) and b \(m,\)"),
]


@pytest.mark.parametrize("op, args, kwargs, message", ERRORS,
                         ids=[f"{e[0].__name__}-{i}" for i, e in enumerate(ERRORS)])
def test_bad_arguments_raise_clear_errors(op, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        op(*args, **kwargs)
