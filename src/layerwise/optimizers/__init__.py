"""Keras' optimizers with Keras' update formulas, applied with PyTorch's multi-tensor
(``torch._foreach_*``) kernels: one kernel launch per operation for all parameters.

An optimizer is created without parameters (``Adam(learning_rate=1e-3)``) and bound to a model's
parameters on the first step, as in Keras. ``learning_rate`` may be a float or a schedule from
``layerwise.optimizers.schedules``, which is asked for the rate before every step.
``base`` holds what all share; ``momentum``, ``adam`` and ``adaptive`` hold the families; ``lamb``,
``schedule_free``, ``adafactor`` and ``muon`` one optimizer each. Adafactor and Muon act on a weight as Keras
lays it out (a Dense kernel ``(in, out)``, not PyTorch's ``(out, in)``): ``layouts`` binds them to a model.
"""
from __future__ import annotations

from layerwise.optimizers import schedules
from layerwise.optimizers.adafactor import Adafactor
from layerwise.optimizers.adam import Adam, Adamax, AdamW, Nadam
from layerwise.optimizers.adaptive import Adadelta, Adagrad, Ftrl, RMSprop
from layerwise.optimizers.base import Optimizer
from layerwise.optimizers.lamb import Lamb
from layerwise.optimizers.loss_scale_optimizer import LossScaleOptimizer
from layerwise.optimizers.momentum import SGD, Lion
from layerwise.optimizers.muon import Muon
from layerwise.optimizers.schedule_free import ScheduleFreeAdamW

__all__ = ["Optimizer", "SGD", "Lion", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta",
           "Ftrl", "Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW", "get", "serialize", "deserialize", "schedules"]
__all__ += ["LossScaleOptimizer"]

_BY_NAME: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
                             "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "ftrl": Ftrl,
                             "adafactor": Adafactor, "lamb": Lamb, "muon": Muon,
                             "schedulefreeadamw": ScheduleFreeAdamW, "lossscaleoptimizer": LossScaleOptimizer}
_RENAMED = {"losscaleoptimizer": "lossscaleoptimizer"}  # how files saved before 2026-11-27 spell it


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``, Keras' defaults), a ``serialize`` dict, or an Optimizer itself."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    cls = _BY_NAME.get(identifier.lower()) if isinstance(identifier, str) else None
    if cls is LossScaleOptimizer:
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}: a LossScaleOptimizer wraps "
                         "another optimizer, e.g. LossScaleOptimizer(layerwise.optimizers.Adam()).")
    if cls is None:
        valid = ", ".join(sorted(name for name in _BY_NAME if name != "lossscaleoptimizer"))
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Valid names: {valid}, a dict "
                         "from optimizers.serialize, or an optimizer object such as "
                         "layerwise.optimizers.Adam(learning_rate=1e-3).")
    return cls()


def serialize(optimizer: Optimizer) -> dict:
    """Keras' form, ``{"module": "keras.optimizers", "class_name": "Adam", "config": {...}, ...}``, for a
    built-in optimizer."""
    if _BY_NAME.get(type(optimizer).__name__.lower()) is not type(optimizer):
        raise TypeError(f"Cannot save the custom optimizer {type(optimizer).__name__}: only the built-in "
                        f"optimizers ({', '.join(sorted(_BY_NAME))}) are saved with a model.")
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config: dict) -> Optimizer:
    """The optimizer ``serialize`` described; a ValueError naming the known optimizers otherwise."""
    name = config.get("class_name", "")
    cls = _BY_NAME.get(_RENAMED.get(name.lower(), name.lower()))
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r} in a saved config. Valid names: {', '.join(sorted(_BY_NAME))}.")
    return cls.from_config(config.get("config", {}))
