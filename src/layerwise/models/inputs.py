"""Data as a model takes it: arrays and lists to tensors on the model's device, cast to what its ``Input``
declares, as Keras casts data to each input's dtype."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.backend import float_dtype


def as_input_tensor(x, device: torch.device, declared_dtype: str = "float32") -> torch.Tensor:
    """Data given to a model call as a tensor: arrays and lists become float32 on ``device`` (a copy, as in Keras:
    a ``call`` that works in place never changes the caller's array), float64 narrows, and integer or boolean
    data (uint8 images) becomes float32 unless the model's ``Input`` declares an integer ``declared_dtype``: then
    integer arrays take that dtype (ids above 2**24 have no exact float32)."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        integer = x.dtype.kind in "iub" and declared_dtype.startswith(("int", "uint", "bool"))
        return torch.tensor(x, dtype=getattr(torch, declared_dtype) if integer else float_dtype(), device=device)
    if x.dtype == torch.float64 or (not x.is_floating_point() and not x.is_complex()
                                    and declared_dtype.startswith(("float", "bfloat"))):
        return x.to(float_dtype())
    return x


def as_declared_inputs(model, x):
    """A batch for ``model`` (a tensor, or a tuple of one per input) with integer or boolean parts cast to float32
    where the model's ``Input`` declares a float dtype, as Keras casts data to each input's dtype (``fit`` on an
    integer array of values, not ids). A subclassed model has no declared inputs: its batches pass as they are."""
    parts = x if isinstance(x, tuple) else (x,)
    if all(not isinstance(p, torch.Tensor) or p.is_floating_point() for p in parts):
        return x
    declared = declared_dtypes(model)
    if declared is None or len(declared) != len(parts):
        return x
    cast = tuple(as_input_tensor(p, p.device, d) if isinstance(p, torch.Tensor) else p for p, d in zip(parts, declared))
    return cast if isinstance(x, tuple) else cast[0]


def carrying_mask(tensor: torch.Tensor, mask) -> torch.Tensor:
    """``tensor`` (a view: the caller's keeps its own attributes) carrying ``mask`` as its ``_keras_mask``, the way a
    model's ``call(inputs, mask=...)`` hands a caller's mask to its first layers."""
    view = tensor.view_as(tensor)
    view._keras_mask = torch.as_tensor(mask, device=tensor.device)
    return view


def declared_dtypes(model) -> list[str] | None:
    """The dtypes of ``model``'s Inputs, None for a subclassed model; kept until a Sequential's graph starts anew
    (every batch of integer ids asks, and a Sequential's ``inputs`` takes microseconds to assemble)."""
    graph = model.__dict__.get("_graph")
    key = id(graph[0]) if graph else None
    cached = model.__dict__.get("_declared_dtypes")
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        dtypes = [tensor.dtype for tensor in model.inputs]
    except (AttributeError, NotImplementedError):
        dtypes = None
    model.__dict__["_declared_dtypes"] = (key, dtypes)
    return dtypes


def shape_fits(expected: tuple, got: tuple) -> bool:
    """Same rank, and every size the model knows (after the batch axis) matches."""
    return len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected[1:], got[1:]))


def reshape_hint(expected: tuple, got: tuple) -> str:
    """Advice for the common slip of a 2-D array given to a model of ``(batch, timesteps, features)`` inputs."""
    if len(expected) != 3 or len(got) != 2:
        return ""
    steps, features = expected[1:]
    if steps and features and got[1] == steps * features:
        return f" Each row holds {steps} time steps of {features} features: x.reshape(len(x), {steps}, {features})."
    return (" The model takes sequences (batch, timesteps, features): reshape each row into its time steps, "
            "e.g. x.reshape(len(x), timesteps, features).")


def rank_adjusted(expected: tuple, got: tuple) -> tuple:
    """``got`` with a last axis of 1 added or dropped when that is all that keeps it from ``expected``'s rank,
    as Keras adjusts a model's inputs: ``Input((28, 28, 1))`` takes ``(n, 28, 28)`` images."""
    if len(got) == len(expected) - 1 and expected[-1] == 1:
        return (*got, 1)
    if len(got) == len(expected) + 1 and got[-1] == 1:
        return tuple(got[:-1])
    return tuple(got)


def with_rank_of(expected: tuple, value):
    """``value`` reshaped as ``rank_adjusted`` describes (itself when its rank fits)."""
    if not isinstance(value, torch.Tensor) or value.dim() == len(expected):
        return value
    adjusted = rank_adjusted(expected, tuple(value.shape))
    return value.reshape(adjusted) if len(adjusted) != value.dim() else value
