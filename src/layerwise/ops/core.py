"""Keras' core ops: converting values to tensors and back, ``cast``, ``shape``, ``stop_gradient``, ``cond``,
``slice`` and ``scatter``; plus the conversions every other op starts with.

Values become tensors as Keras' torch backend makes them: Python floats are float32 (``floatx``),
Python ints int32, bools bool; numpy arrays keep their dtype; new tensors go to the device of the
other tensor arguments, else to ``layerwise.backend.get_device()``.
"""
from __future__ import annotations

import builtins
from typing import Any, Callable

import numpy as np
import torch

from layerwise.backend import floatx, get_device
from layerwise.layers.operations import operation
from layerwise.layers.symbolic import KerasTensor


def standardize_dtype(dtype: Any) -> torch.dtype:
    """A torch dtype from a name (``"int32"``), a numpy or torch dtype, or a Python type."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is float:
        return floatx()
    if dtype is int:
        return torch.int32
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    found = getattr(torch, name, None)
    if not isinstance(found, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}: use a name such as 'float32', 'int32' or 'bool'.")
    return found


def _python_dtype(x) -> torch.dtype | None:
    if isinstance(x, bool):
        return torch.bool
    if isinstance(x, int):
        return torch.int32 if -2 ** 31 <= x < 2 ** 31 else torch.int64
    if isinstance(x, float):
        return floatx()
    return None


def _nested_dtype(x) -> torch.dtype:
    """The dtype of a nested list of Python numbers: float32 if any float, else int32, else bool."""
    flat = np.asarray(x, dtype=object).ravel()
    if any(isinstance(v, float) for v in flat):
        return floatx()
    if any(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return torch.int32
    return torch.bool if flat.size else floatx()


def to_tensor(x, dtype=None, device: torch.device | None = None) -> torch.Tensor:
    """``x`` (a tensor, numpy array, number or nested list) as a tensor on ``device``."""
    dtype = None if dtype is None else standardize_dtype(dtype)
    if isinstance(x, torch.Tensor):
        if device is not None and x.device != device:
            x = x.to(device)
        return x if dtype is None else x.to(dtype)
    device = device or get_device()
    if isinstance(x, (list, tuple)) and x and builtins.any(isinstance(v, torch.Tensor) for v in x):
        return torch.stack([to_tensor(v, dtype, device) for v in x])
    if dtype is None:
        dtype = _python_dtype(x)
        if dtype is None and isinstance(x, (list, tuple)):
            dtype = _nested_dtype(x)
    array = np.asarray(x)
    if any(stride < 0 for stride in array.strides):  # a reversed view (x[::-1]): torch takes no negative strides
        array = np.ascontiguousarray(array)
    return torch.as_tensor(array, dtype=dtype, device=device)


def to_tensors(*values) -> list[torch.Tensor]:
    """Each value as a tensor, all on the device of the first tensor among them."""
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), None) or get_device()
    return [to_tensor(v, device=device) for v in values]


def to_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a tuple of axes; None means every axis."""
    if axis is None:
        return tuple(range(ndim))
    return (int(axis),) if isinstance(axis, int) else tuple(int(a) for a in axis)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None) -> torch.Tensor:
    """``x`` as a torch tensor of ``dtype`` (Keras' conversion rules: see the module docstring)."""
    if sparse or ragged:
        raise ValueError(f"convert_to_tensor: sparse and ragged tensors are not supported; received "
                         f"sparse={sparse}, ragged={ragged}.")
    if isinstance(x, KerasTensor):
        return x if dtype is None else cast(x, dtype)
    return to_tensor(x, dtype)


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a numpy array (copied from the device when needed)."""
    if isinstance(x, KerasTensor):
        raise TypeError(f"convert_to_numpy: {x!r} is a placeholder in a model under construction, not data.")
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@operation()
def cast(x, dtype) -> torch.Tensor:
    return to_tensor(x).to(standardize_dtype(dtype))


def shape(x) -> tuple:
    """The shape as a tuple; ``None`` for the unknown sizes of a symbolic tensor."""
    if isinstance(x, KerasTensor):
        return x.shape
    return tuple(to_tensor(x).shape)


@operation()
def stop_gradient(variable) -> torch.Tensor:
    """The same values, without a gradient to ``variable``."""
    return to_tensor(variable).detach()


def cond(pred, true_fn: Callable, false_fn: Callable):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (``pred`` is evaluated now: no symbolic graphs)."""
    if isinstance(pred, KerasTensor):
        raise TypeError(f"cond: the predicate {pred!r} is symbolic; layerwise evaluates cond eagerly, so "
                        "call it inside a layer's call.")
    return true_fn() if bool(to_tensor(pred)) else false_fn()


@operation()
def slice(inputs, start_indices, shape) -> torch.Tensor:
    """The block of ``inputs`` of size ``shape`` that starts at ``start_indices`` (one per axis)."""
    inputs = to_tensor(inputs)
    starts, sizes = [int(s) for s in to_tensor(start_indices).tolist()], [int(s) for s in to_tensor(shape).tolist()]
    if len(starts) != inputs.ndim or len(sizes) != inputs.ndim:
        raise ValueError(f"slice: start_indices and shape need one entry per axis of the input of shape "
                         f"{tuple(inputs.shape)}; received {len(starts)} and {len(sizes)}.")
    return inputs[tuple(builtins.slice(s, s + n) for s, n in zip(starts, sizes))]


@operation()
def scatter(indices, values, shape) -> torch.Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` ``(n, k)``; repeated indices add up."""
    indices, values = to_tensors(indices, values)
    shape = tuple(int(s) for s in shape)
    depth = indices.shape[-1]
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    points = indices.reshape(-1, depth).long()
    out.index_put_(tuple(points.T), values.reshape(-1, *shape[depth:]), accumulate=True)
    return out
