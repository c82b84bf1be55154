"""The element-wise ops of ``layerwise.ops.elementwise`` against ``keras.ops`` (torch backend): the same values
and result dtypes over float, integer and bool inputs, Python numbers, broadcasting and NaN/inf; a functional
model built from them (Keras' node names, summary, predictions, save/load); and the errors for bad inputs."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import layerwise
from layerwise import ops

_rng = np.random.default_rng(7)
F = np.concatenate([_rng.uniform(-3, 3, size=10), [0.0, -0.0]]).reshape(3, 4).astype("float32")
UNIT = _rng.uniform(-0.95, 0.95, size=(3, 4)).astype("float32")  # inside (-1, 1): arcsin, arctanh, erfinv
POS = _rng.uniform(0.1, 5.0, size=(3, 4)).astype("float32")  # logarithms, rsqrt
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.5, 1e30], dtype="float32")
I = np.array([[-7, -2, 0, 1], [3, 4, 9, 12], [-12, 5, 6, 0]], dtype="int32")  # noqa: E741
B = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])
ROW = np.array([[1.5, -2.0, 0.0, 3.0]], dtype="float32")
I_ROW = np.array([[4, -6, 3, 8]], dtype="int32")

# Float inputs of several dtypes, and integer and bool inputs (each of its dtype), for the unary float functions.
FLOATS = [F, F.astype("float16"), F.astype("float64"), torch.as_tensor(F).bfloat16(), SPECIAL, 2.5]
INTS = [I, I.astype("int8"), np.abs(I).astype("uint8"), I.astype("int64"), B, 3]
DOMAIN = {"arcsin": UNIT, "arccos": UNIT, "arctanh": UNIT, "erfinv": UNIT, "log2": POS, "log10": POS, "rsqrt": POS,
          "arccosh": POS + 1}

UNARY = {
    **{name: FLOATS + INTS for name in ["tan", "sinh", "cosh", "arctan", "arcsinh", "sinc", "erf", "erfc", "exp2",
                                        "fabs", "i0", "cbrt", "deg2rad", "rad2deg", "trunc", "signbit", "isinf",
                                        "isposinf", "isneginf", "isreal", "reciprocal", "nan_to_num", "angle",
                                        "arcsin", "arccos", "arctanh", "erfinv", "log2", "log10", "rsqrt",
                                        "arccosh"]},
    # Keras' torch backend takes no Python numbers here (it converts with torch.from_numpy).
    **{name: FLOATS[:-1] + INTS[:-1] for name in ["real", "conjugate", "conj"]},
    **{name: INTS[:-1] for name in ["bitwise_invert", "bitwise_not"]},
}
COMPLEX = [torch.complex(torch.as_tensor(F), torch.as_tensor(POS)), F + 1j * POS]  # complex64 and complex128


def _unary_cases():
    for name, inputs in UNARY.items():
        for x in inputs:
            if name in DOMAIN and x is F:
                x = DOMAIN[name]
            yield name, (x,), {}
    for name in ["conjugate", "conj", "real", "imag", "angle", "isreal"]:
        for z in COMPLEX:
            yield name, (z,), {}
    yield "nan_to_num", (SPECIAL,), {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}
    yield "nan_to_num", (SPECIAL[:-1].astype("float16"),), {"posinf": 2.0}


# Pairs for the binary maths: broadcasting, mixed and narrow dtypes, 64-bit (Keras makes them 32-bit), numbers.
PAIRS = [(F, ROW), (I, I_ROW), (I.astype("int8"), 3), (F, 2.5), (5, I.astype("int16")), (I, F), (I, 2.5),
         (F.astype("float64"), ROW.astype("float64")), (F.astype("float16"), ROW.astype("float16")),
         (I.astype("int64"), I_ROW.astype("int64")), (np.abs(I).astype("uint8"), I_ROW.astype("int8"))]
# Integer divisors without zeros (torch raises ZeroDivisionError for integers, as Keras then does).
DIV_PAIRS = [*(pair for pair in PAIRS if not isinstance(pair[0], int)), (5, I_ROW.astype("int16")),
             (B, np.ones_like(B))]
NAN_PAIRS = [(SPECIAL, SPECIAL[::-1].copy()), (SPECIAL, 0.0)]
BOOLS = [(B, B[::-1].copy())]
INT_PAIRS = [(I, I_ROW), (I.astype("int8"), 3), (np.abs(I).astype("uint8"), np.uint8(6)), (I.astype("int64"), I_ROW),
             (I_ROW, I.astype("int16"))]
SHIFTS = [(np.abs(I), 2), (np.abs(I).astype("int8"), np.array([0, 1, 2, 3], "int8")),
          (np.abs(I).astype("uint8"), I_ROW.clip(0, 4)), (np.abs(I).astype("int64"), 1)]

BINARY = {
    **{name: PAIRS + NAN_PAIRS for name in ["arctan2", "logaddexp", "logaddexp2", "nextafter", "hypot",
                                            "divide_no_nan", "fmax", "fmin"]},
    **{name: PAIRS + NAN_PAIRS + BOOLS for name in ["heaviside", "isclose"]},
    **{name: DIV_PAIRS + [(F, ROW.clip(0.5)), (SPECIAL, 2.0)] for name in ["fmod", "mod", "floor_divide"]},
    "floor_divide": DIV_PAIRS[:-1] + [(F, ROW.clip(0.5)), (SPECIAL, 2.0)],  # torch has no floor division of bools
    "logical_xor": PAIRS + BOOLS + [(SPECIAL, 0.0)],
    **{name: INT_PAIRS for name in ["gcd", "lcm"]},
    **{name: INT_PAIRS + BOOLS for name in ["bitwise_and", "bitwise_or", "bitwise_xor"]},
    **{name: SHIFTS for name in ["bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift"]},
    "ldexp": [(F, I_ROW), (I, I_ROW.clip(-2, 3).astype("int8")), (F.astype("float16"), 3), (2.5, I),
              (F.astype("float64"), I.astype("int64"))],
}


def _binary_cases():
    for name, pairs in BINARY.items():
        for pair in pairs:
            yield name, pair, {}
    near = F + np.float32(1e-6) * np.sign(F)
    for kwargs in [{}, {"rtol": 0.0, "atol": 0.0}, {"rtol": 0.1, "atol": 0.5}, {"equal_nan": True}]:
        yield "isclose", (np.concatenate([F, SPECIAL[None, :4]]), np.concatenate([near, SPECIAL[None, :4]])), kwargs


CASES = [*_unary_cases(), *_binary_cases()]


def _describe(value) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{str(value.dtype).removeprefix('torch.')}{list(value.shape)}"
    return repr(value)


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.double().numpy() if t.dtype == torch.bfloat16 else t.numpy()


@pytest.mark.filterwarnings("ignore:An output with one or more elements was resized")  # Keras' ldexp
@pytest.mark.parametrize("name, args, kwargs", CASES,
                         ids=[f"{c[0]}-{'-'.join(_describe(a) for a in c[1])}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_keras(keras, name, args, kwargs):
    expected = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    assert isinstance(got, torch.Tensor)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    tol = 1e-2 if got.dtype in (torch.float16, torch.bfloat16) else 1e-6
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=tol, atol=tol)
    # NaNs sit where Keras has them, and the signs of zeros agree (signbit, cbrt, trunc of -0.0).
    assert np.array_equal(np.signbit(_numpy(got)), np.signbit(_numpy(expected)))


def test_every_new_op_is_exported_and_keras_has_it(keras):
    from layerwise.ops import elementwise
    for name in elementwise.__all__:
        assert getattr(layerwise.ops, name) is getattr(elementwise, name)
        assert callable(getattr(keras.ops, name))
    covered = {case[0] for case in CASES}
    assert set(elementwise.__all__) <= covered, set(elementwise.__all__) - covered
    assert ops.conj is ops.conjugate


def _model(lib):
    o = lib.ops
    x, y = lib.Input((4, 3), name="x"), lib.Input((4, 3), name="y")
    i = lib.Input((4, 3), name="i", dtype="int32")
    waves = o.hypot(o.tan(o.arctan2(x, y)), o.cbrt(y))
    soft = o.logaddexp(o.nan_to_num(o.log10(o.fabs(x)), nan=0.0, neginf=-5.0), o.erf(y))
    bits = o.bitwise_and(o.left_shift(i, 1), i) + o.floor_divide(i, 2) + o.mod(i, 3)
    near = o.isclose(o.deg2rad(o.rad2deg(x)), x, atol=1e-4)
    return lib.Model([x, y, i], [o.divide_no_nan(waves, soft) + o.fmax(x, y), o.cast(bits, "float32"),
                                 o.logical_xor(near, o.signbit(y))])


def _summary(model, capsys) -> str:
    capsys.readouterr()
    model.summary()
    return re.sub(r"[ ─━]+", " ", capsys.readouterr().out.split("\n", 1)[1])


def test_ops_in_a_functional_model_match_keras(keras, rng, capsys, tmp_path):
    keras.utils.clear_session()
    k_model = _model(keras)
    layerwise.backend.clear_session()
    lw_model = _model(layerwise)
    k_types = [type(op).__name__ for op in k_model.operations if type(op).__name__ != "InputLayer"]
    assert k_types == [op.type_name for op in lw_model.operations if op not in lw_model.layers]
    assert {"Hypot", "Arctan2", "NanToNum", "BitwiseAnd", "LeftShift", "FloorDivide", "LogicalXor"} <= set(k_types)
    assert lw_model.output_shape == k_model.output_shape
    assert _summary(lw_model, capsys) == _summary(k_model, capsys)
    data = [rng.normal(size=(5, 4, 3)).astype("float32") for _ in range(2)]
    data.append(rng.integers(-6, 7, size=(5, 4, 3)).astype("int32"))
    expected = [t.detach().numpy() for t in k_model(data)]
    got = lw_model.predict(data, verbose=0)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    assert got[2].dtype == np.bool_
    lw_model.save(tmp_path / "elementwise.lw")
    loaded = layerwise.models.load_model(tmp_path / "elementwise.lw")
    for g, e in zip(loaded.predict(data, verbose=0), expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


SYMBOLIC = [  # (build from the library's ops, x (None, 4, 3) float and i (None, 4, 3) int32; Keras' class)
    (lambda o, x, i: o.conj(x), "Conjugate"),
    (lambda o, x, i: o.hypot(x, np.ones((2, 1, 1, 3), "float32")), "Hypot"),
    (lambda o, x, i: o.isclose(x, 0.5, atol=0.1), "Isclose"),
    (lambda o, x, i: o.right_shift(i, 1), "RightShift"),
    (lambda o, x, i: o.ldexp(x[:, :1], i), "Ldexp"),
]


@pytest.mark.parametrize("build, type_name", SYMBOLIC, ids=[c[1] for c in SYMBOLIC])
def test_symbolic_shapes_and_keras_class_names(keras, build, type_name):
    def call(lib):
        return build(lib.ops, lib.Input((4, 3)), lib.Input((4, 3), dtype="int32"))
    out, k_out = call(layerwise), call(keras)
    assert out.shape == k_out.shape
    assert out.node.layer.type_name == type(k_out._keras_history.operation).__name__ == type_name


def test_imag_of_real_input_is_zero_as_in_numpy():
    # Keras' torch backend raises here (torch.imag takes only complex tensors); NumPy and JAX give zeros.
    for x in [F, I, 2.5]:
        got = ops.imag(x)
        np.testing.assert_array_equal(got.numpy(), np.imag(x))
        assert got.dtype == ops.convert_to_tensor(x).dtype


def test_integer_division_by_zero_gives_zero_as_in_numpy():
    # Keras' torch backend raises ZeroDivisionError on the CPU; NumPy gives 0, and so can models of int inputs.
    divisor = np.array([[2, 0, -3, 0]], dtype="int32")
    names = ["floor_divide", "mod", "fmod"]
    with np.errstate(divide="ignore"):
        expected = [getattr(np, name)(I, divisor) for name in names]
    for name, e in zip(names, expected):
        np.testing.assert_array_equal(getattr(ops, name)(I, divisor).numpy(), e)
    i, j = layerwise.Input((4,), dtype="int32"), layerwise.Input((4,), dtype="int32")
    model = layerwise.Model([i, j], [getattr(ops, name)(i, j) for name in names])
    for got, e in zip(model([torch.as_tensor(I), torch.as_tensor(divisor)]), expected):
        assert got.dtype == torch.int32
        np.testing.assert_array_equal(got.numpy(), e)


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.ldexp(F, F), TypeError, r"ldexp: the exponent `x2` must have an integer dtype; received "
                                         r"torch\.float32"),
    (lambda: ops.ldexp(F, True), TypeError, r"`x2` must have an integer dtype"),
    (lambda: ops.hypot(F, np.ones((2, 4), "float32")), ValueError, r"ops\.hypot .*\(3, 4\), \(2, 4\)"),
    (lambda: ops.isclose(F, I[:2]), ValueError, r"ops\.isclose .*\(3, 4\), \(2, 4\)"),
    (lambda: ops.bitwise_and(F, ROW), ValueError, r"ops\.bitwise_and"),
    (lambda: ops.left_shift(F, 1), ValueError, r"ops\.left_shift"),
    (lambda: ops.gcd(F, I), ValueError, r"ops\.gcd"),
    (lambda: ops.arctan2(layerwise.Input((4, 3)), layerwise.Input((5, 3))), ValueError,
     r"Cannot broadcast shapes \[\(None, 4, 3\), \(None, 5, 3\)\] in operation 'arctan2'"),
])
def test_bad_input_gives_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
