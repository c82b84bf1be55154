"""Keras' NumPy-like reductions and statistics: ``all``/``any``, ``amax``, ``average``, quantiles and
medians, the NaN-ignoring ``nan*`` family, running products, ``argpartition``, ``corrcoef``,
``correlate``, ``trapezoid``, ``logsumexp``.

Every op takes tensors, numpy arrays or Python numbers (see ``ops/core.py``) and returns torch tensors,
or records a node when called on a ``KerasTensor``. ``axis`` is None (every axis), an int or a tuple;
``keepdims`` keeps reduced axes as size 1, also when ``axis`` is None (NumPy's rule). Statistics of
integers and bools are float32, as in Keras.
"""
from __future__ import annotations

import builtins
from typing import Callable

import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype
from layerwise.layers.operations import operation
from layerwise.ops.core import standardize_dtype, to_axes, to_tensor, to_tensors
from layerwise.ops.numpy import argmax, argmin, cumsum, prod
from layerwise.ops.promotion import promote

_SMALL_INTS = (torch.bool, torch.int8, torch.int16, torch.uint8)
_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when floating, else as float32 (Keras' dtype for statistics of integers)."""
    return x if x.is_floating_point() else x.to(float_dtype())


def _axes(x: torch.Tensor, axis) -> tuple[int, ...]:
    """``axis`` as a tuple of non-negative axes of ``x`` (every axis when None)."""
    axes, size = to_axes(axis, x.ndim), max(x.ndim, 1)
    if builtins.any(not -size <= a < size for a in axes):
        raise IndexError(f"axis {axis} is out of range for an input of {x.ndim} axes")
    return tuple(a % x.ndim for a in axes) if x.ndim else ()


# ---- logical and extreme values ---------------------------------------------------------------------
@operation("all")
def all(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Whether every element along ``axis`` is true (non-zero), as bool."""
    x = to_tensor(x)
    return x.bool() if axis in ((), []) else torch.all(x, dim=_axes(x, axis), keepdim=keepdims).bool()


@operation("any")
def any(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Whether some element along ``axis`` is true (non-zero), as bool."""
    x = to_tensor(x)
    return x.bool() if axis in ((), []) else torch.any(x, dim=_axes(x, axis), keepdim=keepdims).bool()


@operation()
def amax(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Largest value along ``axis``."""
    x = to_tensor(x)
    return x if axis in ((), []) else torch.amax(x, dim=_axes(x, axis), keepdim=keepdims)


@operation()
def amin(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Smallest value along ``axis``."""
    x = to_tensor(x)
    return x if axis in ((), []) else torch.amin(x, dim=_axes(x, axis), keepdim=keepdims)


@operation()
def ptp(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Range (``max - min``) along ``axis``."""
    x = to_tensor(x)
    if axis in ((), []):
        return torch.zeros_like(x)
    axes = _axes(x, axis)
    return torch.amax(x, dim=axes, keepdim=keepdims) - torch.amin(x, dim=axes, keepdim=keepdims)


@operation("all_close")  # Keras' AllClose
def allclose(x1, x2, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> torch.Tensor:
    """Whether ``|x1 - x2| <= atol + rtol * |x2|`` everywhere (exact equality for integers), as a bool scalar."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    x1, x2 = x1.to(dtype), x2.to(dtype)
    if not dtype.is_floating_point:
        return torch.all(torch.eq(x1, x2))
    return torch.all(torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


@operation()
def count_nonzero(x, axis=None) -> torch.Tensor:
    """Number of non-zero elements along ``axis``, as int32."""
    x = to_tensor(x)
    if axis in ((), []):
        return torch.ne(x, 0).to(torch.int32)
    return torch.count_nonzero(x, dim=_axes(x, axis)).to(torch.int32)


# ---- means and sums ---------------------------------------------------------------------------------
@operation()
def average(x, axis=None, weights=None) -> torch.Tensor:
    """Mean along ``axis``, weighted by ``weights`` (the shape of ``x``, or 1-D along ``axis``)."""
    x = to_tensor(x)
    weights = None if weights is None else to_tensor(weights, device=x.device)
    dtype = promote(x.dtype, *([] if weights is None else [weights.dtype]), floating=True)
    x = x.to(dtype)
    if axis in ((), []):
        return x
    if weights is None:
        return torch.mean(x, dim=_axes(x, axis))
    weights = weights.to(dtype)
    if weights.shape != x.shape:
        if weights.ndim != 1 or not isinstance(axis, int) or weights.shape[0] != x.shape[axis]:
            raise ValueError(f"ops.average: weights of shape {tuple(weights.shape)} must have the shape of x "
                             f"{tuple(x.shape)}, or be 1-D with the length of axis {axis}.")
        weights = weights.reshape([-1 if i == axis % x.ndim else 1 for i in range(x.ndim)]).expand(x.shape)
    axes = _axes(x, axis)
    return torch.sum(x * weights, dim=axes) / torch.sum(weights, dim=axes)


@operation()
def logsumexp(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """``log(sum(exp(x)))`` along ``axis``, computed stably."""
    x = _float(to_tensor(x))
    return torch.logsumexp(x, dim=_axes(x, axis), keepdim=keepdims)


@operation()
def nansum(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Sum along ``axis`` with NaNs counted as zero; bool and small integers give int32."""
    x = to_tensor(x)
    dtype = torch.int32 if x.dtype in _SMALL_INTS else x.dtype
    if axis in ((), []):
        return torch.nan_to_num(x.to(dtype), nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    return torch.nansum(x.to(dtype), dim=_axes(x, axis), keepdim=keepdims).to(dtype)


@operation()
def nanprod(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Product along ``axis`` with NaNs counted as one."""
    x = to_tensor(x)
    if x.is_floating_point():
        x = torch.where(torch.isnan(x), torch.ones((), dtype=x.dtype, device=x.device), x)
    return x if axis in ((), []) else prod(x, axis=axis, keepdims=keepdims)


@operation()
def nanmean(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Mean along ``axis`` of the elements that are not NaN (NaN where there are none)."""
    x = to_tensor(x)
    if axis in ((), []):
        return x
    return torch.nanmean(x.to(promote(x.dtype, floating=True)), dim=_axes(x, axis), keepdim=keepdims)


@operation()
def nanvar(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population variance along ``axis`` of the elements that are not NaN."""
    x = to_tensor(x)
    x = x.to(promote(x.dtype, floating=True))
    valid = ~torch.isnan(x)
    if axis in ((), []):
        return torch.where(valid, torch.zeros_like(x), x)
    axes = _axes(x, axis)
    centered = torch.where(valid, x - torch.nanmean(x, dim=axes, keepdim=True), torch.zeros_like(x))
    return centered.square().sum(dim=axes, keepdim=keepdims) / valid.sum(dim=axes, keepdim=keepdims)


@operation()
def nanstd(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation along ``axis`` of the elements that are not NaN."""
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _nan_extreme(x, axis, keepdims: bool, reduce: Callable, fill: float) -> torch.Tensor:
    x = to_tensor(x)
    if axis in ((), []):
        return x
    axes = _axes(x, axis)
    if not x.is_floating_point():
        return reduce(x, dim=axes, keepdim=keepdims)
    nan = torch.isnan(x)
    out = reduce(torch.where(nan, torch.full((), fill, dtype=x.dtype, device=x.device), x), dim=axes,
                 keepdim=keepdims)
    return torch.where(torch.all(nan, dim=axes, keepdim=keepdims), torch.full_like(out, float("nan")), out)


@operation()
def nanmax(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Largest value along ``axis`` ignoring NaNs (NaN where every value is NaN)."""
    return _nan_extreme(x, axis, keepdims, torch.amax, float("-inf"))


@operation()
def nanmin(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Smallest value along ``axis`` ignoring NaNs (NaN where every value is NaN)."""
    return _nan_extreme(x, axis, keepdims, torch.amin, float("inf"))


def _nan_arg(x, axis, keepdims: bool, arg: Callable, fill: float) -> torch.Tensor:
    x = to_tensor(x)
    if not x.is_floating_point():
        return arg(x, axis=axis, keepdims=keepdims)
    nan = torch.isnan(x)
    out = arg(torch.where(nan, torch.full((), fill, dtype=x.dtype, device=x.device), x), axis=axis,
              keepdims=keepdims)
    if axis is None:
        every = torch.all(nan).reshape([1] * x.ndim if keepdims else [])
    else:
        every = torch.all(nan, dim=axis, keepdim=keepdims)
    return torch.where(every, torch.full_like(out, -1), out)


@operation()
def nanargmax(x, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the largest non-NaN value along ``axis``; -1 where every value is NaN."""
    return _nan_arg(x, axis, keepdims, argmax, float("-inf"))


@operation()
def nanargmin(x, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the smallest non-NaN value along ``axis``; -1 where every value is NaN."""
    return _nan_arg(x, axis, keepdims, argmin, float("inf"))


# ---- quantiles --------------------------------------------------------------------------------------
def _quantile(x, q, axis, method: str, keepdims: bool, fn: Callable, op: str) -> torch.Tensor:
    """``fn`` (torch.quantile or nanquantile) over ``axis``: the axes move to the end and become one."""
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"ops.{op}: method must be one of {_QUANTILE_METHODS}; received {method!r}.")
    x = to_tensor(x)
    result = promote(x.dtype, floating=True)
    x = x.to(torch.promote_types(result, torch.float32))  # torch.quantile needs float32 or float64
    q = to_tensor(q, device=x.device).to(x.dtype)
    axes = _axes(x, axis)
    kept = [a for a in range(x.ndim) if a not in axes]
    flat = x.permute((*kept, *axes)).reshape((*[x.shape[a] for a in kept], -1))  # tuples: a 0-d x has no axes
    out = fn(flat, q, dim=-1, interpolation=method)
    if keepdims:
        out = out.reshape((*q.shape, *[1 if a in axes else d for a, d in enumerate(x.shape)]))
    return out.to(result)


@operation()
def quantile(x, q, axis=None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """The ``q``-th quantiles (``q`` in [0, 1], a number or 1-D) along ``axis``; a 1-D ``q`` adds a leading
    axis. ``method``: "linear", "lower", "higher", "midpoint" or "nearest"."""
    return _quantile(x, q, axis, method, keepdims, torch.quantile, "quantile")


@operation()
def nanquantile(x, q, axis=None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """``quantile`` of the elements that are not NaN."""
    return _quantile(x, q, axis, method, keepdims, torch.nanquantile, "nanquantile")


@operation()
def percentile(x, q, axis=None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """The ``q``-th percentiles (``q`` in [0, 100]) along ``axis`` (see ``quantile``)."""
    return _quantile(x, to_tensor(q, float_dtype()) / 100.0, axis, method, keepdims, torch.quantile, "percentile")


@operation()
def nanpercentile(x, q, axis=None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """``percentile`` of the elements that are not NaN."""
    return _quantile(x, to_tensor(q, float_dtype()) / 100.0, axis, method, keepdims, torch.nanquantile,
                     "nanpercentile")


@operation()
def median(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Median along ``axis`` (the mean of the two middle values for an even count)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, torch.quantile, "median")


@operation()
def nanmedian(x, axis=None, keepdims: bool = False) -> torch.Tensor:
    """Median along ``axis`` of the elements that are not NaN."""
    x = to_tensor(x)
    return x if axis in ((), []) else _quantile(x, 0.5, axis, "linear", keepdims, torch.nanquantile, "nanmedian")


# ---- running products, partitions --------------------------------------------------------------------
@operation()
def cumprod(x, axis: int | None = None, dtype=None) -> torch.Tensor:
    """Running product along ``axis`` (of the flattened ``x`` when None); bool gives int32."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    out_dtype = promote(standardize_dtype(dtype) if dtype is not None else x.dtype)
    out_dtype = torch.int32 if out_dtype == torch.bool else out_dtype
    if out_dtype == torch.float16:  # torch's CPU cumprod has no float16 kernel
        return torch.cumprod(x, dim=axis, dtype=torch.float32).to(out_dtype)
    return torch.cumprod(x, dim=axis, dtype=out_dtype)


@operation()
def nancumsum(x, axis: int | None = None, dtype=None) -> torch.Tensor:
    """Running sum along ``axis`` with NaNs counted as zero."""
    x = to_tensor(x)
    if x.is_floating_point():
        x = torch.where(torch.isnan(x), torch.zeros((), dtype=x.dtype, device=x.device), x)
    return cumsum(x, axis=axis, dtype=promote(standardize_dtype(dtype) if dtype is not None else x.dtype))


@operation()
def nancumprod(x, axis: int | None = None, dtype=None) -> torch.Tensor:
    """Running product along ``axis`` with NaNs counted as one."""
    x = to_tensor(x)
    if x.is_floating_point():
        x = torch.where(torch.isnan(x), torch.ones((), dtype=x.dtype, device=x.device), x)
    return cumprod(x, axis=axis, dtype=dtype)


@operation()
def argpartition(x, kth: int, axis: int | None = -1) -> torch.Tensor:
    """Indices (int32) that partition ``x`` along ``axis``: the element at position ``kth`` is the one a
    sort puts there, smaller ones come before it and larger ones after (here in sorted order)."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    if not -x.shape[axis] <= kth < x.shape[axis]:
        raise ValueError(f"ops.argpartition: kth={kth} is out of range for axis {axis} of size {x.shape[axis]}.")
    return torch.argsort(x.to(torch.uint8) if x.dtype == torch.bool else x, dim=axis, stable=True).to(torch.int32)


# ---- correlation, integration ------------------------------------------------------------------------
@operation()
def corrcoef(x) -> torch.Tensor:
    """Pearson correlation coefficients of the rows (variables) of ``x`` (``(n, samples)`` -> ``(n, n)``)."""
    x = to_tensor(x)
    if not x.is_floating_point():
        x = x.to(torch.float64 if x.dtype == torch.int64 else float_dtype())
    return torch.corrcoef(x)


@operation()
def correlate(x1, x2, mode: str = "valid") -> torch.Tensor:
    """Cross-correlation of two 1-D sequences: ``out[k] = sum_n x1[n + k] * x2[n]``; ``mode`` "valid" (where
    they fully overlap), "same" (the longer one's length) or "full"."""
    x1, x2 = to_tensors(x1, x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"ops.correlate takes 1-D x1 and x2; received shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}.")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"ops.correlate: mode must be 'valid', 'same' or 'full'; received {mode!r}.")
    dtype = promote(x1.dtype, x2.dtype)
    dtype = dtype if dtype in (torch.bfloat16, torch.float16) else torch.float32
    n, m = x1.shape[0], x2.shape[0]
    full = F.conv1d(x1.to(dtype)[None, None], x2.to(dtype)[None, None], padding=m - 1)[0, 0]
    size = {"valid": max(n, m) - min(n, m) + 1, "same": max(n, m), "full": n + m - 1}[mode]
    start = (full.shape[0] - size) // 2
    return full[start:start + size]


@operation()
def trapezoid(y, x=None, dx: float = 1.0, axis: int = -1) -> torch.Tensor:
    """Integral of ``y`` along ``axis`` by the trapezoidal rule, at sample points ``x`` or spacing ``dx``."""
    y = _float(to_tensor(y))
    if x is not None:
        return torch.trapezoid(y, to_tensor(x, device=y.device), dim=axis)
    return torch.trapezoid(y, dx=float(dx), dim=axis)


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
