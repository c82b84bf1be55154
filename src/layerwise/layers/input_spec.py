"""``InputSpec``: what a layer accepts (rank, shape, sizes of some axes, dtype), as Keras' ``keras.layers.InputSpec``,
and ``assert_input_compatibility``, the check a layer runs on its inputs before a call; ``RankChecks``, the rank check
of a built-in layer."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``torch.float32``, ``"float32"``, ``np.float32``..."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ValueError(f"InputSpec dtype: unknown dtype {dtype!r}; use a name such as 'float32' or 'int32'.")
    return name


def _shape(value) -> tuple:
    return tuple(None if d is None else int(d) for d in value)


class InputSpec:
    """The rank, dtype and shape every input of a layer must have; ``None`` in ``shape`` allows any size.

    ``shape`` includes the batch axis and sets ``ndim``; ``axes`` maps axes to required sizes, e.g.
    ``{-1: 16}``; ``allow_last_axis_squeeze`` also accepts a rank one more (or less) when that last axis is 1;
    ``name`` is the key of this input when inputs come as a dict.
    """

    def __init__(self, dtype=None, shape=None, ndim: int | None = None, max_ndim: int | None = None,
                 min_ndim: int | None = None, axes: dict | None = None, allow_last_axis_squeeze: bool = False,
                 name: str | None = None, optional: bool = False):
        self.dtype = _dtype_name(dtype) if dtype is not None else None
        if shape is not None:
            self.shape = _shape(shape)
            self.ndim = len(self.shape)
        else:
            self.shape, self.ndim = None, ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name, self.optional, self.allow_last_axis_squeeze = name, optional, allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(f"InputSpec axes must be a dict with integer keys. Received: axes={axes}") from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_axis = (self.ndim or self.max_ndim) - 1
            if max(self.axes) > max_axis:
                raise ValueError(f"InputSpec axes: axis {max(self.axes)} is greater than the maximum allowed "
                                 f"value: {max_axis}")

    def __repr__(self) -> str:
        parts = [f"{key}={value}" for key, value in (("dtype", self.dtype), ("shape", self.shape),
                                                      ("ndim", self.ndim), ("max_ndim", self.max_ndim),
                                                      ("min_ndim", self.min_ndim), ("axes", self.axes)) if value]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes, "optional": self.optional}

    @classmethod
    def from_config(cls, config: dict) -> "InputSpec":
        return cls(**config)


def _flat(value) -> list:
    if isinstance(value, (list, tuple)) and not _is_shape(value):
        return [item for v in value for item in _flat(v)]
    if isinstance(value, dict):
        return [item for v in value.values() for item in _flat(v)]
    return [value]


def _is_shape(value) -> bool:
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """A ValueError naming ``layer_name`` when ``inputs`` (tensors or shape tuples; one, a list or a dict) do
    not meet ``input_spec`` (an InputSpec, a list of them, or None), with Keras' checks and messages."""
    if not input_spec:
        return
    specs = _flat(input_spec)
    names = [spec.name if spec is not None else None for spec in specs]
    if isinstance(inputs, dict) and all(names):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f'Missing data for input "{missing[0]}". You passed a data dictionary with keys '
                             f"{list(inputs)}. Expected the following keys: {names}")
        inputs = [inputs[n] for n in names]
    inputs = _flat(inputs)
    if len(inputs) != len(specs):
        raise ValueError(f'Layer "{layer_name}" expects {len(specs)} input(s), but it received {len(inputs)} input '
                         "tensors.")
    for index, (x, spec) in enumerate(zip(inputs, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        if not _is_shape(x) and not hasattr(x, "shape"):
            raise ValueError(f"Inputs to a layer should be tensors. Got '{x}' (of type {type(x)}) as input for "
                             f"layer '{layer_name}'.")
        _check_one(spec, x, index, layer_name)


def _check_one(spec: InputSpec, x, index: int, layer_name: str) -> None:
    shape = x if _is_shape(x) else _shape(x.shape)
    ndim = len(shape)
    where = f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible with the layer:"
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where} expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where} expected max_ndim={spec.max_ndim}, found ndim={ndim}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where} expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                         f"Full shape received: {shape}")
    if spec.dtype is not None and hasattr(x, "dtype") and _dtype_name(x.dtype) != spec.dtype:
        raise ValueError(f"{where} expected dtype={spec.dtype}, found dtype={_dtype_name(x.dtype)}")
    for axis, value in spec.axes.items():
        if value is not None and shape[axis] not in (value, None):
            raise ValueError(f"{where} expected axis {axis} of input shape to have value {value}, but received "
                             f"input with shape {shape}")
    if spec.shape is not None:
        spec_shape = spec.shape
        if spec.allow_last_axis_squeeze:
            shape = shape[:-1] if shape and shape[-1] == 1 else shape
            spec_shape = spec_shape[:-1] if spec_shape and spec_shape[-1] == 1 else spec_shape
        for expected, got in zip(spec_shape, shape):
            if expected is not None and got is not None and expected != got:
                raise ValueError(f"{where} expected shape={spec.shape}, found shape={shape}")


class RankChecks:
    """The rank a built-in layer declares (``input_ndim`` or ``min_ndim``, class attributes of ``Layer``), checked
    with messages that name the layer, the expected and the received shape."""

    def check_rank(self, input_shape) -> None:
        """Raise a ValueError naming this layer when ``input_shape`` has a rank it cannot take."""
        ndim = len(input_shape)
        if self.input_ndim is not None and ndim != self.input_ndim:
            raise ValueError(self._shape_message(f"an input of rank {self.input_ndim}", input_shape))
        if self.min_ndim is not None and ndim < self.min_ndim:
            raise ValueError(self._shape_message(f"an input of rank at least {self.min_ndim}", input_shape))

    def _shape_message(self, expected: str, received) -> str:
        return (f"Layer '{self.name}' ({type(self).__name__}) expected {expected}, "
                f"but received input with shape {tuple(received)}.")
