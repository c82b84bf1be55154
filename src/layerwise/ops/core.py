"""Keras' core ops: converting values to tensors and back, ``cast``, ``shape``, ``stop_gradient``, ``cond``,
``slice`` and ``scatter``; plus the conversions every other op starts with.

Values become tensors as Keras' torch backend makes them: Python floats are float32 (``floatx``),
Python ints int32, bools bool; numpy arrays keep their dtype, and a list of numpy arrays or scalars takes
their common dtype (64-bit types as 32-bit); new tensors go to the device of the other tensor arguments, else
to ``layerwise.backend.get_device()``.
"""
from __future__ import annotations

import builtins
from typing import Any, Callable

import numpy as np
import torch

from layerwise.backend import float_dtype, get_device
from layerwise.layers.operations import operation
from layerwise.layers.symbolic import KerasTensor


def standardize_dtype(dtype: Any) -> torch.dtype:
    """A torch dtype from a name (``"int32"``), a numpy or torch dtype, or a Python type; None is floatx, as in
    Keras (numpy reads it as float64)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is float or dtype is None:
        return float_dtype()
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
        return float_dtype()
    return None


# Keras' torch backend has no uint16 / uint32 (uint64 becomes uint32 first): the wider signed type stands in.
_KERAS_TORCH_DTYPE = {torch.int64: torch.int32, torch.float64: torch.float32, torch.complex128: torch.complex64,
                      torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}


def _leaf_dtypes(x, found: list) -> None:
    """Collects the dtypes of a nested list's leaves: a torch dtype for numpy arrays and scalars, the Python
    type for Python numbers (Keras' weak types), None for anything else (strings...)."""
    if isinstance(x, (list, tuple)):
        for item in x:
            _leaf_dtypes(item, found)
    elif isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):  # np.float64 is a float too
        found.append(bool if isinstance(x, bool) else type(x))
    else:
        name = np.asarray(x).dtype.name
        found.append(getattr(torch, name) if isinstance(getattr(torch, name, None), torch.dtype) else None)


def _nested_dtype(x) -> torch.dtype | None:
    """Keras' dtype for a nested list: the promotion of its arrays' dtypes (a list of uint8 images stays uint8),
    where Python ints and floats are weak (``[np.uint8(1), 2]`` is uint8, ``[np.uint8(1), 2.5]`` floatx);
    Python numbers alone give float32 if any float, else int32, else bool; 64-bit results become 32-bit."""
    found: list = []
    _leaf_dtypes(x, found)
    if None in found:
        return None  # not numbers: numpy and torch decide (and refuse)
    strong = [torch.bool if d is bool else d for d in found if d not in (int, float)]
    if len(set(strong)) > 1:  # torch promotes no unsigned type wider than 8 bits: use Keras' stand-ins first
        strong = [_KERAS_TORCH_DTYPE.get(d, d) if d in (torch.uint16, torch.uint32, torch.uint64) else d
                  for d in strong]
    out = strong[0] if strong else None
    for dtype in strong[1:]:
        out = torch.promote_types(out, dtype)
    if float in found and (out is None or not (out.is_floating_point or out.is_complex)):
        out = float_dtype()
    elif int in found and (out is None or out == torch.bool):
        out = torch.int32
    return _KERAS_TORCH_DTYPE.get(out, out) if out is not None else float_dtype()


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
    if isinstance(x, (list, tuple)) and array.dtype.kind in "iu" and array.size and dtype is not None \
            and not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool):
        info = torch.iinfo(dtype)  # torch would wrap around silently; Keras' conversion of a list refuses
        if array.min() < info.min or array.max() > info.max:
            raise ValueError(f"convert_to_tensor: values from {array.min()} to {array.max()} do not fit "
                             f"{str(dtype).removeprefix('torch.')}; pass dtype= a wider type.")
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
    """``x`` as a torch tensor of ``dtype`` (Keras' conversion rules: see the module docstring). On a symbolic
    tensor it records Keras' ``ConvertToTensor`` operation, as Keras does (Attention's output mask is one)."""
    if sparse or ragged:
        raise ValueError(f"convert_to_tensor: sparse and ragged tensors are not supported; received "
                         f"sparse={sparse}, ragged={ragged}.")
    if isinstance(x, KerasTensor):
        return _recorded_conversion(x, dtype=dtype, sparse=sparse, ragged=ragged)
    return to_tensor(x, dtype)


@operation("convert_to_tensor")
def _recorded_conversion(x, dtype=None, sparse=None, ragged=None) -> torch.Tensor:
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
