"""Weight constraints, Keras' ``keras.constraints``: ``Dense(256, kernel_constraint=MaxNorm(3))``.

A constraint maps a weight (a tensor; lists and numpy arrays are converted) to its projection. The trainer
applies it after every optimizer step, to the weight in Keras' layout (so ``axis=0`` of a Dense kernel
``(in, units)`` is each unit's incoming weights, as in Keras), and only to trainable weights.
"""
from __future__ import annotations

import torch

from layerwise import _registry, saving_registry
from layerwise.activations import _as_tensor

_EPSILON = 1e-7  # Keras' backend.epsilon()


class Constraint:
    """Base class: ``__call__(w) -> projected w`` and ``get_config()``; a plain function works too."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Constraint":
        return cls(**config)


def _norms(w: torch.Tensor, axis) -> torch.Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)


class MaxNorm(Constraint):
    """Rescale the weights along ``axis`` whose L2 norm exceeds ``max_value`` (Srivastava et al. 2014)."""

    def __init__(self, max_value: float = 2, axis=0):
        self.max_value, self.axis = max_value, _axis(axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = w if isinstance(w, torch.Tensor) else _as_tensor(w)
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0, self.max_value) / (_EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each norm along ``axis`` a fraction ``rate`` of the way into [``min_value``, ``max_value``]."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, _axis(axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = w if isinstance(w, torch.Tensor) else _as_tensor(w)
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights become zero."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = w if isinstance(w, torch.Tensor) else _as_tensor(w)
        return w.clamp_min(0)


class UnitNorm(Constraint):
    """Scale the weights along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = w if isinstance(w, torch.Tensor) else _as_tensor(w)
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


# Keras' lower-case names are the same classes.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_BUILT_IN = {cls.__name__: cls for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_BY_NAME = {**_BUILT_IN, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm}


def serialize(constraint: Constraint) -> dict:
    """``{"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}}`` for a built-in constraint; a
    registered class adds ``"registered_name"`` (see ``layerwise.saving.register_keras_serializable``)."""
    return _registry.serialize(constraint, _BUILT_IN, "constraint")


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Constraint:
    """The constraint that ``serialize`` described (or a name, as ``get`` takes it); ``custom_objects`` names your
    own classes, as in Keras."""
    with saving_registry.loading_scope(custom_objects, "constraints.deserialize"):
        return _registry.get(config, _BY_NAME, Constraint, "constraint", "") if isinstance(config, str) else \
            _registry.deserialize(config, _BY_NAME, "constraint")


def get(identifier):
    """``None``, a name (``'max_norm'`` is ``MaxNorm(2)``; a registered or custom object's name), a config
    dict, a ``Constraint`` or any function of a tensor."""
    return _registry.get(identifier, _BY_NAME, Constraint, "constraint", "layerwise.constraints.MaxNorm(3)")
