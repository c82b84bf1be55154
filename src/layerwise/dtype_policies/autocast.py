"""Running a layer (or a model) under its dtype policy, the PyTorch way: with ``torch.autocast``.

A mixed policy runs its layer under ``torch.autocast(device_type, dtype=compute_dtype)``: the weights stay
float32 and autocast runs matmuls and convolutions in half precision (keeping the ops it deems unsafe in
float32). The layer's floating outputs are then cast to the compute dtype, Keras' output dtype, which autocast
alone does not promise (on CUDA it returns softmax and layer_norm in float32; elementwise ops keep their input's
dtype). ``region.dtype`` is the compute dtype of the autocast layerwise entered (per thread, as autocast), so
nested layers of the same policy (all of a model's, once the model entered it) run as they are; a layer of a
plain float policy (the usual float32 output layer) runs with autocast off on its inputs cast to its dtype. A
user's own ``torch.autocast`` is no region: float32 layers leave it on.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable

import numpy as np
import torch

from layerwise.backend import get_device
from layerwise.dtype_policies.dtype_policy import FLOAT_DTYPES, DTypePolicy


class _Region(threading.local):
    """The compute dtype of the autocast region running in this thread; None outside any."""
    dtype: torch.dtype | None = None


region = _Region()
HALF = (torch.float16, torch.bfloat16)


def is_plain(policy: DTypePolicy) -> bool:
    """Whether a layer of ``policy`` needs nothing done outside a region: float32, or a non-float dtype
    (recorded only, as ``"int64"`` on a preprocessing layer)."""
    return policy.compute_dtype == "float32" or policy.compute_dtype not in FLOAT_DTYPES


def floating_input(x: torch.Tensor, variable_dtype: str) -> torch.Tensor:
    """``x`` as is when floating, else (integer or boolean data from an ``Input(dtype="int32")``) in
    ``variable_dtype`` when that is a float: Keras' ``int @ float`` matmul promotes to float, torch's refuses."""
    if x.is_floating_point() or variable_dtype not in FLOAT_DTYPES:
        return x
    return x.to(getattr(torch, variable_dtype))


def cast_floats(value: Any, dtype: torch.dtype, only: tuple | None = None) -> Any:
    """``value`` (a tensor, or lists, tuples and dicts of them) with each floating tensor cast to ``dtype``
    (only those of a dtype in ``only``, when given); a tensor's ``_keras_mask`` goes along with it."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or value.dtype == dtype or (only is not None and value.dtype not in only):
            return value
        cast = value.to(dtype)
        mask = getattr(value, "_keras_mask", None)
        if mask is not None:
            cast._keras_mask = mask
        return cast
    if isinstance(value, dict):
        return {k: cast_floats(v, dtype, only) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(cast_floats(v, dtype, only) for v in value)
    return value


def float32_of_half(value: Any) -> Any:
    """float16 and bfloat16 tensors in ``value`` as float32: what losses and metrics compute on, as Keras casts
    ``y_pred`` to float32 for them. Anything else (a float32 model's outputs) is returned as it is."""
    return cast_floats(value, torch.float32, HALF)


def numpy_of(tensor: torch.Tensor) -> np.ndarray:
    """``tensor`` as a numpy array; bfloat16, which numpy lacks, as ``ml_dtypes.bfloat16`` (what Keras returns;
    it comes with Keras and JAX), or float32 when ``ml_dtypes`` is not installed."""
    tensor = tensor.detach().cpu()
    if tensor.dtype != torch.bfloat16:
        return tensor.numpy()
    try:
        import ml_dtypes
    except ImportError:
        return tensor.float().numpy()
    return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return next((t for t in map(_first_tensor, items) if t is not None), None)


def _device_type(args: tuple, kwargs: dict) -> str:
    first = _first_tensor(args)
    first = first if first is not None else _first_tensor(kwargs)
    return (first.device if first is not None else get_device()).type


def autocast_on(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (the user's own, outside any region)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 has one function per device type
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _autocast(args: tuple, kwargs: dict, dtype: torch.dtype | None):
    """``torch.autocast`` on the inputs' device type, in ``dtype`` (None: autocast off); a null context on a
    device autocast does not know (the "meta" tensors that shape inference uses)."""
    device_type = _device_type(args, kwargs)
    available = getattr(torch.amp, "is_autocast_available", lambda kind: kind in ("cpu", "cuda"))
    if not available(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype) if dtype is not None else torch.autocast(device_type,
                                                                                             enabled=False)


def _in_region(dtype: torch.dtype | None, fn: Callable, args: tuple, kwargs: dict):
    outer = region.dtype
    region.dtype = dtype
    try:
        with _autocast(args, kwargs, dtype):
            return fn(*args, **kwargs)
    finally:
        region.dtype = outer


def run(policy: DTypePolicy, fn: Callable, args: tuple, kwargs: dict, cast_outputs: bool = True):
    """``fn(*args, **kwargs)`` under ``policy`` (see the module docstring); ``cast_outputs``: a layer's floating
    outputs in the compute dtype (a model's are what its last layers give, as in Keras)."""
    if policy.compute_dtype not in FLOAT_DTYPES:
        return fn(*args, **kwargs)
    dtype = getattr(torch, policy.compute_dtype)
    if policy.compute_dtype != policy.variable_dtype:  # mixed
        out = fn(*args, **kwargs) if region.dtype == dtype else _in_region(dtype, fn, args, kwargs)
        return cast_floats(out, dtype) if cast_outputs else out
    if region.dtype is None and dtype == torch.float32:
        # Outside a region, what a mixed or float64 layer gave comes back to float32, as Keras casts a layer's
        # floating inputs; under the user's own torch.autocast, autocast takes care of half precision.
        if autocast_on(_device_type(args, kwargs)):
            return fn(*cast_floats(args, dtype, (torch.float64,)), **cast_floats(kwargs, dtype, (torch.float64,)))
        return fn(*cast_floats(args, dtype), **cast_floats(kwargs, dtype))
    # A plain policy: its weights are in its dtype, so its inputs are cast to it (as Keras does), and inside a
    # region autocast is off, the layer computing exactly in its dtype.
    args, kwargs = cast_floats(args, dtype), cast_floats(kwargs, dtype)
    return fn(*args, **kwargs) if region.dtype is None else _in_region(None, fn, args, kwargs)


def policy_step(step: Callable, policy: DTypePolicy) -> Callable:
    """A model plan's step (one layer, or a fused run of layers of one policy) run under ``policy``."""
    def step_in_policy(x):
        return run(policy, step, (x,), {})
    return step_in_policy
