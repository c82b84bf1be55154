"""``layerwise.ops``, ``activations``, ``regularizers`` and ``constraints``, checked against
Keras 3 on its torch backend: result dtypes (int8 products, clip bounds, 64-bit inputs, bool operands), tuple
axes of softmax, half-precision overflow in normalize and moments, sparsemax on integers and huge logits, and
lists and numpy arrays where Keras takes them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise import activations, constraints, ops, regularizers


def _assert_like_keras(ours: torch.Tensor, theirs, atol: float = 1e-6) -> None:
    """Same dtype and values as Keras' result."""
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours.double().numpy(), theirs.double().numpy(), atol=atol)


# ---- 1. int8 products accumulate in int32 -------------------------------------------------------------------
def test_int8_matmul_and_einsum_do_not_wrap(keras):
    a, b = np.full((1, 4), 100, "int8"), np.full((4, 1), 100, "int8")
    for name, call in (("matmul", lambda o: o.matmul(a, b)), ("einsum", lambda o: o.einsum("ij,jk->ik", a, b))):
        ours, theirs = call(ops), call(keras.ops)
        _assert_like_keras(ours, theirs)
        assert ours.tolist() == [[40000]], name


def test_einsum_of_mixed_dtypes_keeps_torch_promotion():
    # Keras' torch einsum refuses int8 with float32; layerwise computes in their common dtype.
    out = ops.einsum("ij,jk->ik", np.ones((2, 3), "int8"), np.ones((3, 2), "float32"))
    assert out.dtype == torch.float32 and out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


# ---- 2. clip keeps x's dtype for number bounds ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16,
                                   torch.float32, torch.bool])
@pytest.mark.parametrize("bounds", [(1e-7, 1 - 1e-7), (1, 3)])
def test_clip_with_number_bounds_keeps_the_dtype(keras, dtype, bounds):
    x = torch.tensor([0.0, 0.5, 2.0, 5.0]).to(dtype)
    _assert_like_keras(ops.clip(x, *bounds), keras.ops.clip(x, *bounds), atol=1e-2)


def test_clip_with_array_bounds_promotes_as_keras(keras):
    x = np.array([0, 5, 9], "int8")
    low, high = np.array([1.5, 1.5, 1.5], "float32"), np.array(6, "int32")
    _assert_like_keras(ops.clip(x, low, high), keras.ops.clip(x, low, high))


# ---- 3. softmax over a tuple of axes -------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [(1, 2), (0, 2), (2, 0)])
def test_softmax_and_log_softmax_over_a_tuple_of_axes(keras, axis):
    x = np.arange(24, dtype="float32").reshape(2, 3, 4) / 7
    for ours, theirs in ((ops.softmax, keras.ops.softmax), (ops.log_softmax, keras.ops.log_softmax),
                         (activations.softmax, keras.activations.softmax),
                         (activations.log_softmax, keras.activations.log_softmax)):
        _assert_like_keras(ours(torch.from_numpy(x), axis=axis), theirs(x, axis=axis), atol=1e-6)
    np.testing.assert_allclose(ops.softmax(x, axis=axis).sum(dim=axis).numpy(), 1.0, rtol=1e-6)


def test_softmax_takes_negative_axes_in_a_tuple():
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(activations.softmax(x, axis=(-2, -1)), activations.softmax(x, axis=(1, 2)))


# ---- 4. lists and numpy arrays -------------------------------------------------------------------------------
def test_keras_relu_docstring_example_takes_a_list(keras):
    x = [-10, -5, 0.0, 5, 10]
    _assert_like_keras(activations.relu(x, negative_slope=0.5), keras.activations.relu(x, negative_slope=0.5))
    _assert_like_keras(activations.relu(x, max_value=5.0), keras.activations.relu(x, max_value=5.0))


@pytest.mark.parametrize("name", sorted(set(activations.ACTIVATIONS) - {"linear", "threshold"}))
def test_every_activation_takes_a_numpy_array(name):
    x = np.linspace(-3, 3, 8, dtype="float32").reshape(2, 4)
    fn = activations.ACTIVATIONS[name]
    torch.testing.assert_close(fn(x), fn(torch.from_numpy(x)))


def test_threshold_takes_a_numpy_array():
    x = np.array([-1.0, 0.5, 2.0], "float32")
    assert activations.threshold(x, 0.0, -5.0).tolist() == [-5.0, 0.5, 2.0]


def test_regularizers_and_constraints_take_numpy_arrays(keras):
    weights = np.ones((5, 5))
    for ours, theirs in ((regularizers.L1(0.01), keras.regularizers.L1(0.01)),
                         (regularizers.L2(0.01), keras.regularizers.L2(0.01)),
                         (regularizers.L1L2(0.01, 0.02), keras.regularizers.L1L2(0.01, 0.02)),
                         (regularizers.OrthogonalRegularizer(0.1), keras.regularizers.OrthogonalRegularizer(0.1))):
        np.testing.assert_allclose(float(ours(weights)), float(theirs(weights)), rtol=1e-6)
    w = np.array([[-1.0, 2.0], [3.0, -4.0]], "float32")
    for ours, theirs in ((constraints.NonNeg(), keras.constraints.NonNeg()),
                         (constraints.MaxNorm(2.0), keras.constraints.MaxNorm(2.0)),
                         (constraints.UnitNorm(), keras.constraints.UnitNorm()),
                         (constraints.MinMaxNorm(1.0, 2.0), keras.constraints.MinMaxNorm(1.0, 2.0))):
        np.testing.assert_allclose(ours(w).numpy(), theirs(w).numpy(), rtol=1e-6)
    assert constraints.NonNeg()([-1.0, 2.0]).tolist() == [0.0, 2.0]


def test_a_tensor_goes_through_unchanged():
    x = torch.randn(3, requires_grad=True)
    assert activations.linear(x) is x
    activations.relu(x).sum().backward()
    assert x.grad is not None


# ---- 6. normalize in half precision --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("order", [1, 2])
def test_normalize_half_precision_with_default_epsilon(dtype, order):
    x = torch.tensor([[3.0, 4.0], [300.0, 400.0]]).to(getattr(torch, dtype))
    out = ops.normalize(x, order=order)
    assert out.dtype == x.dtype
    torch.testing.assert_close(out, ops.normalize(x.float(), order=order).to(x.dtype))


def test_normalize_float16_like_keras(keras):
    x = np.array([[3.0, 4.0]], "float16")
    _assert_like_keras(ops.normalize(x), keras.ops.normalize(x), atol=1e-3)


# ---- 7. subtract with bool operands --------------------------------------------------------------------------
@pytest.mark.parametrize("pair", [(1, np.array([True, False])), (np.array([1.0, 1.0]), np.array([True, False])),
                                  (np.array([True, False]), np.array([3, 4], "int8")),
                                  (np.array([True, False]), 2.5),
                                  (torch.tensor([1.0, 2.0], dtype=torch.float16), np.array([True, True]))])
def test_subtract_takes_a_bool_operand(keras, pair):
    _assert_like_keras(ops.subtract(*pair), keras.ops.subtract(*pair), atol=1e-3)


def test_subtract_of_two_bools_still_fails():
    with pytest.raises(ValueError, match="two bool tensors"):
        ops.subtract(np.array([True]), np.array([False]))


# ---- 8. sparsemax on integers and huge logits ----------------------------------------------------------------
def test_sparsemax_of_uint8_like_keras(keras):
    x = np.array([0, 1, 2, 100, 255], "uint8")
    _assert_like_keras(ops.sparsemax(x), keras.ops.sparsemax(x))


def test_sparsemax_of_huge_logits_puts_all_mass_on_the_largest():
    out = ops.sparsemax(np.array([[1e8, 5.0, 1.0], [1.0, 1e8, 3.0]], "float32"))
    assert out.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def _sparsemax_reference(z: np.ndarray) -> np.ndarray:
    """Martins & Astudillo's algorithm 1 on one vector (Keras 3.15's torch sparsemax does not sum to 1)."""
    ordered = np.sort(z)[::-1]
    k = np.arange(1, z.size + 1)
    support = k[1 + k * ordered > np.cumsum(ordered)].max()
    return np.maximum(z - (ordered[:support].sum() - 1) / support, 0)


@pytest.mark.parametrize("axis", [-1, 1])
def test_sparsemax_of_ordinary_logits_is_the_projection(axis):
    x = np.random.default_rng(0).normal(size=(4, 3, 6)).astype("float32")
    expected = np.apply_along_axis(_sparsemax_reference, axis, x.astype("float64"))
    np.testing.assert_allclose(ops.sparsemax(x, axis=axis).numpy(), expected, atol=1e-6)


# ---- 9. 64-bit inputs give 32-bit results where Keras applies its promotion rule ------------------------------
_MATRIX = [[1.5, -2.0], [3.0, 4.25]]
_SIXTY_FOUR = {
    "numpy float64": lambda: np.array(_MATRIX, "float64"),
    "torch float64": lambda: torch.tensor(_MATRIX, dtype=torch.float64),
    "numpy int64": lambda: np.array([[1, -2], [3, 4]], "int64"),
    "torch int64": lambda: torch.tensor([[1, -2], [3, 4]], dtype=torch.int64),
}
_OPS_64 = {
    "matmul": lambda o, x: o.matmul(x, x),
    "matmul with float32": lambda o, x: o.matmul(x, torch.ones(2, 2)),
    "dot": lambda o, x: o.dot(x, x),
    "tensordot": lambda o, x: o.tensordot(x, x, 1),
    "maximum 0.": lambda o, x: o.maximum(x, 0.0),
    "maximum 0": lambda o, x: o.maximum(x, 0),
    "minimum": lambda o, x: o.minimum(x, x),
    "ceil": lambda o, x: o.ceil(x),
    "floor": lambda o, x: o.floor(x),
    "prod": lambda o, x: o.prod(x),
    "prod axis": lambda o, x: o.prod(x, axis=0, keepdims=True),
    "var": lambda o, x: o.var(x),
    "var axis": lambda o, x: o.var(x, axis=1),
    "norm": lambda o, x: o.norm(x),
    "cumsum": lambda o, x: o.cumsum(x),
    "cumsum axis": lambda o, x: o.cumsum(x, axis=1),
}


@pytest.mark.parametrize("kind", sorted(_SIXTY_FOUR))
@pytest.mark.parametrize("op", sorted(_OPS_64))
def test_64_bit_inputs_give_keras_result_dtype(keras, kind, op):
    x = _SIXTY_FOUR[kind]()
    _assert_like_keras(_OPS_64[op](ops, x), _OPS_64[op](keras.ops, x), atol=1e-5)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "bool", "float16", "float32", "int32"])
@pytest.mark.parametrize("op", ["prod", "var", "cumsum", "ceil", "floor", "norm", "maximum 0", "dot"])
def test_other_dtypes_keep_keras_result_dtype(keras, dtype, op):
    x = np.array([[1, 0], [3, 2]], dtype)
    _assert_like_keras(_OPS_64[op](ops, x), _OPS_64[op](keras.ops, x), atol=1e-2)


def test_float64_ops_that_keras_does_not_promote_stay_float64(keras):
    x = torch.tensor(_MATRIX, dtype=torch.float64)
    for call in (lambda o: o.add(x, x), lambda o: o.mean(x), lambda o: o.einsum("ij,jk->ik", x, x),
                 lambda o: o.subtract(x, np.array([True, False]))):
        _assert_like_keras(call(ops), call(keras.ops))


def test_var_over_no_axis_is_zero_like_keras(keras):
    x = np.array([1.0, 2.0], "float16")
    _assert_like_keras(ops.var(x, axis=()), keras.ops.var(x, axis=()))


def test_prod_of_int8_accumulates_in_int32(keras):
    x = np.full((4,), 100, "int8")
    _assert_like_keras(ops.prod(x), keras.ops.prod(x))
    assert int(ops.prod(x)) == 100 ** 4


# ---- 10. moments of float16 ----------------------------------------------------------------------------------
def test_moments_float16_variance_saturates_like_keras(keras):
    x = np.array([60000, -60000], "float16")
    for ours, theirs in zip(ops.moments(x, axes=[0]), keras.ops.moments(x, axes=[0])):
        _assert_like_keras(ours, theirs)
    assert float(ops.moments(x, axes=[0])[1]) == 65504.0


# ---- 12. small result dtypes ---------------------------------------------------------------------------------
def test_matmul_of_bools_is_bool(keras):
    a = np.array([[True, False], [True, True]])
    b = np.array([[False, False], [True, False]])
    _assert_like_keras(ops.matmul(a, b), keras.ops.matmul(a, b))


@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8", "int16", "float32"])
@pytest.mark.parametrize("op", ["mod", "fmod"])
def test_mod_by_a_bool_array_keeps_the_dtype(keras, dtype, op):
    x, divisor = np.array([5, 7], dtype), np.array([True, True])
    _assert_like_keras(getattr(ops, op)(x, divisor), getattr(keras.ops, op)(x, divisor))
    _assert_like_keras(getattr(ops, op)(divisor, x), getattr(keras.ops, op)(divisor, x))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.uint8, torch.int64])
def test_relu_with_max_value_keeps_an_integer_dtype(keras, dtype):
    x = torch.tensor([-1, 3, 9], dtype=dtype) if dtype != torch.uint8 else torch.tensor([0, 3, 9], dtype=dtype)
    for max_value in (6.0, 6.5):
        _assert_like_keras(activations.relu(x, max_value=max_value), keras.activations.relu(x, max_value=max_value))


# ---- serialize's argument name -------------------------------------------------------------------------------
def test_activations_serialize_argument_is_named_activation_as_in_keras(keras):
    assert activations.serialize(activation=activations.relu) == "relu"
    assert keras.activations.serialize(activation=keras.activations.relu) == "relu"


# ---- scalars, empty axis tuples, integer edges, numpy's symmetric padding -------------------------------------
SCALAR = np.array(2.0, "float32")
EDGE_CASES = [  # each raised or gave another value before
    ("median", lambda o: o.median(SCALAR)), ("quantile", lambda o: o.quantile(SCALAR, 0.3)),
    ("percentile", lambda o: o.percentile(SCALAR, 30.0)), ("nanmedian", lambda o: o.nanmedian(SCALAR)),
    ("transpose", lambda o: o.transpose(SCALAR)), ("take", lambda o: o.take(np.arange(6.0).reshape(2, 3), 3)),
    ("max", lambda o: o.max(np.array([[1.0, -2.0, 3.0]], "float32"), axis=())),
    ("min", lambda o: o.min(np.array([[1, -2, 3]], "int32"), axis=())),
    ("normalize", lambda o: o.normalize(np.array([3.0, -4.0], "float32"), axis=())),
    ("sparse_sigmoid", lambda o: o.sparse_sigmoid(np.array([127, -128, 0], "int8"))),
    ("arange", lambda o: o.arange(np.int8(3))),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[name for name, _ in EDGE_CASES])
def test_edge_inputs_like_keras(keras, case):
    _, call = case
    ours, theirs = call(ops), call(keras.ops)
    assert tuple(ours.shape) == tuple(theirs.shape)
    _assert_like_keras(ours, theirs)


@pytest.mark.parametrize("pad_width", [2, ((1, 2), (3, 5)), ((4, 0), (0, 9))])
def test_symmetric_padding_is_numpy_s(pad_width):
    # Keras 3.15's torch backend pads [1, 2, 3] symmetrically by 3 as [1, 1, 1, 1, 2, 3, 3, 3]
    x = np.arange(12, dtype="int32").reshape(3, 4)
    ours = ops.pad(x, pad_width, mode="symmetric")
    assert ours.dtype == torch.int32
    np.testing.assert_array_equal(ours.numpy(), np.pad(x, pad_width, mode="symmetric"))
