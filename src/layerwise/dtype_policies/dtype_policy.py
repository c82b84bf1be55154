"""``DTypePolicy``: the dtype a layer computes in and the dtype its weights are stored in, as in Keras.

``"float32"`` (the default), ``"float64"``, ``"float16"`` and ``"bfloat16"`` compute and store in that dtype;
``"mixed_float16"`` and ``"mixed_bfloat16"`` compute in half precision (under ``torch.autocast``, see
``autocast.py``) and keep the weights in float32. The global policy is what a layer made without ``dtype``
takes, at construction, as in Keras.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from layerwise.backend import floatx

_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
# Keras' dtype names; only the float ones change how a layer computes, the others are recorded as given.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# Keras' dtype names; Python types map as on Keras' torch backend (int is int32).
KERAS_DTYPES = FLOAT_DTYPES + ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool",
                               "string", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", complex: "complex64", "int": "int32"}
_QUANTIZED = ("int8", "float8", "int4", "gptq", "awq")  # Keras' quantized policies: "int8_from_float32"...


def standardize_dtype(dtype: Any) -> str:
    """Keras' name for ``dtype``: a name, a numpy or torch dtype, a numpy scalar type or a Python type
    (``int`` -> ``"int32"``, as on Keras' torch backend); None is ``floatx()``. A ValueError for anything else."""
    if dtype is None:
        return floatx()
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


class DTypePolicy:
    """A layer's dtype policy, by ``name``: ``DTypePolicy("mixed_bfloat16")`` computes in bfloat16
    (``compute_dtype``) and stores weights in float32 (``variable_dtype``). ``None`` names the global policy."""

    def __init__(self, name: str | None = None):
        if name is None:
            name = dtype_policy().name
        self._name = name
        self._compute_dtype, self._variable_dtype = self._parse_name(name)

    @staticmethod
    def _parse_name(name) -> tuple[str, str]:
        """``(compute_dtype, variable_dtype)`` for a policy name."""
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: name={name} "
                            f"(of type {type(name)})")
        if name in _MIXED:
            return _MIXED[name], "float32"
        if name.startswith(_QUANTIZED) and "_from_" in name:
            raise ValueError(f"Quantized dtype policies such as {name!r} are not supported by layerwise; use "
                             "'float32', 'mixed_float16' or 'mixed_bfloat16'.")
        try:
            dtype = standardize_dtype(name)
        except ValueError:
            raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid policies include "
                             "'mixed_float16', 'mixed_bfloat16', and the name of any float dtype such as "
                             "'float32'.") from None
        return dtype, dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in, and usually output: ``"bfloat16"`` for ``"mixed_bfloat16"``."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype layers store their weights in: ``"float32"`` for the mixed policies."""
        return self._variable_dtype

    @property
    def quantization_mode(self) -> None:
        """Keras' quantization mode: layerwise policies are never quantized."""
        return None

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> "DTypePolicy":
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and self._name == other._name

    def __hash__(self) -> int:
        return hash(self._name)


FloatDTypePolicy = DTypePolicy  # Keras' other name for the same class

_global_policy: list[DTypePolicy | None] = [None]


def set_dtype_policy(policy: str | DTypePolicy) -> None:
    """Keras' ``keras.config.set_dtype_policy("mixed_float16")``: the policy of layers (and models) made from
    now on without ``dtype``."""
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    elif not isinstance(policy, DTypePolicy):
        raise ValueError("Invalid `policy` argument. Expected the string name of a policy (such as "
                         f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy} "
                         f"(of type {type(policy)})")
    _global_policy[0] = policy


def dtype_policy() -> DTypePolicy:
    """The global policy: ``floatx()`` (``"float32"``) until ``set_dtype_policy`` changes it."""
    return _global_policy[0] or DTypePolicy(floatx())
