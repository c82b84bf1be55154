"""The reductions, statistics, creation, matrix, product and shape ops (``ops/reductions.py``,
``ops/matrices.py``, ``ops/shaping.py``) against ``keras.ops`` (torch backend): the same values and dtypes;
against NumPy where Keras' torch backend departs from its own documented (NumPy) semantics; inside
functional models (summary, predict, save/load); and the errors for bad input."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import layerwise
from layerwise import ops

# The oracle's own deprecation warnings (Keras' torch backend calls x.T on 0-D/3-D tensors, cross without dim).
pytestmark = [pytest.mark.filterwarnings("ignore:.*Tensor.T is deprecated:UserWarning"),
              pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning"),
              pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim:UserWarning")]

_rng = np.random.default_rng(3)
A = _rng.normal(size=(3, 4)).astype("float32")
B = _rng.normal(size=(3, 4)).astype("float32")
C = _rng.normal(size=(2, 3, 4)).astype("float32")
AN = A.copy()
AN[0, 1] = AN[2, 3] = np.nan
AN[1] = np.nan  # a row of NaNs only
I = np.array([[1, -2, 3, 0], [0, 4, -1, 4], [2, 2, 0, -3]], dtype="int32")  # noqa: E741
I3 = _rng.integers(-5, 5, size=(2, 3, 4)).astype("int32")
MASK = A > 0
V = np.array([0.5, -1.0, 2.0, 3.5, 0.0], "float32")
W = np.array([1.0, 0.5, -2.0], "float32")
SEQ = np.array([-1.0, 0.0, 0.5, 2.0, 3.0], "float32")
V3 = _rng.normal(size=(4, 3)).astype("float32")

CASES = [
    # logical and extreme values
    *[(name, (x,), kw) for name in ["all", "any"] for x in (MASK, I, A)
      for kw in [{}, {"axis": 0}, {"axis": (0, 1), "keepdims": True}, {"axis": -1, "keepdims": True}]],
    *[(name, (x,), kw) for name in ["amax", "amin", "ptp"] for x in (C, I3)
      for kw in [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1, "keepdims": True}]],
    ("allclose", (A, A + 1e-7), {}),
    ("allclose", (A, B), {}),
    ("allclose", (AN, AN), {"equal_nan": True}),
    ("allclose", (AN, AN), {}),
    ("allclose", (I, I), {}),
    ("allclose", (A, A + 0.05), {"atol": 0.1}),
    ("count_nonzero", (I,), {}),
    ("count_nonzero", (I,), {"axis": 0}),
    ("count_nonzero", (MASK,), {"axis": 1}),
    ("count_nonzero", (C > 0,), {"axis": (0, 1, 2)}),
    # means, sums, statistics
    ("average", (A,), {}),
    ("average", (A.astype("float64"),), {"axis": 0}),
    ("average", (I,), {"axis": 1}),
    ("average", (C,), {"axis": (0, 2)}),
    ("average", (A,), {"axis": 1, "weights": np.array([1, 2, 3, 4], "int32")}),
    ("average", (A,), {"axis": -1, "weights": np.abs(B) + 0.1}),
    ("average", (V,), {"weights": np.arange(1.0, 6.0, dtype="float32")}),
    ("logsumexp", (A,), {}),
    ("logsumexp", (C,), {"axis": (0, 2), "keepdims": True}),
    ("logsumexp", (I,), {"axis": 1}),
    *[(name, (x,), kw) for name in ["nansum", "nanmean", "nanvar", "nanstd", "nanprod", "nanmax", "nanmin"]
      for x in (AN, I) for kw in [{}, {"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": (0, 1)}]],
    ("nansum", (MASK,), {"axis": 0}),
    ("nansum", (I.astype("int8"),), {}),
    ("nanprod", (MASK,), {}),
    ("nanmax", (MASK,), {"axis": 1}),
    *[(name, (x,), kw) for name in ["nanargmax", "nanargmin"] for x in (AN, I, C)
      for kw in [{}, {"axis": 0}, {"axis": 1, "keepdims": True}]],
    # quantiles
    *[(name, (x, q), kw) for name, q in [("quantile", 0.3), ("percentile", 30.0), ("quantile", [0.1, 0.5, 0.9]),
                                        ("percentile", np.array([25.0, 75.0], "float32"))] for x in (C, I3)
      for kw in [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1, "keepdims": True}]],
    *[("quantile", (A, 0.4), {"axis": 1, "method": m}) for m in ["lower", "higher", "midpoint", "nearest"]],
    *[(name, (x,), kw) for name in ["median"] for x in (C, I3, A)
      for kw in [{}, {"axis": 1}, {"axis": (0, 1), "keepdims": True}]],
    *[(name, (AN, q), kw) for name, q in [("nanquantile", 0.3), ("nanpercentile", [10.0, 90.0])]
      for kw in [{"axis": 1}, {"axis": 0, "keepdims": True}]],
    ("nanquantile", (np.where(MASK, np.nan, A), 0.5), {}),
    ("quantile", (A.astype("float16"), [0.2, 0.7]), {"axis": 0}),
    ("median", (A.astype("float64"),), {"axis": 1}),
    ("nanmedian", (AN,), {"axis": 1}),
    ("nanmedian", (np.where(MASK, np.nan, A),), {}),
    # running products, sums
    ("cumprod", (A,), {}),
    ("cumprod", (C,), {"axis": 1}),
    ("cumprod", (I,), {"axis": 0}),
    ("cumprod", (MASK,), {"axis": 1}),
    ("cumprod", (I.astype("int8"),), {"axis": 1}),
    ("cumprod", (I,), {"axis": 1, "dtype": "float32"}),
    ("cumprod", (I.astype("int64"),), {"axis": 1}),
    ("cumprod", (A.astype("float64"),), {"axis": 0}),
    ("cumprod", (A.astype("float16"),), {"axis": 1}),
    ("nancumsum", (AN,), {"axis": 1}),
    ("nancumsum", (AN,), {}),
    ("nancumsum", (I,), {"axis": 0}),
    ("nancumsum", (I.astype("int64"),), {"axis": 0}),
    ("nancumprod", (AN,), {"axis": 0}),
    ("nancumprod", (I,), {}),
    # correlation, binning
    ("corrcoef", (A,), {}),
    ("corrcoef", (I,), {}),
    ("corrcoef", (MASK.T[:2],), {}),
    *[("correlate", (x1, x2), {"mode": m}) for m in ["valid", "same", "full"]
      for x1, x2 in [(V, W), (np.arange(7, dtype="int32"), np.array([1, 2, 0], "int32"))]],
    ("correlate", (W, V), {"mode": "valid"}),
    ("correlate", (W, V), {"mode": "full"}),
    ("correlate", (V.astype("float64"), np.arange(4)), {"mode": "full"}),
    ("histogram", (V,), {}),
    ("histogram", (A.ravel(),), {"bins": 4}),
    ("histogram", (A.ravel(),), {"bins": 5, "range": (-1.0, 1.0)}),
    ("histogram", (np.array([2.0, 2.0, 2.0], "float32"),), {"bins": 3}),
    ("bincount", (np.array([0, 1, 1, 3, 1]),), {}),
    ("bincount", (np.array([0, 1, 3]),), {"weights": np.array([0.5, 1.0, 2.0])}),
    ("bincount", (np.array([0, 1, 1, 3], "int32"),), {"minlength": 6}),
    ("bincount", (np.array([0, 1, 1, 3], "int32"),), {"weights": np.array([0.5, 1.0, 2.0, -1.0], "float32")}),
    ("bincount", (np.array([0, 1, 1, 3], "int32"),), {"weights": np.array([1, 2, 3, 4], "int32")}),
    ("bincount", (np.array([[0, 1, 2], [2, 2, 0]], "int32"),), {}),
    ("bincount", (np.array([[0, 1, 1], [2, 2, 0]], "int32"),), {"weights": np.ones((2, 3), "float32"),
                                                                 "minlength": 4}),
    ("digitize", (V, np.array([-1.0, 0.0, 1.0, 3.0], "float32")), {}),
    ("digitize", (I, np.array([-1, 0, 2], "int32")), {}),
    ("digitize", (MASK, np.array([0.5], "float32")), {}),
    ("searchsorted", (SEQ, V), {}),
    ("searchsorted", (SEQ, V), {"side": "right"}),
    ("searchsorted", (SEQ, A), {}),
    ("searchsorted", (np.array([0, 2, 4], "int32"), np.array([[1, 2], [5, -1]], "int32")), {"side": "right"}),
    ("trapezoid", (A,), {}),
    ("trapezoid", (C,), {"axis": 1, "dx": 0.5}),
    ("trapezoid", (A,), {"x": np.array([0.0, 0.5, 2.0, 2.5], "float32")}),
    ("trapezoid", (I,), {}),
    ("trapezoid", (MASK,), {"axis": 0}),
    # creation
    ("array", ([1, 2, 3],), {}),
    ("array", ([[1.0, 2.0]],), {}),
    ("array", (I,), {"dtype": "float32"}),
    ("copy", (A,), {}),
    ("copy", (I,), {}),
    ("identity", (3,), {}),
    ("identity", (4,), {"dtype": "int32"}),
    ("tri", (3,), {}),
    ("tri", (3, 5, 1), {}),
    ("tri", (4, 2), {"k": -1, "dtype": "int32"}),
    ("meshgrid", (np.arange(3, dtype="float32"), np.arange(4, dtype="float32")), {}),
    ("meshgrid", (np.arange(3), np.arange(4), np.arange(2)), {"indexing": "ij"}),
    ("meshgrid", (np.arange(3), np.arange(4), np.arange(2)), {}),
    ("geomspace", (1, 1000, 4), {}),
    ("geomspace", (-2.0, -50.0, 6), {"endpoint": False}),
    ("geomspace", (0.5, 8.0, 5), {"dtype": "float64"}),
    ("geomspace", (np.array([1.0, 2.0], "float32"), np.array([100.0, 32.0], "float32"), 3), {}),
    ("logspace", (0, 3, 4), {}),
    ("logspace", (0.0, 2.0, 5), {"base": 2, "endpoint": False}),
    ("logspace", (0, 3, 4), {"dtype": "int32"}),
    ("logspace", (np.array([0.0, 1.0]), np.array([2.0, 3.0]), 4), {}),
    ("vander", (np.array([1, 2, 3], "int32"),), {}),
    ("vander", (V,), {"N": 3, "increasing": True}),
    ("vander", (np.array([1, 2, 3]),), {"N": 4}),
    *[(name, (n,), {}) for name in ["bartlett", "blackman", "hamming", "hanning"] for n in (1, 6, 7)],
    ("kaiser", (8, 5.0), {}),
    ("kaiser", (5, 0.0), {}),
    # diagonals and triangles
    ("diag", (A,), {}),
    ("diag", (A,), {"k": 1}),
    ("diag", (V,), {"k": -2}),
    ("diagflat", (A[:2, :2],), {}),
    ("diagflat", (V,), {"k": 1}),
    ("diagonal", (A,), {}),
    ("diagonal", (C,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("diagonal", (C,), {"offset": -1, "axis1": -1, "axis2": 0}),
    ("trace", (A,), {}),
    ("trace", (C,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("trace", (I,), {"offset": -1}),
    ("trace", (I.astype("int8"),), {}),
    ("trace", (MASK,), {}),
    ("tril", (A,), {}),
    ("tril", (C,), {"k": 1}),
    ("triu", (A,), {"k": -1}),
    ("triu", (I,), {}),
    # products
    ("kron", (A[:2, :2], B[:2]), {}),
    ("kron", (I[:2, :2], A[:2, :3]), {}),
    ("inner", (A, B), {}),
    ("inner", (C, A), {}),
    ("inner", (I, I), {}),
    ("inner", (V, 2.0), {}),
    ("outer", (V, W), {}),
    ("outer", (I[:2], A[0]), {}),
    ("vdot", (V, V), {}),
    ("vdot", (np.arange(3), np.arange(3)), {}),
    ("inner", (np.arange(3), np.arange(3.0)), {}),
    ("outer", (np.arange(3), np.arange(2)), {}),
    ("cross", (V3, V3[::-1].copy()), {}),
    ("cross", (V3, np.broadcast_to(V3[0], V3.shape).copy()), {}),
    ("cross", (np.array([1, 2, 3]), np.array([4, 5, 6])), {}),
    ("cross", (V3.astype("float64"), V3), {"axis": 1}),
    ("cdist", (A, B[:2]), {}),
    ("cdist", (C, C[0]), {}),
    ("cdist", (I, I), {}),
    ("cdist", (A.astype("float64"), B), {}),
    # shapes, joining, splitting
    ("ravel", (C,), {}),
    ("size", (C,), {}),
    ("view", (A, "int32"), {}),
    ("view", (A, "int16"), {}),
    ("view", (I, "float32"), {}),
    ("unstack", (torch.as_tensor(C),), {}),
    ("unstack", (torch.as_tensor(C),), {"axis": -1, "num": 4}),
    ("append", (A, B), {}),
    ("append", (A, B), {"axis": 0}),
    ("append", (I, A), {"axis": 1}),
    ("roll", (C, 1), {}),
    ("roll", (C, -2), {"axis": 2}),
    ("roll", (C, (1, 2)), {"axis": (0, 1)}),
    ("rot90", (A,), {}),
    ("rot90", (C,), {"k": 3, "axes": (1, 2)}),
    ("rot90", (C,), {"k": -1, "axes": (2, 0)}),
    ("fliplr", (A,), {}),
    ("flipud", (C,), {}),
    ("hstack", ([A, B],), {}),
    ("hstack", ([V, W],), {}),
    ("vstack", ([A, B[:1]],), {}),
    ("vstack", ([A[0], B[0]],), {}),
    ("dstack", ([A, B],), {}),
    ("dstack", ([C, C],), {}),
    ("hsplit", (A, 2), {}),
    ("hsplit", (A, [1, 3]), {}),
    ("vsplit", (A, 3), {}),
    ("vsplit", (C, [1]), {}),
    ("dsplit", (C, 2), {}),
    ("dsplit", (C, np.array([1, 2])), {}),
    ("array_split", (V, 3), {}),
    ("array_split", (C, 2), {"axis": 2}),
    ("array_split", (A, 4), {"axis": 0}),
    ("diff", (A,), {}),
    ("diff", (C,), {"n": 2, "axis": 1}),
    ("diff", (I,), {"axis": 0}),
    # selecting and finding
    ("select", ([A > 0.5, A < -0.5], [A, -A]), {}),
    ("select", ([I > 0, I < 0], [I, -I]), {}),
    ("select", ([MASK], [I]), {"default": 2.5}),
    ("unravel_index", (np.array([1, 5, 11], "int32"), (3, 4)), {}),
    ("unravel_index", (np.array([[0, 23]], "int32"), (2, 3, 4)), {}),
    ("unravel_index", (np.array([7]), (2, 4)), {}),
    ("isin", (I, np.array([1, 4], "int32")), {}),
    ("isin", (I, np.array([1.0, 4.0], "float32")), {"invert": True}),
    ("isin", (MASK, np.array([True])), {}),
    ("isin", (A, A[0]), {}),
    ("unique", (np.array([3, 1, 1, 2, 3], "int32"),), {}),
    ("unique", (I,), {"axis": 1, "return_inverse": True, "return_counts": True}),
    ("unique", (I,), {"axis": 0, "return_index": True}),
    ("unique", (np.array([3, 1, 1, 2], "int32"),), {"return_index": True, "return_counts": True, "size": 5}),
    ("unique", (np.array([3, 1, 1, 2], "int32"),), {"return_counts": True, "size": 2}),
    ("unique", (np.array([3.0, 1.0, 1.0], "float32"),), {"size": 4, "fill_value": -1.0}),
    ("unique", (A.round(),), {"return_inverse": True, "return_counts": True}),
    ("get_item", (C, (slice(None), 1)), {}),
    ("get_item", (A, (None, Ellipsis, slice(1, None, 2))), {}),
    ("get_item", (A, np.array([2, 0])), {}),
    ("get_item", (A, MASK), {}),
    ("rearrange", (C, "b h w -> b w h"), {}),
    ("rearrange", (C, "b h w -> (b h) w"), {}),
    ("rearrange", (C, "b h (w1 w) -> (b w1) h w"), {"w1": 2}),
    ("rearrange", (C.reshape(2, 6, 2), "b (h h1) w -> b h (w h1)"), {"h1": 3}),
]


def _as_numpy(value):
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _dtypes(value):
    if isinstance(value, (list, tuple)):
        return [_dtypes(v) for v in value]
    return str(value.dtype).removeprefix("torch.")


def _assert_same(got, expected, rtol=1e-5, atol=1e-6):
    got, expected = _as_numpy(got), _as_numpy(expected)
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_same(g, e, rtol, atol)
        return
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_keras(keras, name, args, kwargs):
    expected = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    assert isinstance(got, (torch.Tensor, list, tuple))
    assert _dtypes(got) == _dtypes(expected)
    _assert_same(got, expected)


# Where Keras' torch backend errs or departs from NumPy (and from its own output shapes), the NumPy result.
NUMPY_CASES = [
    ("amax", (C,), {"keepdims": True}, np.amax),
    ("ptp", (I,), {"keepdims": True}, np.ptp),
    ("count_nonzero", (C > 0,), {"axis": 0}, np.count_nonzero),
    ("average", (A,), {"axis": 0, "weights": np.array([1.0, 2.0, 3.0], "float32")}, np.average),
    ("average", (A,), {"axis": 0, "weights": np.abs(B)}, np.average),
    ("nancumsum", (np.array([1.0, np.inf, np.nan, 2.0], "float32"),), {}, np.nancumsum),
    ("correlate", (V, V), {}, np.correlate),
    ("correlate", (W, V), {"mode": "same"}, np.correlate),
    ("vdot", (A, B), {}, np.vdot),
    ("histogram", (np.array([0, 1, 1, 5, 3]),), {"bins": 5}, np.histogram),
    ("meshgrid", (np.arange(3, dtype="int32"), np.linspace(0, 1, 4).astype("float32")), {}, np.meshgrid),
    ("geomspace", (np.array([1.0, -2.0], "float32"), np.array([100.0, -32.0], "float32"), 3), {"axis": 1},
     np.geomspace),
    ("geomspace", (5.0, 7.0, 1), {}, np.geomspace),
    ("logspace", (np.array([0.0, 1.0], "float32"), np.array([2.0, 3.0], "float32"), 4), {"axis": 1, "base": 2.0},
     np.logspace),
    ("cross", (V3.T, V3[::-1].copy()), {"axisa": 0}, np.cross),
    ("cross", (V3, V3[0]), {}, np.cross),
    ("bincount", (np.array([[0, 1, 1], [2, 2, 0]], "int32"),), {},
     lambda x: np.stack([np.bincount(row, minlength=3) for row in x])),
    ("nonzero", (I,), {}, np.nonzero),
    ("cross", (V3.T, V3.T), {"axis": 0}, np.cross),
    ("unique", (I,), {"return_index": True, "return_inverse": True, "return_counts": True}, np.unique),
    ("nonzero", (C > 1,), {}, np.nonzero),
]


@pytest.mark.parametrize("name, args, kwargs, reference", NUMPY_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(NUMPY_CASES)])
def test_op_follows_numpy_where_keras_torch_departs(name, args, kwargs, reference):
    _assert_same(getattr(ops, name)(*args, **kwargs), reference(*args, **kwargs))


def test_nan_edge_values():
    x = np.array([[np.nan, np.nan], [np.inf, -1.0]], "float32")
    np.testing.assert_array_equal(ops.nanmax(x, axis=1).numpy(), [np.nan, np.inf])
    np.testing.assert_array_equal(ops.nanmin(x, axis=1).numpy(), [np.nan, -1.0])
    np.testing.assert_array_equal(ops.nanargmax(x, axis=1).numpy(), [-1, 0])
    assert ops.nanargmax(np.full(3, np.nan, "float32")).item() == -1
    np.testing.assert_array_equal(ops.nansum(x, axis=1).numpy(), [0.0, np.inf])
    np.testing.assert_array_equal(ops.nanmean(x, axis=1).numpy(), [np.nan, np.inf])
    assert ops.nanprod(np.array([np.nan, 2.0, 3.0], "float32")).item() == 6.0


@pytest.mark.parametrize("x, kth, axis", [(A, 1, -1), (C, 2, 1), (I, 0, 0), (V, 3, None), (A, -1, 1)])
def test_argpartition_partitions(keras, x, kth, axis):
    got = ops.argpartition(x, kth, axis=axis)
    assert got.dtype == keras.ops.argpartition(x, kth, axis=-1 if axis is None else axis).dtype == torch.int32
    flat = x.reshape(-1) if axis is None else x
    axis = -1 if axis is None else axis
    arranged = np.take_along_axis(flat, got.numpy(), axis=axis)
    pivot = np.take(arranged, [kth], axis=axis)
    np.testing.assert_array_equal(pivot, np.take(np.partition(flat, kth, axis=axis), [kth], axis=axis))
    position = np.arange(flat.shape[axis]).reshape([-1 if a == axis % flat.ndim else 1 for a in range(flat.ndim)])
    assert np.all(np.where(position < kth % flat.shape[axis], arranged <= pivot, arranged >= pivot))


def test_sizes_and_uninitialised_tensors(keras):
    assert ops.ndim(C) == keras.ops.ndim(C) == 3
    assert ops.ndim(layerwise.Input((4, 2))) == 3
    assert ops.empty((2, 3)).shape == (2, 3) and ops.empty(4, "int32").dtype == torch.int32
    out = ops.empty_like(I, dtype="float16")
    assert out.shape == I.shape and out.dtype == torch.float16
    assert ops.empty_like(A).dtype == torch.float32


# Each builds an output from x (None, 4, 3) float with the library's ops; they record Keras' operations.
GRAPHS = {
    "median": lambda o, x: o.median(x, axis=1),
    "quantile": lambda o, x: o.quantile(x, [0.25, 0.75], axis=-1),
    "nan": lambda o, x: o.nanmean(o.where(o.greater(x, 1.0), np.float32(np.nan), x), axis=-1)
    + o.nanmax(x, axis=-1) - o.ptp(x, axis=-1),
    "logical": lambda o, x: o.cast(o.any(o.greater(x, 0.0), axis=1), "float32") * o.logsumexp(x, axis=1),
    "average": lambda o, x: o.average(x, axis=-1, weights=np.array([1.0, 2.0, 3.0], "float32")),
    "cumprod": lambda o, x: o.cumprod(o.tanh(x), axis=1),
    "searchsorted": lambda o, x: o.cast(o.searchsorted(np.array([-1.0, 0.0, 1.0], "float32"), x), "float32"),
    "digitize": lambda o, x: o.cast(o.digitize(x, np.array([-0.5, 0.5], "float32")), "float32"),
    "trace": lambda o, x: o.trace(o.matmul(o.transpose(x, (0, 2, 1)), x), axis1=1, axis2=2),
    "tril": lambda o, x: o.tril(o.triu(x, k=-1)),
    "cross": lambda o, x: o.cross(x, o.roll(x, 1, axis=1)),
    "cdist": lambda o, x: o.cdist(x, x),
    "shapes": lambda o, x: o.hstack([o.expand_dims(o.ravel(x[0]), 0), o.diff(o.fliplr(x), axis=1)[0:1, 0]]),
    "splits": lambda o, x: o.array_split(x, 2, axis=1)[0] + o.unstack(x, axis=1)[1][:, None],
    "append": lambda o, x: o.append(o.rot90(x, axes=(1, 2)), o.swapaxes(x, 1, 2), axis=2),
    "select": lambda o, x: o.select([o.greater(x, 0.5), o.less(x, -0.5)], [x, o.square(x)], 0.0),
    "kron": lambda o, x: o.kron(o.diagonal(x, axis1=1, axis2=2), np.ones((1, 2), "float32")),
    "logspace": lambda o, x: o.logspace(o.mean(x, axis=(1, 2)), o.max(x, axis=(1, 2)), 3, base=2.0),
    "geomspace": lambda o, x: o.geomspace(o.exp(x[:, 0, 0]), o.exp(x[:, 1, 0]), 4),
}


def _graph_model(lib, build):
    x = lib.Input((4, 3), name="x")
    return lib.Model(x, build(lib.ops, x))


def _summary(model, capsys) -> str:
    capsys.readouterr()
    model.summary()
    return re.sub(r"[ ─━]+", " ", capsys.readouterr().out.split("\n", 1)[1])


@pytest.mark.parametrize("name", list(GRAPHS))
def test_ops_in_functional_models_match_keras(keras, rng, tmp_path, name):
    k_model = _graph_model(keras, GRAPHS[name])
    lw_model = _graph_model(layerwise, GRAPHS[name])
    k_types = [type(op).__name__ for op in k_model.operations if type(op).__name__ != "InputLayer"]
    assert k_types == [op.type_name for op in lw_model.operations if op not in lw_model.layers]
    assert lw_model.output_shape == k_model.output_shape
    data = torch.as_tensor(rng.normal(size=(2, 4, 3)).astype("float32"))
    expected = k_model(data).detach().numpy()
    np.testing.assert_allclose(lw_model(data).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    lw_model.save(tmp_path / f"{name}.lw")
    loaded = layerwise.models.load_model(tmp_path / f"{name}.lw")
    np.testing.assert_allclose(loaded(data).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_summary_names_keras_classes(keras, capsys):
    def build(lib):
        x = lib.Input((5,), name="x")
        o = lib.ops
        return lib.Model(x, o.cast(o.isin(o.searchsorted(np.array([0.0, 1.0], "float32"), x),
                                          np.array([1], "int32")), "float32") + o.cdist(x[:, :, None],
                                                                                      x[:, :, None])[:, 0])
    keras.utils.clear_session()
    k_model = build(keras)
    layerwise.backend.clear_session()
    lw_model = build(layerwise)
    assert _summary(lw_model, capsys) == _summary(k_model, capsys)
    assert {"SearchSorted", "IsIn", "CDist"} <= {getattr(op, "type_name", "") for op in lw_model.operations}


def test_data_dependent_shapes_refuse_symbolic_inputs():
    x = layerwise.Input((4,))
    i = layerwise.Input((4,), dtype="int32")
    for call in (lambda: ops.nonzero(x), lambda: ops.unique(x), lambda: ops.bincount(i)):
        with pytest.raises(TypeError, match="depend"):
            call()
    assert ops.unique(x, size=3).shape == (3,)
    assert ops.bincount(i, minlength=5).shape == (None, 5)
    with pytest.raises(TypeError, match="window length"):
        ops.hanning(x)


@pytest.mark.parametrize("call, message", [
    (lambda: ops.quantile(A, 0.5, method="cubic"), r"ops\.quantile: method must be one of"),
    (lambda: ops.quantile(A, 1.5), r"ops\.quantile .*\(3, 4\)"),
    (lambda: ops.median(A, axis=2), r"ops\.median .*\(3, 4\)"),
    (lambda: ops.amax(A, axis=(0, 3)), r"ops\.amax .*\(3, 4\)"),
    (lambda: ops.average(A, axis=0, weights=np.ones(4)), r"ops\.average: weights of shape \(4,\)"),
    (lambda: ops.argpartition(V, 5), r"kth=5 is out of range"),
    (lambda: ops.correlate(A, V), r"ops\.correlate takes 1-D x1 and x2"),
    (lambda: ops.correlate(V, W, mode="circular"), r"mode must be 'valid', 'same' or 'full'"),
    (lambda: ops.histogram(A), r"1-D x; received shape \(3, 4\)"),
    (lambda: ops.histogram(V, bins=0), r"bins must be a positive int"),
    (lambda: ops.histogram(V, range=(2.0, 1.0)), r"range must be a \(min, max\) pair"),
    (lambda: ops.bincount(np.array([0, -1])), r"must not have negative values"),
    (lambda: ops.bincount(V), r"tensor of integers"),
    (lambda: ops.bincount(np.array([1]), sparse=True), r"sparse=True is not supported"),
    (lambda: ops.digitize(V, A), r"bins must be 1-D"),
    (lambda: ops.searchsorted(A, V), r"1-D sorted_sequence; received shape \(3, 4\)"),
    (lambda: ops.searchsorted(SEQ, V, side="middle"), r"side must be 'left' or 'right'"),
    (lambda: ops.meshgrid(V, W, indexing="yx"), r"indexing must be 'xy' or 'ij'"),
    (lambda: ops.vander(A), r"ops\.vander takes a 1-D x"),
    (lambda: ops.vander(V, N=-1), r"N must be a non-negative int"),
    (lambda: ops.diagonal(A, axis1=1, axis2=-1), r"two different axes"),
    (lambda: ops.trace(V), r"two different axes"),
    (lambda: ops.diag(C), r"ops\.diag .*\(2, 3, 4\)"),
    (lambda: ops.cross(A, B), r"vectors of 3 components"),
    (lambda: ops.cdist(A, V3), r"ops\.cdist takes x \(\.\.\., n, d\)"),
    (lambda: ops.inner(A, V3), r"ops\.inner .*\(3, 4\), \(4, 3\)"),
    (lambda: ops.unstack(C, num=3), r"num=3 does not match the size 2"),
    (lambda: ops.rot90(V), r"2 or more axes"),
    (lambda: ops.rot90(A, axes=(1, -1)), r"two different axes"),
    (lambda: ops.hsplit(A, 3), r"ops\.hsplit .*\(3, 4\)"),
    (lambda: ops.array_split(A, 0), r"positive int"),
    (lambda: ops.select(A > 0, A), r"must be lists"),
    (lambda: ops.select([A > 0], []), r"non-empty lists of one length"),
    (lambda: ops.view(A[:, :3], "float64"), r"ops\.view .*\(3, 3\)"),
    (lambda: ops.rearrange(C, "b h w -> b h"), r"same axes"),
    (lambda: ops.rearrange(C, "b h -> h b"), r"names 2 axes .*\(2, 3, 4\)"),
    (lambda: ops.rearrange(C, "b h (w1 w) -> b h w1 w", w1=3), r"cannot split the axis of size 4"),
    (lambda: ops.rearrange(C, "b h w"), r"one '->'"),
])
def test_bad_input_names_the_op(call, message):
    with pytest.raises(ValueError, match=message):
        call()
