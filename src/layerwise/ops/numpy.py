"""Keras' NumPy-like maths ops: element-wise functions, comparisons, reductions and products.

Each takes tensors, numpy arrays or Python numbers (see ``ops/core.py`` for the conversion) and returns
a torch tensor; called on a ``KerasTensor`` it records a node of a functional model instead. Dtypes
follow Keras' torch backend: integer and bool inputs of ``mean``, ``sqrt``, ``exp``... give float32, ``sum`` and
``prod`` of int32 or bool give int32, comparisons give bool. Where Keras applies its promotion rule
(``ops/promotion.py``: products, ``maximum``, ``floor``, ``prod``, ``var``, ``norm``, ``cumsum``), 64-bit
inputs give 32-bit results, float64 torch tensors as well as numpy arrays; elsewhere (``add``, ``mean``...)
torch's promotion applies and float64 stays float64, as in Keras.
"""
from __future__ import annotations

import builtins
from typing import Callable

import torch

from layerwise.backend import float_dtype
from layerwise.layers.operations import operation
from layerwise.ops.core import standardize_dtype, to_axes, to_tensor, to_tensors
from layerwise.ops.promotion import promote, weak_dtype

_SMALL_INTS = (torch.bool, torch.int8, torch.int16, torch.int32, torch.uint8)


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when floating, else as float32 (how Keras computes means and variances of ints)."""
    return x if x.is_floating_point() else x.float()


def _to(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype``; itself when it already is (``Tensor.to`` costs a microsecond even then)."""
    return x if x.dtype == dtype else x.to(dtype)


def _cpu_half(dtype: torch.dtype, x: torch.Tensor) -> torch.dtype:
    """``dtype``, or float32 for float16 on the CPU, where Keras computes products and sums in float32."""
    return torch.float32 if dtype == torch.float16 and x.device.type == "cpu" else dtype


def _unary(name: str, fn: Callable, doc: str) -> Callable:
    def op(x):
        return fn(to_tensor(x))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _binary(name: str, fn: Callable, doc: str) -> Callable:
    def op(x1, x2):
        return fn(*to_tensors(x1, x2))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _weak_binary(name: str, fn: Callable, doc: str, floating: bool = False) -> Callable:
    """An op in Keras' result type of ``x1`` and ``x2`` (at least floatx when ``floating``), where Python numbers
    do not widen a tensor's dtype."""
    def op(x1, x2):
        t1, t2 = to_tensors(x1, x2)
        dtype = promote(weak_dtype(x1, t1), weak_dtype(x2, t2), *([float] if floating else []))
        return fn(_to(t1, dtype), _to(t2, dtype))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


def _subtract(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    # torch subtracts no bools: as Keras, a bool operand takes the other's dtype (two bools still fail, as there).
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.subtract(x1, x2)


def _floor(x: torch.Tensor) -> torch.Tensor:
    # Keras casts to its floating result type first: integers give floatx, float64 float32.
    return torch.floor(_to(x, promote(x.dtype, float)))


def _ceil(x: torch.Tensor) -> torch.Tensor:
    # Keras rounds first (bools as uint8), then casts to the same type as floor.
    dtype = promote(x.dtype, float)
    x = x.to(torch.uint8) if x.dtype == torch.bool else x
    return _to(torch.ceil(_to(x, _cpu_half(x.dtype, x))), dtype)


# ---- element-wise ------------------------------------------------------------------------------
absolute = _unary("absolute", lambda x: x if x.dtype == torch.bool else torch.abs(x), "``|x|`` element-wise.")
abs = absolute  # Keras' alias: the same op (Absolute)
negative = _unary("negative", torch.neg, "``-x`` element-wise.")
square = _unary("square", lambda x: torch.square(x.int() if x.dtype == torch.bool else x), "``x * x``.")
sqrt = _unary("sqrt", torch.sqrt, "Square root; integers give float32.")
exp = _unary("exp", torch.exp, "``e ** x``.")
log = _unary("log", torch.log, "Natural logarithm.")
log1p = _unary("log1p", torch.log1p, "``log(1 + x)``, accurate for small ``x``.")
expm1 = _unary("expm1", torch.expm1, "``exp(x) - 1``, accurate for small ``x``.")
sin = _unary("sin", torch.sin, "Sine.")
cos = _unary("cos", torch.cos, "Cosine.")
tanh = _unary("tanh", torch.tanh, "Hyperbolic tangent.")
sign = _unary("sign", torch.sign, "-1, 0 or 1 by the sign of each element.")
floor = _unary("floor", _floor, "Largest integer not above ``x`` (as floats).")
ceil = _unary("ceil", _ceil, "Smallest integer not below ``x`` (as floats).")
logical_not = _unary("logical_not", torch.logical_not, "Element-wise NOT, as bool.")
isnan = _unary("isnan", torch.isnan, "Where ``x`` is NaN, as bool.")
isfinite = _unary("isfinite", torch.isfinite, "Where ``x`` is neither infinite nor NaN, as bool.")

add = _binary("add", torch.add, "``x1 + x2`` with broadcasting.")
subtract = _binary("subtract", _subtract, "``x1 - x2`` with broadcasting; a bool operand counts as 0 and 1.")
multiply = _binary("multiply", torch.multiply, "``x1 * x2`` with broadcasting.")
divide = _binary("divide", torch.true_divide, "``x1 / x2``; integers give float32.")
true_divide = _binary("true_divide", torch.true_divide, "``x1 / x2``; integers give float32.")
power = _binary("power", torch.pow, "``x1 ** x2`` with broadcasting.")
maximum = _weak_binary("maximum", torch.maximum, "The larger of ``x1`` and ``x2``, element-wise.")
minimum = _weak_binary("minimum", torch.minimum, "The smaller of ``x1`` and ``x2``, element-wise.")
logical_and = _binary("logical_and", torch.logical_and, "Element-wise AND, as bool.")
logical_or = _binary("logical_or", torch.logical_or, "Element-wise OR, as bool.")
equal = _binary("equal", torch.eq, "``x1 == x2``, as bool.")
not_equal = _binary("not_equal", torch.ne, "``x1 != x2``, as bool.")
greater = _binary("greater", torch.gt, "``x1 > x2``, as bool.")
greater_equal = _binary("greater_equal", torch.ge, "``x1 >= x2``, as bool.")
less = _binary("less", torch.lt, "``x1 < x2``, as bool.")
less_equal = _binary("less_equal", torch.le, "``x1 <= x2``, as bool.")


@operation(elementwise=True)
def round(x, decimals: int = 0) -> torch.Tensor:
    """Round half to even, to ``decimals`` places; integers stay integers."""
    x = to_tensor(x)
    if x.is_floating_point():
        return torch.round(x, decimals=decimals)
    return x if decimals >= 0 else torch.round(x.float(), decimals=decimals).to(x.dtype)


@operation(elementwise=True)
def clip(x, x_min, x_max) -> torch.Tensor:
    """``x`` limited to ``[x_min, x_max]``; bounds broadcast against ``x``. As in Keras, number bounds keep
    ``x``'s dtype where they are of its kind (float16 stays float16, uint8 with int bounds uint8), bools
    become int32, and float16 stays float16 on the CPU whatever the bounds."""
    x, low, high = to_tensors(x, x_min, x_max)
    if x.dtype == torch.bool:
        x = x.int()
    if x.dtype == torch.float16 and x.device.type == "cpu":  # Keras clips in float32 there, then casts back
        return torch.clamp(x.float(), low, high).half()
    return torch.clamp(x, low, high)  # torch's promotion: 0-d bounds (numbers) do not widen x's dtype


# ---- reductions: ``axis`` None (all), an int or a tuple; ``keepdims`` keeps reduced axes as size 1 -----
@operation()
def sum(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Sum over ``axis``; int32 and bool inputs give int32."""
    x = to_tensor(x)
    if axis == () or axis == []:
        return x
    out = torch.sum(x, dim=to_axes(axis, x.ndim), keepdim=keepdims)
    return out.to(torch.int32) if x.dtype in _SMALL_INTS else out


@operation()
def mean(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Mean over ``axis``; integer and bool inputs give float32."""
    x = to_tensor(x)
    if axis == () or axis == []:
        return x
    return torch.mean(_float(x), dim=to_axes(axis, x.ndim), keepdim=keepdims)


def _extreme(x, axis, keepdims: bool, initial, reduce: Callable, combine: Callable, op: str) -> torch.Tensor:
    x = to_tensor(x)
    if x.numel() == 0:
        if initial is None:
            raise ValueError(f"ops.{op} of an empty tensor (shape {tuple(x.shape)}) needs an `initial` value.")
        return torch.full((1,) * x.ndim if keepdims else (), initial, dtype=x.dtype, device=x.device)
    # no axes reduces nothing (torch's dim=() would reduce every axis)
    out = x if isinstance(axis, (tuple, list)) and not axis else reduce(x, dim=to_axes(axis, x.ndim), keepdim=keepdims)
    return out if initial is None else combine(out, torch.as_tensor(initial, dtype=out.dtype, device=out.device))


@operation()
def max(x, axis=None, keepdims: bool = False, initial=None) -> torch.Tensor:
    """Largest value over ``axis``, at least ``initial`` when given."""
    return _extreme(x, axis, keepdims, initial, torch.amax, torch.maximum, "max")


@operation()
def min(x, axis=None, keepdims: bool = False, initial=None) -> torch.Tensor:
    """Smallest value over ``axis``, at most ``initial`` when given."""
    return _extreme(x, axis, keepdims, initial, torch.amin, torch.minimum, "min")


@operation()
def prod(x, axis=None, keepdims: bool = False, dtype=None) -> torch.Tensor:
    """Product over ``axis``, accumulated in the result's dtype: bool and integers up to 32 bits give int32,
    64-bit types their 32-bit ones (Keras' rule), unless ``dtype`` is given."""
    x = to_tensor(x)
    axes = [a % x.ndim for a in to_axes(axis, x.ndim)] if x.ndim else []
    out_dtype = standardize_dtype(dtype) if dtype is not None else promote(x.dtype)
    if out_dtype in (torch.bool, torch.int8, torch.int16, torch.uint8):
        out_dtype = torch.int32
    # torch.prod reduces one axis: the axes move to the end and become one.
    flat = x.movedim(axes, list(range(x.ndim - len(axes), x.ndim))).flatten(x.ndim - len(axes)) if axes \
        else x.reshape(*x.shape, 1)
    out = torch.prod(flat, dim=-1, dtype=_cpu_half(out_dtype, x))
    if keepdims:
        out = out.reshape([1 if i in axes else d for i, d in enumerate(x.shape)])
    return _to(out, out_dtype)


@operation()
def std(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation (no Bessel correction) over ``axis``."""
    x = to_tensor(x)
    return torch.std(_float(x), dim=to_axes(axis, x.ndim), correction=0, keepdim=keepdims)


@operation()
def var(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population variance (no Bessel correction) over ``axis``: computed in float32 at least, returned as
    floatx for integers, float16 for float16 and float32 for float64 (Keras' rule)."""
    x = to_tensor(x)
    out_dtype = promote(x.dtype, float)
    if axis == () or axis == []:
        return torch.zeros_like(x, dtype=out_dtype)
    x = _to(x, promote(x.dtype, torch.float32))
    return _to(torch.var(x, dim=to_axes(axis, x.ndim), correction=0, keepdim=keepdims), out_dtype)


def _arg_extreme(fn: Callable, x, axis, keepdims: bool) -> torch.Tensor:
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return fn(x, dim=axis, keepdim=keepdims).to(torch.int32)


@operation()
def argmax(x, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the largest value along ``axis``, or in the flattened ``x`` when None."""
    return _arg_extreme(torch.argmax, x, axis, keepdims)


@operation()
def argmin(x, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the smallest value along ``axis``, or in the flattened ``x`` when None."""
    return _arg_extreme(torch.argmin, x, axis, keepdims)


@operation()
def cumsum(x, axis: int | None = None, dtype=None) -> torch.Tensor:
    """Running sum along ``axis`` (of the flattened ``x`` when None), in ``dtype`` or ``x``'s by Keras' rule:
    bool gives int32, 64-bit types their 32-bit ones."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    out_dtype = promote(standardize_dtype(dtype) if dtype is not None else x.dtype)
    out_dtype = torch.int32 if out_dtype == torch.bool else out_dtype
    return _to(torch.cumsum(x, dim=axis, dtype=_cpu_half(out_dtype, x)), out_dtype)


@operation()
def norm(x, ord=None, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Vector norm over one axis (or all elements when ``axis`` is None), matrix norm over two; integers give
    floatx, float64 float32 (Keras' rule)."""
    x = to_tensor(x)
    return torch.linalg.norm(_to(x, promote(x.dtype, float)), ord=ord, dim=axis, keepdim=keepdims)


# ---- products: in Keras' result type of the operands (int8 with int8 is int32 for matmul and einsum) ----------
def _integer_compute(dtype: torch.dtype, x: torch.Tensor) -> torch.dtype:
    """The dtype an integer product is computed in: itself on the CPU (exact, as Keras), floatx elsewhere (torch
    multiplies integer matrices only on the CPU)."""
    return dtype if x.device.type == "cpu" else float_dtype()


@operation()
def matmul(x1, x2) -> torch.Tensor:
    """Matrix product ``(..., n, k) @ (..., k, m) -> (..., n, m)`` with batch broadcasting; two int8 operands
    give int32 (no wrapping), two bools a bool (any nonzero sum)."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.int32 if x1.dtype == x2.dtype == torch.int8 else promote(x1.dtype, x2.dtype)
    if dtype == torch.bool:
        compute = float_dtype()
    elif dtype.is_floating_point or dtype.is_complex:
        compute = _cpu_half(dtype, x1)
    else:
        compute = _integer_compute(dtype, x1)
    return _to(torch.matmul(_to(x1, compute), _to(x2, compute)), dtype)


@operation()
def dot(x1, x2) -> torch.Tensor:
    """``x1 * x2`` when either is a scalar, else their matrix product (``matmul``), computed in floating point."""
    x1, x2 = to_tensors(x1, x2)
    dtype = promote(x1.dtype, x2.dtype)
    compute = _cpu_half(promote(dtype, float), x1)
    a, b = _to(x1, compute), _to(x2, compute)
    out = a * b if a.ndim == 0 or b.ndim == 0 else torch.matmul(a, b)
    return _to(out, dtype)


@operation()
def einsum(subscripts: str, *operands, **kwargs) -> torch.Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``; operands that are all int8 give int32 (no
    wrapping), others torch's common dtype."""
    operands = to_tensors(*operands)
    dtype = operands[0].dtype
    for t in operands[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if builtins.all(t.dtype == torch.int8 for t in operands):
        dtype = torch.int32
        compute = _integer_compute(dtype, operands[0])
    else:
        compute = dtype
    return _to(torch.einsum(subscripts, *[_to(t, compute) for t in operands]), dtype)


@operation()
def tensordot(x1, x2, axes=2) -> torch.Tensor:
    """Sum of products over ``axes``: the last ``axes`` of ``x1`` and first of ``x2``, or two lists of axes."""
    x1, x2 = to_tensors(x1, x2)
    dtype = promote(x1.dtype, x2.dtype)
    compute = _cpu_half(promote(dtype, float), x1)
    if isinstance(axes, (list, tuple)):
        axes = tuple(list(a) if isinstance(a, (list, tuple)) else [a] for a in axes)
    return _to(torch.tensordot(_to(x1, compute), _to(x2, compute), dims=axes), dtype)


# This module's ops (it shadows the builtins abs, sum, max, min and round on purpose, as Keras' does).
__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
