"""Keras' NumPy-like maths ops: element-wise functions, comparisons, reductions and products.

Each takes tensors, numpy arrays or Python numbers (see ``ops/core.py`` for the conversion) and returns
a torch tensor; called on a ``KerasTensor`` it records a node of a functional model instead. Dtypes
follow Keras': integer and bool inputs of ``mean``, ``sqrt``, ``exp``... give float32, ``sum`` and
``prod`` of int32 or bool give int32, comparisons give bool.
"""
from __future__ import annotations

from typing import Callable

import torch

from layerwise.layers.operations import operation
from layerwise.ops.core import standardize_dtype, to_axes, to_tensor, to_tensors

_SMALL_INTS = (torch.bool, torch.int8, torch.int16, torch.int32, torch.uint8)


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when floating, else as float32 (how Keras computes means and variances of ints)."""
    return x if x.is_floating_point() else x.float()


def _promoted(*tensors: torch.Tensor, floating: bool = False) -> list[torch.Tensor]:
    """The tensors in their common dtype (float32 at least when ``floating``): matmul and friends need one."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if floating and not dtype.is_floating_point:
        dtype = torch.float32
    return [t.to(dtype) for t in tensors]


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


def _round_float(x: torch.Tensor, fn: Callable) -> torch.Tensor:
    # Keras returns float32 for floor and ceil of integers (it rounds in floating point).
    return fn(x if x.is_floating_point() else x.float())


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
floor = _unary("floor", lambda x: _round_float(x, torch.floor), "Largest integer not above ``x`` (as floats).")
ceil = _unary("ceil", lambda x: _round_float(x, torch.ceil), "Smallest integer not below ``x`` (as floats).")
logical_not = _unary("logical_not", torch.logical_not, "Element-wise NOT, as bool.")
isnan = _unary("isnan", torch.isnan, "Where ``x`` is NaN, as bool.")
isfinite = _unary("isfinite", torch.isfinite, "Where ``x`` is neither infinite nor NaN, as bool.")

add = _binary("add", torch.add, "``x1 + x2`` with broadcasting.")
subtract = _binary("subtract", torch.subtract, "``x1 - x2`` with broadcasting.")
multiply = _binary("multiply", torch.multiply, "``x1 * x2`` with broadcasting.")
divide = _binary("divide", torch.true_divide, "``x1 / x2``; integers give float32.")
true_divide = _binary("true_divide", torch.true_divide, "``x1 / x2``; integers give float32.")
power = _binary("power", torch.pow, "``x1 ** x2`` with broadcasting.")
maximum = _binary("maximum", torch.maximum, "The larger of ``x1`` and ``x2``, element-wise.")
minimum = _binary("minimum", torch.minimum, "The smaller of ``x1`` and ``x2``, element-wise.")
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
    """``x`` limited to ``[x_min, x_max]``; bounds broadcast against ``x``."""
    x, low, high = to_tensors(x, x_min, x_max)
    if x.dtype == torch.bool:
        x = x.int()
    dtype = torch.promote_types(torch.promote_types(x.dtype, low.dtype), high.dtype)
    return torch.clamp(x.to(dtype), low.to(dtype), high.to(dtype))


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
    out = reduce(x, dim=to_axes(axis, x.ndim), keepdim=keepdims)
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
    """Product over ``axis``; int32 and bool inputs give int32."""
    x = to_tensor(x)
    axes = [a % x.ndim for a in to_axes(axis, x.ndim)] if x.ndim else []
    out_dtype = standardize_dtype(dtype) if dtype is not None else (
        torch.int32 if x.dtype in _SMALL_INTS else x.dtype)
    # torch.prod reduces one axis: the axes move to the end and become one.
    flat = x.movedim(axes, list(range(x.ndim - len(axes), x.ndim))).flatten(x.ndim - len(axes)) if axes \
        else x.reshape(*x.shape, 1)
    out = torch.prod(flat, dim=-1)
    if keepdims:
        out = out.reshape([1 if i in axes else d for i, d in enumerate(x.shape)])
    return out.to(out_dtype)


@operation()
def std(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation (no Bessel correction) over ``axis``."""
    x = to_tensor(x)
    return torch.std(_float(x), dim=to_axes(axis, x.ndim), correction=0, keepdim=keepdims)


@operation()
def var(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population variance (no Bessel correction) over ``axis``."""
    x = to_tensor(x)
    return torch.var(_float(x), dim=to_axes(axis, x.ndim), correction=0, keepdim=keepdims)


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
    """Running sum along ``axis`` (of the flattened ``x`` when None); bool gives int32."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    out_dtype = standardize_dtype(dtype) if dtype is not None else x.dtype
    return torch.cumsum(x, dim=axis, dtype=torch.int32 if out_dtype == torch.bool else out_dtype)


@operation()
def norm(x, ord=None, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Vector norm over one axis (or all elements when ``axis`` is None), matrix norm over two."""
    x = to_tensor(x)
    x = x if x.is_floating_point() else x.float()
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)


# ---- products -------------------------------------------------------------------------------------
@operation()
def matmul(x1, x2) -> torch.Tensor:
    """Matrix product ``(..., n, k) @ (..., k, m) -> (..., n, m)`` with batch broadcasting."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    # torch multiplies integer matrices only on the CPU: compute in float32 and cast back, as Keras does.
    a, b = _promoted(x1, x2, floating=True)
    return torch.matmul(a, b).to(torch.float32 if dtype == torch.bool else dtype)


@operation()
def dot(x1, x2) -> torch.Tensor:
    """``x1 * x2`` when either is a scalar, else their matrix product (``matmul``)."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    a, b = _promoted(x1, x2, floating=True)
    out = a * b if a.ndim == 0 or b.ndim == 0 else torch.matmul(a, b)
    return out.to(dtype)


@operation()
def einsum(subscripts: str, *operands, **kwargs) -> torch.Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    return torch.einsum(subscripts, *_promoted(*to_tensors(*operands)))


@operation()
def tensordot(x1, x2, axes=2) -> torch.Tensor:
    """Sum of products over ``axes``: the last ``axes`` of ``x1`` and first of ``x2``, or two lists of axes."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    if isinstance(axes, (list, tuple)):
        axes = tuple(list(a) if isinstance(a, (list, tuple)) else [a] for a in axes)
    return torch.tensordot(*_promoted(x1, x2, floating=True), dims=axes).to(dtype)


# This module's ops (it shadows the builtins abs, sum, max, min and round on purpose, as Keras' does).
__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
