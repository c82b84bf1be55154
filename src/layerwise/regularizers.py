"""Weight and activity penalties, Keras' ``keras.regularizers``: ``Dense(64, kernel_regularizer=l2(1e-4))``.

A regularizer maps a tensor (lists and numpy arrays are converted) to a scalar penalty. Weight penalties are
computed on the weight in Keras' layout (so ``OrthogonalRegularizer``'s rows are Keras' rows) and activity
penalties on a layer's output, divided by its batch size as Keras 3 does. ``fit`` adds them to the loss it
minimises and reports, and ``evaluate`` reports them too, as Keras does.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise import _registry, saving_registry
from layerwise.activations import _as_tensor


class Regularizer:
    """Base class: ``__call__(x) -> scalar tensor`` and ``get_config()``; a plain function works too."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
        return x.new_zeros(())

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)


def _factor(value, name: str) -> float:
    if value is None:
        raise ValueError(f"{name} must be a number, got None.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}.")
    return value


def _as_float32(value: float) -> float:
    """``value`` rounded to float32, as Keras 3.15's L1 and OrthogonalRegularizer write it in their configs (they
    keep the factor as a float32 tensor: ``l1(0.001)`` writes 0.0010000000474974513)."""
    return float(np.float32(value))


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(l1, "l1")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
        return self.l1 * x.abs().sum()

    def get_config(self) -> dict:
        return {"l1": _as_float32(self.l1)}


class L2(Regularizer):
    """``l2 * sum(x ** 2)`` (no factor 1/2, as in Keras)."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(l2, "l2")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
        return self.l2 * x.square().sum()

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``; both default to 0 here, to 0.01 as the string ``'l1_l2'``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """``factor`` times the mean absolute cosine between distinct rows (or columns) of a 2-D weight."""

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer mode must be 'rows' or 'columns', got {mode!r}.")
        self.mode = mode

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, got shape {tuple(x.shape)}.")
        if self.mode == "columns":
            x = x.T
        # Keras normalises by sqrt(max(sum of squares, 1e-12)).
        unit = x * torch.rsqrt(x.square().sum(1, keepdim=True).clamp_min(1e-12))
        cosines = unit @ unit.T
        n = x.shape[0]
        off_diagonal = cosines.abs().sum() - cosines.diagonal().abs().sum()
        return self.factor * 0.5 * off_diagonal / (n * (n - 1) / 2)

    def get_config(self) -> dict:
        return {"factor": _as_float32(self.factor), "mode": self.mode}


# Keras' lower-case names are the same classes.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_BUILT_IN = {cls.__name__: cls for cls in (L1, L2, L1L2, OrthogonalRegularizer)}
_BY_NAME = {**_BUILT_IN, "l1": L1, "l2": L2, "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


def serialize(regularizer: Regularizer) -> dict:
    """``{"class_name": "L2", "config": {"l2": 0.01}}`` for a built-in regularizer; a registered
    class adds ``"registered_name"`` (see ``layerwise.saving.register_keras_serializable``)."""
    return _registry.serialize(regularizer, _BUILT_IN, "regularizer")


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Regularizer:
    """The regularizer that ``serialize`` described (or a name, as ``get`` takes it); ``custom_objects`` names your
    own classes, as in Keras."""
    with saving_registry.loading_scope(custom_objects, "regularizers.deserialize"):
        return _registry.get(config, _BY_NAME, Regularizer, "regularizer", "") if isinstance(config, str) else \
            _registry.deserialize(config, _BY_NAME, "regularizer")


def get(identifier):
    """``None``, a name (``'l2'`` is ``L2(0.01)``; a registered or custom object's name), a config dict,
    a ``Regularizer`` or any function of a tensor. ``'l1_l2'`` is ``L1L2(0.01, 0.01)`` as Keras documents
    it (Keras 3.15 itself rejects that name); ``'L1L2'`` is ``L1L2()``, no penalty, as in Keras."""
    if isinstance(identifier, str) and identifier == "l1_l2":
        return L1L2(0.01, 0.01)
    return _registry.get(identifier, _BY_NAME, Regularizer, "regularizer", "layerwise.regularizers.L2(1e-4)")
