"""Keras' helpers about tensors: ``is_keras_tensor`` (a symbolic tensor of a model under construction),
``get_source_inputs`` (the ``Input`` tensors a symbolic tensor is computed from) and ``standardize_dtype``
(Keras' dtype names, ``"float32"``, from numpy, torch and Python dtypes)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from layerwise.backend import float_dtype
from layerwise.layers.symbolic import KerasTensor

# Keras' dtype names; Python types map as on Keras' torch backend (int is int32).
KERAS_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", complex: "complex64", "int": "int32"}


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor (``layerwise.Input(...)`` or a layer called on one), not data."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The list of ``Input`` tensors that ``tensor`` (a symbolic tensor) is computed from, each once, in
    depth-first order over each layer's inputs (Keras' order). Anything that is not symbolic comes back as is."""
    if not isinstance(tensor, KerasTensor):
        return tensor
    sources: list[KerasTensor] = []
    seen: set[int] = set()
    stack = [tensor]
    while stack:  # a loop, not recursion: deep models and many skip connections stay cheap
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.node.args is None:  # an Input's own node
            sources.append(current)
        else:
            stack.extend(reversed(current.node.inputs))
    return sources


def standardize_dtype(dtype: Any) -> str:
    """Keras' name for ``dtype``: a name, a numpy or torch dtype, a numpy scalar type or a Python type
    (``int`` -> ``"int32"``, as on Keras' torch backend); None is ``floatx``. A ValueError for anything else."""
    if dtype is None:
        return str(float_dtype()).removeprefix("torch.")
    name = _PYTHON_DTYPES.get(dtype, dtype) if isinstance(dtype, (type, str)) else dtype
    if isinstance(name, torch.dtype):
        name = str(name).removeprefix("torch.")
    elif isinstance(name, np.dtype) or (isinstance(name, type) and issubclass(name, np.generic)):
        name = np.dtype(name).name
    elif isinstance(name, str) and ("torch" in name or "jax.numpy" in name):  # "torch.float32", as Keras reads it
        name = name.split(".")[-1]
    if name not in KERAS_DTYPES:
        raise ValueError(f"standardize_dtype: {dtype!r} is not a dtype Keras knows; expected one of "
                         f"{', '.join(KERAS_DTYPES)}, a numpy or torch dtype, or bool, int, float.")
    return name
