"""Keras' optimizers with Keras' update formulas, applied with PyTorch's multi-tensor
(``torch._foreach_*``) kernels: one kernel launch per operation for all parameters.

An optimizer is created without parameters (``Adam(learning_rate=1e-3)``) and bound to a model's
parameters on the first step, as in Keras. ``learning_rate`` may be a float, a schedule from
``layerwise.optimizers.schedules`` or a callable, which is asked for the rate before every step. ``keras_api``
holds Keras' API for custom optimizers (``update_step``, ``add_variable_from_reference``...) and ``variables``.
``base`` holds what all share; ``momentum``, ``adam`` and ``adaptive`` hold the families; ``lamb``,
``schedule_free``, ``adafactor`` and ``muon`` one optimizer each. Adafactor and Muon act on a weight as Keras
lays it out (a Dense kernel ``(in, out)``, not PyTorch's ``(out, in)``): ``layouts`` binds them to a model.
"""
from __future__ import annotations

from layerwise.optimizers import legacy, schedules
from layerwise.optimizers.adafactor import Adafactor
from layerwise.optimizers.adam import Adam, Adamax, AdamW, Nadam
from layerwise.optimizers.adaptive import Adadelta, Adagrad, Ftrl, RMSprop
from layerwise.optimizers.base import Optimizer
from layerwise.optimizers.lamb import Lamb
from layerwise.optimizers.loss_scale_optimizer import LossScaleOptimizer
from layerwise.optimizers.momentum import SGD, Lion
from layerwise.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from layerwise.optimizers.muon import Muon
from layerwise.optimizers.schedule_free import ScheduleFreeAdamW

__all__ = ["Optimizer", "SGD", "Lion", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta",
           "Ftrl", "Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW", "get", "serialize", "deserialize", "schedules"]
__all__ += ["legacy"]
__all__ += ["LossScaleOptimizer"]
__all__ += ["MultiOptimizer", "OptimizerMap"]

_BY_NAME: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
                             "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "ftrl": Ftrl,
                             "adafactor": Adafactor, "lamb": Lamb, "muon": Muon,
                             "schedulefreeadamw": ScheduleFreeAdamW, "lossscaleoptimizer": LossScaleOptimizer,
                             "multioptimizer": MultiOptimizer}
_RENAMED = {"losscaleoptimizer": "lossscaleoptimizer"}  # how files saved before 2026-11-27 spell it


def get(identifier) -> Optimizer | None:
    """An optimizer from a name (``"adam"``, Keras' defaults), a ``serialize`` dict, or an Optimizer itself;
    None for None, as in Keras."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    cls = _BY_NAME.get(identifier.lower()) if isinstance(identifier, str) else None
    if cls is LossScaleOptimizer:
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}: a LossScaleOptimizer wraps "
                         "another optimizer, e.g. LossScaleOptimizer(layerwise.optimizers.Adam()).")
    if cls is MultiOptimizer:
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}: a MultiOptimizer needs its "
                         "optimizers, e.g. MultiOptimizer(OptimizerMap(layerwise.optimizers.Adam(), {'.*head.*': "
                         "layerwise.optimizers.SGD(0.1)})).")
    if cls is None:
        valid = ", ".join(sorted(name for name in _BY_NAME if name not in ("lossscaleoptimizer", "multioptimizer")))
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Valid names: {valid}, a dict "
                         "from optimizers.serialize, or an optimizer object such as "
                         "layerwise.optimizers.Adam(learning_rate=1e-3).")
    return cls()


def serialize(optimizer: Optimizer) -> dict:
    """Keras' form, ``{"module": "keras.optimizers", "class_name": "Adam", "config": {...}, ...}``, for a
    built-in optimizer; your own optimizer class is saved by its registered name (see
    ``layerwise.saving.register_keras_serializable``), a TypeError saying how to register it otherwise."""
    if _BY_NAME.get(type(optimizer).__name__.lower()) is type(optimizer):
        return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
                "config": optimizer.get_config(), "registered_name": None}
    from layerwise.saving_registry import serialize_custom

    return {"module": None, **serialize_custom(optimizer, "optimizer")}


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """The optimizer ``serialize`` described: a built-in one by class name, your own by its registered name, looked
    up in ``custom_objects``, the active ``custom_object_scope`` and the registry (as Keras does); a ValueError
    naming the known optimizers otherwise."""
    from layerwise.saving_registry import deserialize_custom, how_to_load, loading_scope

    name, registered = config.get("class_name", ""), config.get("registered_name")
    cls = _BY_NAME.get(_RENAMED.get(name.lower(), name.lower()))
    with loading_scope(custom_objects, "optimizers.deserialize"):
        if cls is not None and (registered is None or ">" not in registered):  # Keras writes "Adam" for its own
            return cls.from_config(config.get("config", {}))
        found = deserialize_custom(config)
    if not isinstance(found, Optimizer):
        raise ValueError(f"Unknown optimizer {registered or name!r} in a saved config. Valid names: "
                         f"{', '.join(sorted(_BY_NAME))}. " + how_to_load(registered or name))
    return found
