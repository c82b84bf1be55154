"""Keras' NumPy-like array ops: creating tensors, changing shapes, joining and splitting, indexing and
sorting (``keras.ops.reshape``, ``concatenate``, ``take``, ``top_k``...).

Like the maths ops (``ops/numpy.py``) each takes tensors, numpy arrays or numbers and returns torch
tensors, or records a node when called on a ``KerasTensor``. New tensors are float32 unless a
``dtype`` is given (``arange`` of integers gives int32, as in Keras).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype, get_device
from layerwise.layers.operations import operation
from layerwise.ops.core import standardize_dtype, to_tensor, to_tensors


def _dtype(dtype, default: torch.dtype | None = None) -> torch.dtype:
    """``dtype`` as a torch dtype; when None, ``default`` or else float32."""
    return standardize_dtype(dtype) if dtype is not None else default or float_dtype()


def _shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)


# ---- creation -------------------------------------------------------------------------------------
def zeros(shape, dtype=None) -> torch.Tensor:
    """A tensor of zeros, ``shape`` an int or a tuple."""
    return torch.zeros(_shape(shape), dtype=_dtype(dtype), device=get_device())


def ones(shape, dtype=None) -> torch.Tensor:
    """A tensor of ones, ``shape`` an int or a tuple."""
    return torch.ones(_shape(shape), dtype=_dtype(dtype), device=get_device())


def full(shape, fill_value, dtype=None) -> torch.Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (which may broadcast)."""
    value = to_tensor(fill_value, _dtype(dtype))
    return value.expand(_shape(shape)).clone()


@operation(elementwise=True)
def zeros_like(x, dtype=None) -> torch.Tensor:
    x = to_tensor(x)
    return torch.zeros_like(x, dtype=_dtype(dtype, x.dtype))


@operation(elementwise=True)
def ones_like(x, dtype=None) -> torch.Tensor:
    x = to_tensor(x)
    return torch.ones_like(x, dtype=_dtype(dtype, x.dtype))


@operation(elementwise=True)
def full_like(x, fill_value, dtype=None) -> torch.Tensor:
    x = to_tensor(x)
    return to_tensor(fill_value, _dtype(dtype, x.dtype), x.device).expand(x.shape).clone()


def arange(start, stop=None, step=None, dtype=None) -> torch.Tensor:
    """``start, start + step, ...`` below ``stop`` (``arange(n)``: ``0 .. n - 1``); ints give int32."""
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if dtype is None:  # numpy scalars and tensors keep their dtype; Python ints give int32, floats float32
        typed = [standardize_dtype(v.dtype) for v in (start, stop, step)
                 if hasattr(v, "dtype") and not isinstance(v, float)]  # np.float64 counts as a Python float
        dtype = functools.reduce(torch.promote_types, typed) if typed else torch.int32
        if not dtype.is_floating_point and any(isinstance(v, float) for v in (start, stop, step)):
            dtype = float_dtype()
    return torch.arange(start, stop, step, dtype=standardize_dtype(dtype), device=get_device())


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None, axis: int = 0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (excluded when not ``endpoint``); with
    ``retstep``, also the spacing. Array ``start``/``stop`` give one sequence per element along ``axis``."""
    dtype = _dtype(dtype)
    start, stop = to_tensors(start, stop)
    start, stop = start.to(dtype), stop.to(dtype)
    divisions = (num - 1 if endpoint else num) or 1
    step = (stop - start) / divisions
    if start.ndim == 0 and stop.ndim == 0:
        end = stop if endpoint else stop - step
        values = torch.linspace(float(start), float(end), num, dtype=dtype, device=start.device)
    else:
        fractions = torch.arange(num, dtype=dtype, device=start.device) / divisions
        values = start[None] + fractions.reshape(-1, *[1] * start.ndim) * (stop - start)[None]
        values = values.movedim(0, axis)
    return (values, step) if retstep else values


def eye(N: int, M: int | None = None, k: int = 0, dtype=None) -> torch.Tensor:
    """An ``(N, M)`` matrix with ones on diagonal ``k`` (above the main one when positive)."""
    rows = torch.arange(N, device=get_device())[:, None]
    cols = torch.arange(N if M is None else M, device=get_device())[None, :]
    return (cols - rows == k).to(_dtype(dtype))


# ---- shapes ---------------------------------------------------------------------------------------
@operation()
def transpose(x, axes=None) -> torch.Tensor:
    """Axes permuted by ``axes`` (reversed when None)."""
    x = to_tensor(x)
    return x.permute(tuple(reversed(range(x.ndim)) if axes is None else axes))


@operation()
def reshape(x, newshape) -> torch.Tensor:
    """The same values in ``newshape`` (one size may be -1)."""
    return to_tensor(x).reshape(_shape(newshape))


@operation()
def expand_dims(x, axis) -> torch.Tensor:
    """``x`` with new axes of size 1 at ``axis`` (an int or a tuple, positions in the output)."""
    x = to_tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    rank = x.ndim + len(axes)
    new = {a + rank if a < 0 else a for a in axes}
    if len(new) != len(axes) or any(a < 0 or a >= rank for a in new):
        raise ValueError(f"ops.expand_dims: axis {axis} is out of range or repeated for an input of shape "
                         f"{tuple(x.shape)} (an output of rank {rank}).")
    sizes = iter(x.shape)
    return x.reshape([1 if i in new else next(sizes) for i in range(rank)])


@operation()
def squeeze(x, axis=None) -> torch.Tensor:
    """``x`` without the axes of size 1 (only ``axis`` when given; each must have size 1)."""
    x = to_tensor(x)
    if axis is None:
        return torch.squeeze(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"ops.squeeze: axis {axis} of an input of shape {tuple(x.shape)} does not have size 1.")
    return torch.squeeze(x, dim=axes)


@operation()
def concatenate(xs, axis: int | None = 0) -> torch.Tensor:
    """The tensors joined along ``axis`` (flattened first when None)."""
    tensors = to_tensors(*xs)
    if axis is None:
        tensors, axis = [t.reshape(-1) for t in tensors], 0
    return torch.cat(tensors, dim=axis)


@operation()
def stack(x, axis: int = 0) -> torch.Tensor:
    """Tensors of one shape stacked along a new ``axis``."""
    return torch.stack(to_tensors(*x), dim=axis)


@operation()
def split(x, indices_or_sections, axis: int = 0) -> list[torch.Tensor]:
    """``x`` cut along ``axis`` into that many equal parts (an int) or at those indices (a list)."""
    x = to_tensor(x)
    size = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if size % indices_or_sections:
            raise ValueError(f"ops.split: axis {axis} of the input of shape {tuple(x.shape)} (size {size}) does not "
                             f"divide into {indices_or_sections} equal sections.")
        return list(torch.split(x, size // indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, [int(i) for i in indices_or_sections], dim=axis))


@operation()
def tile(x, repeats) -> torch.Tensor:
    """``x`` repeated ``repeats`` times along each axis (as ``numpy.tile``)."""
    return torch.tile(to_tensor(x), _shape(repeats))


@operation()
def repeat(x, repeats, axis: int | None = None) -> torch.Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened ``x`` when None)."""
    x = to_tensor(x)
    if not isinstance(repeats, int):
        repeats = to_tensor(repeats, device=x.device)
    return torch.repeat_interleave(x, repeats, dim=axis)


@operation(elementwise=True)
def flip(x, axis=None) -> torch.Tensor:
    """``x`` reversed along ``axis`` (every axis when None)."""
    x = to_tensor(x)
    return torch.flip(x, dims=tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis)


@operation()
def moveaxis(x, source, destination) -> torch.Tensor:
    return torch.movedim(to_tensor(x), source, destination)


@operation()
def swapaxes(x, axis1: int, axis2: int) -> torch.Tensor:
    return torch.swapaxes(to_tensor(x), axis1, axis2)


@operation()
def broadcast_to(x, shape) -> torch.Tensor:
    return torch.broadcast_to(to_tensor(x), _shape(shape))


@operation()
def pad(x, pad_width, mode: str = "constant", constant_values=None) -> torch.Tensor:
    """``x`` padded by ``pad_width``: an int, one ``(before, after)`` pair, or a pair per axis (numpy's
    form). Modes: "constant" (with ``constant_values``, default 0), "reflect", "symmetric" (numpy's: the edge
    value repeated, then the values before it; Keras 3.15's torch backend gives other values), "edge", "wrap"."""
    x = to_tensor(x)
    pairs = torch.as_tensor(pad_width).long().expand(x.ndim, 2).tolist()
    modes = {"constant": "constant", "reflect": "reflect", "symmetric": None, "edge": "replicate", "wrap": "circular"}
    if mode not in modes:
        raise ValueError(f"ops.pad: unknown mode {mode!r}; layerwise supports {sorted(modes)}.")
    if constant_values is not None and mode != "constant":
        raise ValueError(f"ops.pad: constant_values is only for mode='constant'; received mode={mode!r}.")
    # F.pad lists (before, after) from the last axis backwards, and only as far as there is padding.
    used = next((i for i, p in enumerate(pairs) if any(p)), x.ndim - 1)
    flat = [n for pair in reversed(pairs[used:]) for n in pair]
    if mode == "constant":
        return F.pad(x, flat, value=constant_values or 0)
    if mode == "symmetric":  # each padded axis read at mirrored positions, any width (period 2n)
        for axis, (before, after) in enumerate(pairs):
            if before or after:
                n = x.shape[axis]
                if n == 0:
                    raise ValueError(f"ops.pad: cannot pad the empty axis {axis} with mode='symmetric'.")
                positions = torch.arange(-before, n + after, device=x.device) % (2 * n)
                x = x.index_select(axis, torch.where(positions < n, positions, 2 * n - 1 - positions))
        return x
    # The other modes pad the last 1-3 axes of a batched input, in floating point: the axes before the
    # padded ones become one batch axis.
    kept = x.ndim - len(flat) // 2
    padded = F.pad(x.reshape(-1, *x.shape[kept:]).to(torch.promote_types(x.dtype, torch.float32)), flat,
                   mode=modes[mode])
    return padded.reshape(*x.shape[:kept], *padded.shape[1:]).to(x.dtype)


# ---- indexing and sorting ----------------------------------------------------------------------
@operation(elementwise=True)
def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2``; with ``condition`` alone, the indices where it holds."""
    if x1 is None and x2 is None:
        return torch.nonzero(to_tensor(condition), as_tuple=True)
    if x1 is None or x2 is None:
        raise ValueError("ops.where takes both x1 and x2, or neither.")
    condition, x1, x2 = to_tensors(condition, x1, x2)
    return torch.where(condition.bool(), x1, x2)


def _wrapped(indices, x: torch.Tensor, size: int) -> torch.Tensor:
    """Integer indices on ``x``'s device, negative ones counted from the end."""
    indices = to_tensor(indices, device=x.device).long()
    return torch.where(indices < 0, indices + size, indices)


@operation()
def take(x, indices, axis: int | None = None) -> torch.Tensor:
    """Elements (or slices along ``axis``) at ``indices``: shape ``x.shape[:axis] + indices.shape +
    x.shape[axis + 1:]``; the flattened ``x`` when ``axis`` is None."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = axis % x.ndim
    indices = _wrapped(indices, x, x.shape[axis])
    picked = torch.index_select(x, axis, indices.reshape(-1))
    return picked.reshape((*x.shape[:axis], *indices.shape, *x.shape[axis + 1:]))


@operation()
def take_along_axis(x, indices, axis: int | None = None) -> torch.Tensor:
    """``x`` gathered along ``axis`` at ``indices`` (which broadcast against ``x`` on the other axes)."""
    x = to_tensor(x)
    size = x.numel() if axis is None else x.shape[axis]
    return torch.take_along_dim(x, _wrapped(indices, x, size), dim=axis)


@operation()
def sort(x, axis: int | None = -1) -> torch.Tensor:
    """Values in ascending order along ``axis`` (of the flattened ``x`` when None)."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    return torch.sort(x, dim=axis).values


@operation()
def argsort(x, axis: int | None = -1) -> torch.Tensor:
    """Indices (int32) that sort ``x`` along ``axis``; ties keep their order."""
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if axis is None:
        x, axis = x.reshape(-1), -1
    return torch.argsort(x, dim=axis, stable=True).to(torch.int32)


@operation()
def top_k(x, k: int, sorted: bool = True):
    """The ``k`` largest values along the last axis and their indices: ``(values, indices)``."""
    return torch.topk(to_tensor(x), k, sorted=sorted)


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
