"""Keras' NumPy-like ops that create tensors (``array``, ``empty``, ``identity``, ``tri``, ``meshgrid``,
``geomspace``, ``logspace``, ``vander``, window functions), read and mask matrix diagonals and
triangles (``diag``, ``diagonal``, ``trace``, ``tril``...), and take products (``kron``, ``inner``,
``outer``, ``vdot``, ``cross``, ``cdist``).

Like the other ops each takes tensors, numpy arrays or Python numbers and returns torch tensors, or
records a node when called on a ``KerasTensor``. Functions of sizes only (``empty``, ``identity``,
``tri``, the windows) return tensors on ``layerwise.backend.get_device()``; new tensors are float32
unless a ``dtype`` is given.
"""
from __future__ import annotations

from typing import Callable

import torch

from layerwise.backend import float_dtype, get_device
from layerwise.layers.operations import operation
from layerwise.layers.symbolic import KerasTensor
from layerwise.ops.core import standardize_dtype, to_tensor, to_tensors
from layerwise.ops.promotion import promote


def _dtype(dtype, default: torch.dtype | None = None) -> torch.dtype:
    return standardize_dtype(dtype) if dtype is not None else default or float_dtype()


# ---- creation -----------------------------------------------------------------------------------------
@operation()
def array(x, dtype=None) -> torch.Tensor:
    """``x`` as a tensor (of ``dtype`` when given), as ``convert_to_tensor``."""
    return to_tensor(x, None if dtype is None else standardize_dtype(dtype))


@operation(elementwise=True)
def copy(x) -> torch.Tensor:
    """A copy of ``x`` (new memory)."""
    return torch.clone(to_tensor(x))


def empty(shape, dtype=None) -> torch.Tensor:
    """A tensor of ``shape`` with unset values."""
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)
    return torch.empty(shape, dtype=_dtype(dtype), device=get_device())


@operation(elementwise=True)
def empty_like(x, dtype=None) -> torch.Tensor:
    """A tensor of ``x``'s shape (and dtype, unless given) with unset values."""
    x = to_tensor(x)
    return torch.empty_like(x, dtype=_dtype(dtype, x.dtype))


def identity(n: int, dtype=None) -> torch.Tensor:
    """The ``(n, n)`` identity matrix."""
    return torch.eye(n, dtype=_dtype(dtype), device=get_device())


def tri(N: int, M: int | None = None, k: int = 0, dtype=None) -> torch.Tensor:
    """An ``(N, M)`` matrix of ones on and below diagonal ``k`` (above the main one when positive)."""
    return torch.ones(N, M or N, dtype=_dtype(dtype), device=get_device()).tril(k)


@operation()
def meshgrid(*x, indexing: str = "xy") -> tuple[torch.Tensor, ...]:
    """Coordinate grids of the 1-D ``x``: each output has every input's length as an axis (the first two
    swapped with ``indexing="xy"``, not with "ij") and holds its own input's values along its axis."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"ops.meshgrid: indexing must be 'xy' or 'ij'; received {indexing!r}.")
    vectors = [t.reshape(-1) for t in to_tensors(*x)]
    axes = list(range(len(vectors)))
    if indexing == "xy" and len(vectors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(vectors)
    for axis, v in zip(axes, vectors):
        shape[axis] = v.shape[0]
    return tuple(v.reshape([-1 if i == axis else 1 for i in range(len(shape))]).expand(shape)
                 for axis, v in zip(axes, vectors))


def _bounds(start, stop, dtype) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """``start`` and ``stop`` in the float dtype to compute in, and the dtype of the result (float32 by
    default)."""
    start, stop = to_tensors(start, stop)
    dtype = _dtype(dtype, promote(start.dtype, stop.dtype, floating=True))
    compute = dtype if dtype.is_floating_point else torch.float64
    return start.to(compute), stop.to(compute), dtype


def _exponents(start: torch.Tensor, stop: torch.Tensor, num: int, endpoint: bool) -> torch.Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` along a new first axis."""
    if not endpoint:
        stop = stop - (stop - start) / num
    steps = torch.arange(num, dtype=start.dtype, device=start.device) / max(num - 1, 1)
    return start[None] + steps.reshape(-1, *[1] * start.ndim) * (stop - start)[None]


@operation()
def logspace(start, stop, num: int = 50, endpoint: bool = True, base: float = 10, dtype=None, axis: int = 0):
    """``num`` values from ``base ** start`` to ``base ** stop``, evenly spaced in the exponent; array bounds
    give one sequence per element, along ``axis``."""
    start, stop, dtype = _bounds(start, stop, dtype)
    return torch.pow(base, _exponents(start, stop, num, endpoint)).movedim(0, axis).to(dtype)


@operation()
def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0):
    """``num`` values from ``start`` to ``stop`` (non-zero, of one sign) in a geometric progression; array
    bounds give one sequence per element, along ``axis``."""
    start, stop, dtype = _bounds(start, stop, dtype)
    exponents = _exponents(torch.log10(torch.abs(start)), torch.log10(torch.abs(stop)), num, endpoint)
    return (torch.pow(10.0, exponents) * torch.sign(start)).movedim(0, axis).to(dtype)


@operation()
def vander(x, N: int | None = None, increasing: bool = False) -> torch.Tensor:
    """The Vandermonde matrix of the 1-D ``x``: columns ``x ** (N - 1) .. x ** 0`` (ascending powers with
    ``increasing``); ``N`` defaults to ``len(x)``."""
    x = to_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander takes a 1-D x; received shape {tuple(x.shape)}.")
    if N is not None and (not isinstance(N, int) or N < 0):
        raise ValueError(f"ops.vander: N must be a non-negative int; received {N!r}.")
    return torch.vander(x, N=N, increasing=increasing).to(promote(x.dtype))


def _window(name: str, fn: Callable, x, **kwargs) -> torch.Tensor:
    """The symmetric window ``fn`` of ``x`` points (a number), as float32."""
    if isinstance(x, KerasTensor):
        raise TypeError(f"ops.{name} takes the window length as a number; received the symbolic {x!r}.")
    return fn(int(to_tensor(x)), dtype=float_dtype(), device=get_device(), **kwargs)


def bartlett(x) -> torch.Tensor:
    """The triangular window of ``x`` points."""
    return _window("bartlett", torch.signal.windows.bartlett, x)


def blackman(x) -> torch.Tensor:
    """The Blackman window of ``x`` points."""
    return _window("blackman", torch.signal.windows.blackman, x)


def hamming(x) -> torch.Tensor:
    """The Hamming window of ``x`` points."""
    return _window("hamming", torch.signal.windows.hamming, x)


def hanning(x) -> torch.Tensor:
    """The Hann window of ``x`` points."""
    return _window("hanning", torch.signal.windows.hann, x)


def kaiser(x, beta: float) -> torch.Tensor:
    """The Kaiser window of ``x`` points with shape parameter ``beta``."""
    return _window("kaiser", torch.signal.windows.kaiser, x, beta=float(beta))


# ---- diagonals and triangles --------------------------------------------------------------------------
@operation()
def diag(x, k: int = 0) -> torch.Tensor:
    """Diagonal ``k`` of the 2-D ``x``, or the square matrix with the 1-D ``x`` on diagonal ``k``."""
    return torch.diag(to_tensor(x), diagonal=k)


@operation()
def diagflat(x, k: int = 0) -> torch.Tensor:
    """The square matrix with the flattened ``x`` on diagonal ``k``."""
    return torch.diagflat(to_tensor(x), offset=k)


def _two_axes(op: str, x: torch.Tensor, axis1: int, axis2: int) -> None:
    if x.ndim < 2 or axis1 % x.ndim == axis2 % x.ndim:
        raise ValueError(f"ops.{op} needs two different axes of an input of 2 or more axes; received axis1={axis1}, "
                         f"axis2={axis2} for shape {tuple(x.shape)}.")


@operation()
def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """The diagonal ``offset`` of the matrices in axes ``axis1``, ``axis2``, as a new last axis."""
    x = to_tensor(x)
    _two_axes("diagonal", x, axis1, axis2)
    return torch.diagonal(x, offset=offset, dim1=axis1, dim2=axis2)


@operation()
def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """Sum of ``diagonal(x, offset, axis1, axis2)``; bool and small integers give int32."""
    x = to_tensor(x)
    _two_axes("trace", x, axis1, axis2)
    dtype = torch.int32 if x.dtype in (torch.bool, torch.int8, torch.int16, torch.uint8) else x.dtype
    return torch.sum(torch.diagonal(x, offset, axis1, axis2), dim=-1, dtype=dtype)


@operation(elementwise=True)
def tril(x, k: int = 0) -> torch.Tensor:
    """``x`` with the elements above diagonal ``k`` of its last two axes set to zero."""
    return torch.tril(to_tensor(x), diagonal=k)


@operation(elementwise=True)
def triu(x, k: int = 0) -> torch.Tensor:
    """``x`` with the elements below diagonal ``k`` of its last two axes set to zero."""
    return torch.triu(to_tensor(x), diagonal=k)


# ---- products -----------------------------------------------------------------------------------------
def _in_float(x1, x2, bit32: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """Both tensors in a float dtype torch's products take on every device, and their result dtype (by
    Keras' rule, 64-bit to 32-bit, when ``bit32``: Keras' cdist keeps 64 bits)."""
    x1, x2 = to_tensors(x1, x2)
    dtype = promote(x1.dtype, x2.dtype) if bit32 else torch.promote_types(x1.dtype, x2.dtype)
    compute = torch.promote_types(dtype, torch.float32)
    return x1.to(compute), x2.to(compute), dtype


@operation()
def kron(x1, x2) -> torch.Tensor:
    """Kronecker product: blocks ``x1[i, j] * x2``."""
    return torch.kron(*to_tensors(x1, x2))


@operation()
def inner(x1, x2) -> torch.Tensor:
    """Sum of products over the last axes: shape ``x1.shape[:-1] + x2.shape[:-1]``."""
    a, b, dtype = _in_float(x1, x2)
    return torch.inner(a, b).to(dtype)


@operation()
def outer(x1, x2) -> torch.Tensor:
    """``x1[i] * x2[j]`` for the flattened inputs: shape ``(x1.size, x2.size)``."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    return torch.outer(x1.reshape(-1).to(dtype), x2.reshape(-1).to(dtype))


@operation()
def vdot(x1, x2) -> torch.Tensor:
    """Dot product of the flattened inputs (conjugating ``x1`` when complex)."""
    a, b, dtype = _in_float(x1, x2)
    return torch.vdot(a.reshape(-1), b.reshape(-1)).to(dtype)


@operation()
def cross(x1, x2, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> torch.Tensor:
    """Cross product of 3-vectors along ``axisa`` of ``x1`` and ``axisb`` of ``x2`` (``axis`` sets all three),
    broadcast over the other axes; the vectors of the result lie along ``axisc``."""
    a, b, dtype = _in_float(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = a.movedim(axisa, -1), b.movedim(axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"ops.cross takes vectors of 3 components; received shapes {tuple(a.shape)} (axisa={axisa}) "
                         f"and {tuple(b.shape)} (axisb={axisb}).")
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=-1).movedim(-1, axisc).to(dtype)


@operation("c_dist")  # Keras' CDist
def cdist(x, y) -> torch.Tensor:
    """Euclidean distances between the rows of ``x`` ``(..., n, d)`` and of ``y`` ``(..., m, d)``:
    ``(..., n, m)``, batch axes broadcast."""
    x, y, _ = _in_float(x, y, bit32=False)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"ops.cdist takes x (..., n, d) and y (..., m, d); received shapes {tuple(x.shape)} and "
                         f"{tuple(y.shape)}.")
    batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    x, y = x.expand(*batch, *x.shape[-2:]), y.expand(*batch, *y.shape[-2:])
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
