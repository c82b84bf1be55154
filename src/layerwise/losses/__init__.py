"""Keras' losses: functions ``fn(y_true, y_pred) -> per-sample values`` (``losses/functions.py``), the
``Loss`` object that weights and reduces them (``losses/base.py``) and Keras' loss classes
(``losses/classes.py``); the segmentation, sequence, metric-learning and noisy-label losses live in
``overlap``, ``ctc``, ``similarity`` and ``noisy_labels``. ``get`` resolves what ``compile(loss=...)``
takes, with Keras' names and aliases."""
from __future__ import annotations

import inspect
from typing import Callable

from layerwise import saving_registry
from layerwise.losses.base import EPSILON, REDUCTIONS, Loss
from layerwise.losses.classes import (LOSS_CLASSES, BinaryCrossentropy, BinaryFocalCrossentropy,
                                      CategoricalCrossentropy, CategoricalFocalCrossentropy, CategoricalHinge,
                                      CosineSimilarity, Hinge, Huber, KLDivergence, LogCosh, MeanAbsoluteError,
                                      MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                      Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from layerwise.losses.ctc import CTC, ctc
from layerwise.losses.functions import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                                        categorical_focal_crossentropy, categorical_hinge, cosine_similarity, hinge,
                                        huber, kl_divergence, log_cosh, mean_absolute_error,
                                        mean_absolute_percentage_error, mean_squared_error,
                                        mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                                        squared_hinge)
from layerwise.losses.noisy_labels import CategoricalGeneralizedCrossEntropy, categorical_generalized_cross_entropy
from layerwise.losses.overlap import Dice, Tversky, dice, tversky
from layerwise.losses.similarity import Circle, circle

__all__ = [
    "EPSILON", "REDUCTIONS", "Loss", "deserialize", "get", "serialize",
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "Dice", "Tversky", "Circle", "CTC",
    "CategoricalGeneralizedCrossEntropy",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "cosine_similarity", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge",
    "dice", "tversky", "circle", "ctc", "categorical_generalized_cross_entropy",
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
# Keras wraps these functions in a loss that matches ranks only by a size-1 axis (labels for ctc) and, for
# circle, leaves zero losses out of the mean: their classes do both, with the functions' defaults.
# categorical_generalized_cross_entropy has no default q, so, as in Keras, no name gives it.
_CLASSES_OF_FUNCTIONS: dict[Callable, type] = {dice: Dice, tversky: Tversky, circle: Circle, ctc: CTC}
_CLASS_BY_FUNCTION_NAME = {f.__name__: cls for f, cls in _CLASSES_OF_FUNCTIONS.items()}


def _from_function(fn: Callable, **options) -> Loss:
    """A user's loss function, or a Loss class or object found by name, as a ``Loss``."""
    if inspect.isclass(fn) and issubclass(fn, Loss):
        return fn(**options)
    if isinstance(fn, Loss):
        return fn
    return Loss(fn, getattr(fn, "__name__", "loss"), **options)


def get(identifier) -> Loss:
    """A ``Loss`` for a name (a function name such as ``"hinge"``, an alias such as ``"mape"``, a class
    name such as ``"BinaryFocalCrossentropy"``, or a registered or custom object's name), a saved config
    dict, a ``Loss`` class or object, or a function ``fn(y_true, y_pred) -> loss per sample``. The names and
    functions dice, tversky, circle and ctc give their classes (``Dice()``...), which treat inputs as Keras does."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        built_in = identifier in LOSS_CLASSES or identifier in _BY_NAME or identifier in _CLASS_BY_FUNCTION_NAME
        found = saving_registry.find_custom_object(identifier, built_in=built_in)
        if found is not None:
            return _from_function(found)
        if identifier in LOSS_CLASSES:
            return LOSS_CLASSES[identifier]()
        if identifier in _CLASS_BY_FUNCTION_NAME:
            return _CLASS_BY_FUNCTION_NAME[identifier]()
        if identifier not in _BY_NAME:
            names = sorted({*_BY_NAME, *_CLASS_BY_FUNCTION_NAME})
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(names)}, the class "
                             "names (e.g. 'BinaryFocalCrossentropy'), or pass a Loss object or a function "
                             f"(y_true, y_pred) -> loss per sample. {saving_registry.how_to_load(identifier)}")
        return Loss(_BY_NAME[identifier], identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        cls = next((cls for fn, cls in _CLASSES_OF_FUNCTIONS.items() if fn is identifier), None)
        if cls is not None:
            return cls()
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    raise ValueError(f"A loss must be a name, a Loss or a callable, got {identifier!r}.")


def serialize(loss: Loss) -> dict:
    """A JSON-able description of a loss: ``{"class_name", "config"}`` for a loss class (with
    ``"registered_name"`` for a registered one, the class's own name for another, as Keras writes it),
    ``{"name": function name, **options}`` for a loss given by a built-in or registered function, Keras'
    ``{"module": "builtins", "class_name": "function", "config": name, ...}`` for another function, which
    ``load_model(..., custom_objects={name: function})`` finds again. A ValueError naming the loss and the fixes
    for a lambda."""
    cls = type(loss)
    if LOSS_CLASSES.get(cls.__name__) is cls:
        return {"class_name": cls.__name__, "config": loss.get_config()}
    if cls is not Loss:
        return saving_registry.serialize_custom(loss, "loss", ValueError, unregistered=True)
    options = {**loss.options, **({"reduction": loss.reduction} if loss.reduction != "sum_over_batch_size" else {})}
    name = _FUNCTION_NAMES.get(loss.fn) or saving_registry.saved_name(loss.fn)
    if name is None:
        if not inspect.isroutine(loss.fn) or getattr(loss.fn, "__name__", "<lambda>") == "<lambda>":
            raise ValueError(f"Cannot save the custom loss {loss.name!r}: only built-in and named functions are "
                             f"saved. {saving_registry.how_to_save(loss.fn)}")
        if not options:
            return saving_registry.keras_function_form(loss.fn.__name__)
        name = loss.fn.__name__
    return {"name": name, **options}


def deserialize(name: dict | str, custom_objects: dict | None = None) -> Loss | Callable:
    """The loss ``serialize`` (or Keras) described; its registered or custom objects are looked up by name, in
    ``custom_objects`` too. A name gives what Keras gives: a loss class's name an instance of it, a function's
    name the function."""
    with saving_registry.loading_scope(custom_objects, "losses.deserialize"):
        return _named_loss(name) if isinstance(name, str) else _loss_from_config(name)


def _named_loss(name: str) -> Loss | Callable:
    found = saving_registry.find_custom_object(name, built_in=name in _BY_NAME or name in LOSS_CLASSES)
    if found is not None:
        return found
    if name in LOSS_CLASSES:
        return LOSS_CLASSES[name]()
    if name in _BY_NAME:
        return _BY_NAME[name]
    raise ValueError(f"Unknown loss {name!r}; known: {', '.join(sorted({*_BY_NAME, *LOSS_CLASSES}))}. "
                     f"{saving_registry.how_to_load(name)}")


def _loss_from_config(config: dict) -> Loss:
    config = dict(config)
    if config.get("class_name") == "function":  # Keras' form of a function: its name in "config"
        return _function_loss(config["config"])
    if "class_name" in config:
        name = config["class_name"]
        if config.get("registered_name") or name not in LOSS_CLASSES:
            found = saving_registry.deserialize_custom(config)
            if found is None:
                raise ValueError(f"Unknown loss class {config.get('registered_name') or name!r}; known: "
                                 f"{', '.join(sorted(LOSS_CLASSES))}. {saving_registry.how_to_load(name)}")
            return _from_function(found)
        return LOSS_CLASSES[name].from_config(config.get("config", {}))
    name = config.pop("name")
    found = saving_registry.find_custom_object(name, built_in=name in _BY_NAME)
    if found is not None:
        return _from_function(found, **config)
    if name not in _BY_NAME:
        raise ValueError(f"Unknown loss {name!r} in a saved config; known: {', '.join(sorted(_BY_NAME))}. "
                         f"{saving_registry.how_to_load(name)}")
    return Loss(_BY_NAME[name], name, **config)


def _function_loss(name: str) -> Loss:
    """The loss function Keras' form names: the user's (``custom_objects``, registered) or a built-in one."""
    built_in = name in _BY_NAME or name in _CLASS_BY_FUNCTION_NAME
    found = saving_registry.find_custom_object(name, built_in=built_in)
    if found is not None:
        return _from_function(found)
    if built_in:
        return get(name)
    raise ValueError(f"Could not locate function {name!r}, the loss a saved config names. "
                     + saving_registry.how_to_load(name))


def __dir__() -> list[str]:
    return sorted(__all__)
