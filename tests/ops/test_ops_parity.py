"""Every ``layerwise.ops`` function eagerly against ``keras.ops`` (torch backend): same inputs, the same
values (to 1e-6) and the same dtypes; plus the errors for bad axes and shapes that do not broadcast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise import ops

_rng = np.random.default_rng(0)
A = _rng.normal(size=(3, 4)).astype("float32")
B = _rng.normal(size=(3, 4)).astype("float32")
P = _rng.uniform(0.05, 0.95, size=(3, 4)).astype("float32")
T = (_rng.uniform(size=(3, 4)) > 0.5).astype("float32")
C = _rng.normal(size=(2, 3, 4)).astype("float32")
I = np.array([[1, -2, 3], [0, 4, -1]], dtype="int32")  # noqa: E741
L = np.array([0, 3, 1], dtype="int32")
ONE_HOT = np.eye(4, dtype="float32")[L]
MASK = A > 0

CASES = [
    # element-wise
    *[(name, (A,), {}) for name in ["abs", "absolute", "negative", "square", "exp", "sin", "cos", "tanh", "sign",
                                    "floor", "ceil", "round", "isnan", "isfinite", "relu", "relu6", "sigmoid",
                                    "softplus", "silu", "selu", "gelu", "elu", "leaky_relu", "softmax",
                                    "log_softmax", "normalize"]],
    *[(name, (P,), {}) for name in ["sqrt", "log", "log1p", "expm1"]],
    *[(name, (I,), {}) for name in ["abs", "negative", "square", "sqrt", "exp", "sign", "floor", "round"]],
    ("round", (A * 100,), {"decimals": 1}),
    ("gelu", (A,), {"approximate": False}),
    ("elu", (A,), {"alpha": 0.5}),
    ("leaky_relu", (A,), {"negative_slope": 0.1}),
    ("softmax", (C,), {"axis": 1}),
    ("log_softmax", (C,), {"axis": 0}),
    ("normalize", (C,), {"axis": 1, "order": 1}),
    ("normalize", (A,), {"epsilon": 10.0}),
    ("logical_not", (MASK,), {}),
    *[(name, (A, B), {}) for name in ["add", "subtract", "multiply", "divide", "true_divide", "maximum",
                                      "minimum", "equal", "not_equal", "greater", "greater_equal", "less",
                                      "less_equal"]],
    *[(name, (A, 2.0), {}) for name in ["add", "multiply", "maximum", "greater", "power"]],
    *[(name, (I, 2), {}) for name in ["add", "multiply", "divide", "power", "minimum"]],
    ("add", (I, 2.5), {}),
    ("add", (A, C), {}),
    ("power", (P, B), {}),
    ("logical_and", (MASK, A < 0.5), {}),
    ("logical_or", (MASK, A < -0.5), {}),
    ("clip", (A, -0.5, 0.5), {}),
    ("clip", (I, 0, 2), {}),
    ("clip", (I, 0.0, 2.0), {}),
    # reductions
    *[(name, (C,), kw) for name in ["sum", "mean", "max", "min", "prod", "std", "var"]
      for kw in [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1, "keepdims": True}]],
    *[(name, (I,), {"axis": 0}) for name in ["sum", "mean", "max", "prod", "std"]],
    ("sum", (MASK,), {}),
    ("max", (A,), {"initial": 1.5}),
    ("min", (A,), {"axis": 0, "initial": -0.1}),
    ("prod", (I,), {"dtype": "float32"}),
    *[(name, (C,), kw) for name in ["argmax", "argmin"] for kw in [{}, {"axis": 1}, {"axis": -1, "keepdims": True}]],
    ("cumsum", (C,), {}),
    ("cumsum", (C,), {"axis": 1}),
    ("cumsum", (I,), {"axis": 1}),
    ("cumsum", (MASK,), {"axis": 0}),
    ("norm", (C,), {}),
    ("norm", (C,), {"axis": -1}),
    ("norm", (C,), {"axis": (1, 2), "keepdims": True}),
    ("norm", (A,), {"ord": 1, "axis": 0}),
    ("norm", (A,), {"ord": "fro"}),
    # products
    ("matmul", (A, B.T), {}),
    ("matmul", (C, B.T), {}),
    ("matmul", (I, I.T), {}),
    ("dot", (A, B.T), {}),
    ("dot", (A, 3.0), {}),
    ("einsum", ("bij,kj->bik", C, A), {}),
    ("tensordot", (C, A), {"axes": [[1, 2], [0, 1]]}),
    ("tensordot", (A, B.T), {"axes": 1}),
    # shapes
    ("transpose", (C,), {}),
    ("transpose", (C,), {"axes": (1, 0, 2)}),
    ("reshape", (C,), {"newshape": (4, -1)}),
    ("reshape", (A,), {"newshape": 12}),
    ("expand_dims", (A,), {"axis": -1}),
    ("expand_dims", (A,), {"axis": (0, 2)}),
    ("squeeze", (A[:, None],), {}),
    ("squeeze", (A[None, :, None],), {"axis": 2}),
    ("concatenate", ([A, B],), {"axis": -1}),
    ("concatenate", ([A, B],), {}),
    ("stack", ([A, B],), {"axis": 1}),
    ("split", (C, 2), {"axis": 2}),
    ("split", (C, [1, 3]), {"axis": -1}),
    ("tile", (A, (2, 1)), {}),
    ("tile", (A, 2), {}),
    ("repeat", (A, 2), {"axis": 1}),
    ("repeat", (A, 2), {}),
    ("flip", (C,), {}),
    ("flip", (C,), {"axis": 1}),
    ("moveaxis", (C, 0, -1), {}),
    ("swapaxes", (C, 0, 2), {}),
    ("broadcast_to", (A[:, :1], (3, 4)), {}),
    ("pad", (A, ((1, 2), (0, 1))), {}),
    ("pad", (C, ((0, 0), (1, 1), (2, 0))), {"constant_values": 1.5}),
    ("pad", (A, ((1, 1), (2, 2))), {"mode": "reflect"}),
    ("pad", (C, ((0, 0), (0, 0), (1, 2))), {"mode": "reflect"}),
    # indexing, sorting, selection
    ("where", (MASK, A, B), {}),
    ("where", (MASK, A, 0.0), {}),
    ("take", (A, [0, 2]), {"axis": 1}),
    ("take", (A, np.array([[0, -1]])), {"axis": 0}),
    ("take", (A, [5, 1]), {}),
    ("take_along_axis", (A, np.argsort(A, axis=1)), {"axis": 1}),
    ("take_along_axis", (C, np.zeros((2, 1, 4), "int64")), {"axis": 1}),
    ("sort", (C,), {}),
    ("sort", (C,), {"axis": 0}),
    ("sort", (C,), {"axis": None}),
    ("argsort", (C,), {}),
    ("argsort", (C,), {"axis": 1}),
    ("top_k", (A, 2), {}),
    ("one_hot", (L, 4), {}),
    ("one_hot", (I, 5), {"axis": 1}),
    ("one_hot", (I, 5), {"dtype": "int32"}),
    # creation
    ("zeros", ((2, 3),), {}),
    ("ones", (4,), {"dtype": "int32"}),
    ("zeros_like", (I,), {}),
    ("ones_like", (A,), {"dtype": "float64"}),
    ("full", ((2, 3), 7.0), {}),
    ("full_like", (A, 2), {}),
    ("full_like", (I, 1.5), {"dtype": "float32"}),
    ("arange", (5,), {}),
    ("arange", (1, 7, 2), {}),
    ("arange", (0.0, 1.0, 0.25), {}),
    ("linspace", (0, 1, 5), {}),
    ("linspace", (-2.0, 3.0, 7), {"endpoint": False}),
    ("linspace", (np.zeros(2, "float32"), np.ones(2, "float32"), 4), {}),
    ("eye", (3,), {}),
    ("eye", (3, 4), {"k": 1}),
    ("eye", (4, 3), {"k": -1, "dtype": "int32"}),
    # casts, conversion, core
    ("cast", (A, "int32"), {}),
    ("cast", (I, "float16"), {}),
    ("convert_to_tensor", (2.5,), {}),
    ("convert_to_tensor", (3,), {}),
    ("convert_to_tensor", ([1, 2],), {}),
    ("convert_to_tensor", ([[1.0, 2]],), {}),
    ("convert_to_tensor", (A.astype("float64"),), {}),
    ("convert_to_tensor", (A,), {"dtype": "float16"}),
    # lists of numpy arrays and scalars: their dtypes promoted, Python numbers weak, 64-bit as 32-bit
    ("convert_to_tensor", ([np.array([1, 2], "uint8"), np.array([3, 4], "uint8")],), {}),
    ("convert_to_tensor", ([[np.uint8(1), 2], [3, True]],), {}),
    ("convert_to_tensor", ([np.uint8(1), 2.5],), {}),
    ("convert_to_tensor", ([np.int8(1), np.uint8(2)],), {}),
    ("convert_to_tensor", ([np.float16(1), 2.5],), {}),
    ("convert_to_tensor", ([np.array([1.5]), np.array([2])],), {}),
    ("convert_to_tensor", ([np.bool_(True), False],), {}),
    ("stop_gradient", (torch.as_tensor(A),), {}),
    ("slice", (C, (0, 1, 1), (2, 2, 3)), {}),
    ("scatter", (np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], "float32"), (3, 4)), {}),
    ("scatter", (np.array([[1], [0]]), np.ones((2, 4), "float32"), (3, 4)), {}),
    # nn losses and statistics
    ("binary_crossentropy", (T, P), {}),
    ("binary_crossentropy", (T, A), {"from_logits": True}),
    ("categorical_crossentropy", (ONE_HOT, P[:, :4]), {}),
    ("categorical_crossentropy", (ONE_HOT, A), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (L, P), {}),
    ("sparse_categorical_crossentropy", (L[:, None], A), {"from_logits": True}),
    ("moments", (C, [0, 1]), {}),
    ("moments", (C, [2]), {"keepdims": True}),
]


def _as_numpy(value):
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _dtypes(value):
    if isinstance(value, (list, tuple)):
        return [_dtypes(v) for v in value]
    return str(value.dtype).removeprefix("torch.")


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_keras(keras, name, args, kwargs):
    expected = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    assert isinstance(got, (torch.Tensor, list, tuple))
    assert _dtypes(got) == _dtypes(expected)
    got, expected = _as_numpy(got), _as_numpy(expected)
    pairs = list(zip(got, expected)) if isinstance(expected, list) else [(got, expected)]
    assert len(pairs) == (len(got) if isinstance(got, list) else 1)
    for g, e in pairs:
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_every_listed_op_resolves():
    import layerwise
    for name in {case[0] for case in CASES} | {"cond", "convert_to_numpy", "shape", "swish", "abs"}:
        assert callable(getattr(ops, name)) and callable(getattr(layerwise.ops, name))
    assert ops.nn.one_hot is ops.one_hot and ops.numpy.mean is ops.mean


def test_python_floats_are_float32_and_results_stay_on_the_input_device():
    out = ops.add(torch.ones(2, dtype=torch.float64), 1.5)
    assert out.dtype == torch.float64
    assert ops.multiply(2.0, 3.0).dtype == torch.float32
    x = torch.ones(3)
    assert ops.where(x > 0, x, 0.0).device == x.device


def test_core_helpers(keras):
    np.testing.assert_array_equal(ops.convert_to_numpy(torch.arange(3)), np.arange(3))
    assert ops.shape(A) == (3, 4)
    assert ops.cond(True, lambda: 1, lambda: 2) == 1
    assert ops.cond(torch.tensor(False), lambda: 1, lambda: 2) == 2
    x = torch.ones(3, requires_grad=True)
    assert not ops.stop_gradient(x * 2).requires_grad
    values, step = ops.linspace(0.0, 1.0, 5, retstep=True)
    k_values, k_step = keras.ops.linspace(0.0, 1.0, 5, retstep=True)
    np.testing.assert_allclose(values.numpy(), k_values.numpy(), atol=1e-7)
    assert float(step) == pytest.approx(float(k_step))
    top = ops.top_k(A, 1)
    assert torch.equal(top.indices.squeeze(-1).int(), ops.argmax(A, axis=-1))


@pytest.mark.parametrize("call, message", [
    (lambda: ops.sum(A, axis=2), r"ops\.sum .*\(3, 4\)"),
    (lambda: ops.mean(C, axis=(0, 5)), r"ops\.mean .*\(2, 3, 4\)"),
    (lambda: ops.argmax(A, axis=-3), r"ops\.argmax .*\(3, 4\)"),
    (lambda: ops.softmax(A, axis=3), r"ops\.softmax"),
    (lambda: ops.add(A, np.ones((2, 4))), r"ops\.add .*\(3, 4\), \(2, 4\)"),
    (lambda: ops.maximum(A, C[:, :2]), r"ops\.maximum .*\(3, 4\), \(2, 2, 4\)"),
    (lambda: ops.matmul(A, B), r"ops\.matmul .*\(3, 4\), \(3, 4\)"),
    (lambda: ops.concatenate([A, C], axis=0), r"ops\.concatenate"),
    (lambda: ops.reshape(A, (5, -1)), r"ops\.reshape .*\(3, 4\)"),
    (lambda: ops.expand_dims(A, 4), r"ops\.expand_dims: axis 4 .*\(3, 4\)"),
    (lambda: ops.squeeze(A, axis=0), r"ops\.squeeze: axis 0 .*\(3, 4\)"),
    (lambda: ops.split(A, 3, axis=1), r"ops\.split: .*\(3, 4\).*3 equal sections"),
    (lambda: ops.binary_crossentropy(T, P[:, :2]), r"target\.shape=\(3, 4\), output\.shape=\(3, 2\)"),
    (lambda: ops.categorical_crossentropy(ONE_HOT, P[:, :2]), r"same shape"),
    (lambda: ops.sparse_categorical_crossentropy(L[:2], P), r"target\.shape=\(2,\)"),
    (lambda: ops.one_hot(L, 2), r"ops\.one_hot"),
    (lambda: ops.normalize(A, order=0), r"order must be an int >= 1"),
    (lambda: ops.pad(A, 1, mode="median"), r"unknown mode 'median'"),
    (lambda: ops.max(np.zeros((0, 2))), r"needs an `initial`"),
    (lambda: ops.cast(A, "floaty"), r"Unknown dtype 'floaty'"),
    (lambda: ops.convert_to_tensor([np.uint8(1), 300]), r"convert_to_tensor: values from 1 to 300 do not fit uint8"),
    (lambda: ops.slice(A, (0,), (1, 1)), r"one entry per axis"),
])
def test_bad_input_names_the_op_and_the_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reversed_numpy_views_are_taken_as_keras_takes_them(keras):
    """A view with negative strides (``x[::-1]``), which torch.as_tensor refuses on its own."""
    x = np.arange(6, dtype="float32").reshape(2, 3)[:, ::-1]
    np.testing.assert_array_equal(ops.add(x, 1.0).numpy(), keras.ops.convert_to_numpy(keras.ops.add(x, 1.0)))
    np.testing.assert_array_equal(ops.sum(x[::-1], axis=0).numpy(), x.sum(axis=0))


def test_every_keras_op_is_here_under_the_same_namespace(keras):
    """keras.ops and its families (numpy, nn, linalg, image): every public name exists in layerwise.ops."""
    for k_module, ours in ((keras.ops, ops), (keras.ops.numpy, ops.numpy), (keras.ops.nn, ops.nn),
                           (keras.ops.linalg, ops.linalg), (keras.ops.image, ops.image)):
        missing = [name for name in dir(k_module) if not name.startswith("_") and not hasattr(ours, name)]
        assert missing == [], k_module.__name__
