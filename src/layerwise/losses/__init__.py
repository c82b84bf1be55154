"""Keras' losses: functions ``fn(y_true, y_pred) -> per-sample values`` (``losses/functions.py``), the
``Loss`` object that weights and reduces them (``losses/base.py``) and Keras' loss classes
(``losses/classes.py``). ``get`` resolves what ``compile(loss=...)`` takes, with Keras' names and aliases."""
from __future__ import annotations

import inspect
from typing import Callable

from layerwise.losses.base import EPSILON, REDUCTIONS, Loss
from layerwise.losses.classes import (LOSS_CLASSES, BinaryCrossentropy, BinaryFocalCrossentropy,
                                      CategoricalCrossentropy, CategoricalFocalCrossentropy, CategoricalHinge,
                                      CosineSimilarity, Hinge, Huber, KLDivergence, LogCosh, MeanAbsoluteError,
                                      MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                      Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from layerwise.losses.functions import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                                        categorical_focal_crossentropy, categorical_hinge, cosine_similarity, hinge,
                                        huber, kl_divergence, log_cosh, mean_absolute_error,
                                        mean_absolute_percentage_error, mean_squared_error,
                                        mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                                        squared_hinge)

__all__ = [
    "EPSILON", "REDUCTIONS", "Loss", "deserialize", "get", "serialize",
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "cosine_similarity", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge",
]

_FUNCTIONS: dict[str, Callable] = {f.__name__: f for f in (
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_hinge, cosine_similarity, hinge, huber, kl_divergence, log_cosh, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, poisson,
    sparse_categorical_crossentropy, squared_hinge)}
# Keras 3's aliases; 'logcosh' is tf.keras 2's name of log_cosh, still common in course code.
_ALIASES = {"bce": "binary_crossentropy", "kld": "kl_divergence", "mae": "mean_absolute_error",
            "mse": "mean_squared_error", "mape": "mean_absolute_percentage_error",
            "msle": "mean_squared_logarithmic_error"}
_BY_NAME: dict[str, Callable] = {**_FUNCTIONS, **{alias: _FUNCTIONS[name] for alias, name in _ALIASES.items()},
                                 **{alias.upper(): _FUNCTIONS[name] for alias, name in _ALIASES.items()},
                                 "logcosh": log_cosh}
_FUNCTION_NAMES = {f: name for name, f in _FUNCTIONS.items()}


def get(identifier) -> Loss:
    """A ``Loss`` for a name (a function name such as ``"hinge"``, an alias such as ``"mape"``, or a class
    name such as ``"BinaryFocalCrossentropy"``), a saved config dict, a ``Loss`` class or object, or a
    function ``fn(y_true, y_pred) -> loss per sample``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in LOSS_CLASSES:
            return LOSS_CLASSES[identifier]()
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}, the class "
                             "names (e.g. 'BinaryFocalCrossentropy'), or pass a Loss object or a function "
                             "(y_true, y_pred) -> loss per sample.")
        return Loss(_BY_NAME[identifier], identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    raise ValueError(f"A loss must be a name, a Loss or a callable, got {identifier!r}.")


def serialize(loss: Loss) -> dict:
    """A JSON-able description of a built-in loss: ``{"class_name", "config"}`` for a loss class,
    ``{"name": function name, **options}`` for a loss given by name."""
    cls = type(loss)
    if LOSS_CLASSES.get(cls.__name__) is cls:
        return {"class_name": cls.__name__, "config": loss.get_config()}
    name = _FUNCTION_NAMES.get(loss.fn)
    if cls is not Loss or name is None:
        raise ValueError(f"Cannot save the custom loss {loss.name!r}: only built-in losses are saved.")
    config = {"name": name, **loss.options}
    if loss.reduction != "sum_over_batch_size":
        config["reduction"] = loss.reduction
    return config


def deserialize(config: dict) -> Loss:
    """The loss ``serialize`` described."""
    config = dict(config)
    if "class_name" in config:
        if config["class_name"] not in LOSS_CLASSES:
            raise ValueError(f"Unknown loss class {config['class_name']!r}; known: {', '.join(sorted(LOSS_CLASSES))}.")
        return LOSS_CLASSES[config["class_name"]].from_config(config.get("config", {}))
    name = config.pop("name")
    if name not in _BY_NAME:
        raise ValueError(f"Unknown loss {name!r} in a saved config; known: {', '.join(sorted(_BY_NAME))}.")
    return Loss(_BY_NAME[name], name, **config)


def __dir__() -> list[str]:
    return sorted(__all__)
