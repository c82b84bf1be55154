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
                             "schedulefreeadamw": ScheduleFreeAdamW, "losscaleoptimizer": LossScaleOptimizer}


def get(identifier: str | Optimizer) -> Optimizer:
    """Resolve ``"adam"`` and friends (Keras defaults) or pass an Optimizer through."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}, "
                     "or pass an optimizer object such as layerwise.optimizers.Adam(learning_rate=1e-3).")


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": "adam", "config": {...}}`` for a built-in optimizer."""
    name = next((k for k, v in _BY_NAME.items() if type(optimizer) is v), None)
    if name is None:
        raise TypeError(f"Cannot save the custom optimizer {type(optimizer).__name__}: only the built-in "
                        f"optimizers ({', '.join(sorted(_BY_NAME))}) are saved with a model.")
    return {"class_name": name, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    """The optimizer ``serialize`` described; a ValueError naming the known optimizers otherwise."""
    name = config.get("class_name", "")
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r} in a saved config. Valid names: {', '.join(sorted(_BY_NAME))}.")
    return cls.from_config(config.get("config", {}))
