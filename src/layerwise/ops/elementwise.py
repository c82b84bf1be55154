"""More of Keras' element-wise ops: trigonometric and hyperbolic functions, logs and powers of two, the error
function, rounding and sign tests, complex parts, bitwise ops, and binary maths (``hypot``, ``logaddexp``,
``fmod``, ``gcd``, ``isclose``...).

Results follow Keras' torch backend, dtypes included: where Keras promotes with its own rules
(``ops/promotion.py``) 64-bit results become 32-bit (``hypot`` of two float64 arrays is float32) and integer
inputs of float functions give ``floatx``; elsewhere torch's promotion applies, as it does in Keras.
"""
from __future__ import annotations

from typing import Callable

import torch

from layerwise.backend import float_dtype
from layerwise.layers.operations import OPERATIONS, operation
from layerwise.ops.core import to_tensor, to_tensors
from layerwise.ops.numpy import _binary, _unary, _weak_binary
from layerwise.ops.promotion import promote, weak_dtype


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """Integer and bool tensors as ``floatx`` (Keras' exp2 and fabs compute in floating point)."""
    return x if x.is_floating_point() or x.is_complex() else x.to(float_dtype())


def _in_float32_on_cpu(fn: Callable, x1: torch.Tensor, x2: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``fn(x1, x2)`` in ``dtype``; float16 is computed in float32 on the CPU, where torch lacks the kernel."""
    compute = torch.float32 if dtype == torch.float16 and x1.device.type == "cpu" else dtype
    return fn(x1.to(compute), x2.to(compute)).to(dtype)


# ---- unary: trigonometric, hyperbolic, logarithms and special functions -----------------------------------
tan = _unary("tan", torch.tan, "Tangent; integers give float32.")
arcsin = _unary("arcsin", torch.arcsin, "Inverse sine, in ``[-pi/2, pi/2]``; NaN outside ``[-1, 1]``.")
arccos = _unary("arccos", torch.arccos, "Inverse cosine, in ``[0, pi]``; NaN outside ``[-1, 1]``.")
arctan = _unary("arctan", torch.arctan, "Inverse tangent, in ``(-pi/2, pi/2)``.")
sinh = _unary("sinh", torch.sinh, "Hyperbolic sine.")
cosh = _unary("cosh", torch.cosh, "Hyperbolic cosine.")
arcsinh = _unary("arcsinh", torch.arcsinh, "Inverse hyperbolic sine.")
arccosh = _unary("arccosh", torch.arccosh, "Inverse hyperbolic cosine; NaN below 1.")
arctanh = _unary("arctanh", torch.arctanh, "Inverse hyperbolic tangent; +-inf at +-1, NaN beyond.")
log2 = _unary("log2", torch.log2, "Base-2 logarithm.")
log10 = _unary("log10", torch.log10, "Base-10 logarithm.")
reciprocal = _unary("reciprocal", torch.reciprocal, "``1 / x``; integers give float32.")
rsqrt = _unary("rsqrt", torch.rsqrt, "``1 / sqrt(x)``.")
sinc = _unary("sinc", torch.sinc, "Normalized sinc, ``sin(pi x) / (pi x)`` (1 at 0).")
erf = _unary("erf", torch.erf, "The error function.")
erfc = _unary("erfc", torch.erfc, "``1 - erf(x)``, accurate where ``erf(x)`` is near 1.")
erfinv = _unary("erfinv", torch.erfinv, "Inverse of ``erf`` on ``(-1, 1)``; +-inf at +-1.")
exp2 = _unary("exp2", lambda x: torch.exp2(_as_float(x)), "``2 ** x``; integers and bools give floatx.")
fabs = _unary("fabs", lambda x: torch.abs(_as_float(x)), "``|x|`` as floats (integers and bools give floatx).")


def _i0(x: torch.Tensor) -> torch.Tensor:
    # Keras keeps float16, bfloat16 and float64, makes int64 float64 and everything else floatx.
    if x.dtype in (torch.int64, torch.float64):
        return torch.i0(x.double())
    return torch.i0(x if x.dtype in (torch.float16, torch.bfloat16) else x.to(float_dtype()))


def _cbrt(x: torch.Tensor) -> torch.Tensor:
    # The real cube root (negative for negative x), which ``x ** (1/3)`` alone would make NaN.
    x = x.int() if x.dtype == torch.bool else x.double() if x.dtype == torch.int64 else x
    return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)


def _angles(fn: Callable) -> Callable:
    # Keras returns float64 for int64 input (torch would give float32).
    return lambda x: fn(x).double() if x.dtype == torch.int64 else fn(x)


i0 = _unary("i0", _i0, "Modified Bessel function of the first kind, order 0.")
cbrt = _unary("cbrt", _cbrt, "Real cube root; integers give float32 (int64 float64).")
deg2rad = _unary("deg2rad", _angles(torch.deg2rad), "Degrees to radians.")
rad2deg = _unary("rad2deg", _angles(torch.rad2deg), "Radians to degrees.")


# ---- unary: rounding, signs and tests ------------------------------------------------------------------
trunc = _unary("trunc", lambda x: x if x.dtype == torch.bool else torch.trunc(x), "Rounds toward zero.")
signbit = _unary("signbit", torch.signbit, "Where the sign bit is set (``-0.0`` included), as bool.")
isinf = _unary("isinf", torch.isinf, "Where ``x`` is +inf or -inf, as bool.")
isposinf = _unary("isposinf", torch.isposinf, "Where ``x`` is +inf, as bool.")
isneginf = _unary("isneginf", torch.isneginf, "Where ``x`` is -inf, as bool.")
isreal = _unary("isreal", torch.isreal, "Where the imaginary part is zero (always, for real dtypes), as bool.")


@operation(elementwise=True)
def nan_to_num(x, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> torch.Tensor:
    """NaN as ``nan``, +inf and -inf as ``posinf``/``neginf`` (default: the dtype's largest and smallest)."""
    return torch.nan_to_num(to_tensor(x), nan=nan, posinf=posinf, neginf=neginf)


# ---- unary: complex numbers ---------------------------------------------------------------------------
conjugate = _unary("conjugate", lambda x: torch.conj(x).resolve_conj(), "Complex conjugate; real ``x`` unchanged.")
conj = conjugate  # Keras' alias: the same op (Conjugate)
real = _unary("real", torch.real, "Real part; real ``x`` unchanged.")
imag = _unary("imag", lambda x: torch.imag(x) if x.is_complex() else torch.zeros_like(x),
              "Imaginary part; zeros for real ``x``.")


def _angle(x: torch.Tensor) -> torch.Tensor:
    # torch has no float16 angle on CUDA: Keras computes it in float32 there.
    if x.dtype == torch.float16 and x.device.type != "cpu":
        return torch.angle(x.float()).half()
    return torch.angle(x)


angle = _unary("angle", _angle, "Argument of complex ``x`` (0 or pi for real ``x``); integers give float32.")


# ---- bitwise ------------------------------------------------------------------------------------------
def _bitwise(name: str, fn: Callable, doc: str) -> Callable:
    def op(x, y):
        return fn(*to_tensors(x, y))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _shift(name: str, fn: Callable, doc: str) -> Callable:
    def op(x, y):
        x = to_tensor(x)
        # A Python int shift keeps x's dtype (int8 stays int8); a tensor shift promotes with it.
        return fn(x, y if isinstance(y, int) else to_tensor(y, device=x.device))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


bitwise_and = _bitwise("bitwise_and", torch.bitwise_and, "Bitwise AND of integers (logical AND of bools).")
bitwise_or = _bitwise("bitwise_or", torch.bitwise_or, "Bitwise OR of integers (logical OR of bools).")
bitwise_xor = _bitwise("bitwise_xor", torch.bitwise_xor, "Bitwise XOR of integers (logical XOR of bools).")
bitwise_invert = _unary("bitwise_invert", torch.bitwise_not, "Bitwise NOT (``~x``) of integers or bools.")
bitwise_not = _unary("bitwise_not", torch.bitwise_not, "Bitwise NOT (``~x``) of integers or bools.")
bitwise_left_shift = _shift("bitwise_left_shift", torch.bitwise_left_shift, "``x << y``: ``x * 2 ** y``.")
bitwise_right_shift = _shift("bitwise_right_shift", torch.bitwise_right_shift, "``x >> y``: ``x // 2 ** y``.")
left_shift = _shift("left_shift", torch.bitwise_left_shift, "``x << y``: ``x * 2 ** y``.")
right_shift = _shift("right_shift", torch.bitwise_right_shift, "``x >> y``: ``x // 2 ** y``.")
logical_xor = _binary("logical_xor", torch.logical_xor, "Element-wise XOR of truth values, as bool.")
gcd = _binary("gcd", torch.gcd, "Greatest common divisor of integers (non-negative).")
lcm = _binary("lcm", torch.lcm, "Least common multiple of integers (non-negative).")


# ---- binary maths ---------------------------------------------------------------------------------------
def _float_binary(name: str, fn: Callable, doc: str) -> Callable:
    """An op computed in Keras' floating result type of ``x1`` and ``x2`` (float16 via float32 on the CPU)."""
    def op(x1, x2):
        x1, x2 = to_tensors(x1, x2)
        return _in_float32_on_cpu(fn, x1, x2, promote(x1.dtype, x2.dtype, float))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _zero_safe(fn: Callable, x1: torch.Tensor, x2) -> torch.Tensor:
    """``fn(x1, x2)`` for a division-like ``fn``, 0 where an integer ``x2`` is 0 (as in NumPy): torch raises there,
    which would also stop functional models, whose shapes come from running the op on zeros."""
    if not isinstance(x2, torch.Tensor) or torch.result_type(x1, x2).is_floating_point:
        return fn(x1, x2)
    zero = x2 == 0
    return torch.where(zero, 0, fn(x1, torch.where(zero, 1, x2)))


def _remainder(name: str, fn: Callable, doc: str) -> Callable:
    def op(x1, x2):
        x1, x2 = to_tensors(x1, x2)
        if x1.dtype == x2.dtype == torch.bool:  # torch has no remainder of bools
            x1, x2 = x1.int(), x2.int()
        elif x1.dtype == torch.bool or x2.dtype == torch.bool:  # one bool: it takes the other's dtype, as in torch
            x1, x2 = (x1.to(x2.dtype), x2) if x1.dtype == torch.bool else (x1, x2.to(x1.dtype))
        return _zero_safe(fn, x1, x2)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _real_float_binary(name: str, fn: Callable, doc: str) -> Callable:
    """An op in the promoted dtype of ``x1`` and ``x2``, integers as floatx (Keras' hypot, heaviside)."""
    def op(x1, x2):
        x1, x2 = to_tensors(x1, x2)
        dtype = promote(x1.dtype, x2.dtype)
        dtype = float_dtype() if dtype != torch.bool and not dtype.is_floating_point else dtype
        return fn(x1.to(dtype), x2.to(dtype))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _divide_no_nan(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    zero = x2 == 0
    return torch.where(zero, torch.zeros_like(x1), x1 / torch.where(zero, torch.ones_like(x2), x2))


arctan2 = _float_binary("arctan2", torch.arctan2, "Angle of the point ``(x2, x1)``, in ``[-pi, pi]``.")
logaddexp = _float_binary("logaddexp", torch.logaddexp, "``log(exp(x1) + exp(x2))``, computed stably.")
logaddexp2 = _float_binary("logaddexp2", torch.logaddexp2, "``log2(2 ** x1 + 2 ** x2)``, computed stably.")
nextafter = _float_binary("nextafter", lambda a, b: torch.nextafter(a.double(), b.double()),
                          "The next float after ``x1`` towards ``x2`` (found in float64, as Keras does).")
hypot = _real_float_binary("hypot", torch.hypot, "``sqrt(x1 ** 2 + x2 ** 2)``, without overflow.")
heaviside = _real_float_binary("heaviside", torch.heaviside, "0 where ``x1 < 0``, 1 where ``x1 > 0``, ``x2`` at 0.")
fmod = _remainder("fmod", torch.fmod, "Remainder of ``x1 / x2`` with the sign of ``x1`` (C's fmod).")
mod = _remainder("mod", torch.remainder, "Remainder of ``x1 / x2`` with the sign of ``x2`` (Python's ``%``).")
fmax = _weak_binary("fmax", torch.fmax, "The larger of ``x1`` and ``x2``, ignoring NaN where one is a number.")
fmin = _weak_binary("fmin", torch.fmin, "The smaller of ``x1`` and ``x2``, ignoring NaN where one is a number.")
divide_no_nan = _weak_binary("divide_no_nan", _divide_no_nan, "``x1 / x2``, 0 where ``x2`` is 0; as floats.",
                             floating=True)


@operation(elementwise=True)
def floor_divide(x1, x2) -> torch.Tensor:
    """``x1 // x2`` (rounded toward -inf), in Keras' result type where Python numbers stay weak."""
    t1, t2 = to_tensors(x1, x2)
    dtype = promote(weak_dtype(x1, t1), weak_dtype(x2, t2))
    # Keras' torch backend hands a Python number beside a tensor to torch as it is.
    b = x2 if isinstance(x2, (int, float)) and not isinstance(x1, (int, float)) else t2
    return _zero_safe(torch.floor_divide, t1, b).to(dtype)


@operation(elementwise=True)
def ldexp(x1, x2) -> torch.Tensor:
    """``x1 * 2 ** x2`` for integer exponents ``x2``; the result is floating."""
    x1, x2 = to_tensors(x1, x2)
    if x2.dtype == torch.bool or x2.is_floating_point() or x2.is_complex():
        raise TypeError(f"ldexp: the exponent `x2` must have an integer dtype; received {x2.dtype}.")
    # Broadcast first: torch.ldexp writes into a scalar x1's shape, which torch deprecates resizing.
    return torch.ldexp(*torch.broadcast_tensors(x1, x2)).to(promote(x1.dtype, x2.dtype, float))


@operation(elementwise=True)
def isclose(x1, x2, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> torch.Tensor:
    """Where ``|x1 - x2| <= atol + rtol * |x2|``, as bool; NaNs equal each other only with ``equal_nan``."""
    x1, x2 = to_tensors(x1, x2)
    dtype = promote(x1.dtype, x2.dtype)
    x1, x2 = x1.to(dtype), x2.to(dtype)
    if dtype.is_floating_point:
        return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return torch.eq(x1, x2)  # integers and bools: exact


# This module's ops: its functions registered as ops (those made by numpy's _unary and _binary carry that
# module's __module__).
__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value) and getattr(value, "__name__", None) in OPERATIONS]
