"""Keras' metrics, accumulated on the device so that the training loop never syncs per batch.

``update(y_true, y_pred, sample_weight=None)`` adds a batch; ``result()`` returns a tensor, as in Keras: ``()``,
or ``(n,)`` for per-class or per-threshold values. ``get`` resolves what
``compile(metrics=[...])`` takes: Keras' names and aliases, Metric classes and objects, and plain functions
``f(y_true, y_pred)`` (the mean of their per-sample values, named after the function).
"""
from __future__ import annotations

import inspect
from typing import Callable

from layerwise import saving_registry
from layerwise.losses.functions import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                                        categorical_focal_crossentropy, categorical_hinge, hinge, huber,
                                        kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                                        mean_squared_error, mean_squared_logarithmic_error, poisson,
                                        sparse_categorical_crossentropy, squared_hinge)
from layerwise.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                        SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, binary_accuracy,
                                        categorical_accuracy, sparse_categorical_accuracy,
                                        sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from layerwise.metrics.at_threshold import (PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity,
                                            SpecificityAtSensitivity)
from layerwise.backend import to_snake_case
from layerwise.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
from layerwise.metrics.confusion import (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, Precision, Recall,
                                         TrueNegatives, TruePositives)
from layerwise.metrics.correlation import (ConcordanceCorrelation, PearsonCorrelation, concordance_correlation,
                                           pearson_correlation)
from layerwise.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from layerwise.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                             KLDivergence, Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from layerwise.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError,
                                          MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                          R2Score, RootMeanSquaredError)

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Sum", "deserialize", "get", "resolve_accuracy", "serialize",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "AUC", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Precision", "Recall", "TrueNegatives",
    "TruePositives", "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "ConcordanceCorrelation", "PearsonCorrelation",
    "BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "KLDivergence", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge",
    "CosineSimilarity", "LogCoshError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "R2Score", "RootMeanSquaredError",
    # per-sample functions, as keras.metrics.<name>
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber",
    "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge",
    "concordance_correlation", "pearson_correlation",
]

_CLASSES = (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, AUC, F1Score, FBetaScore, FalseNegatives,
            FalsePositives, Precision, Recall, TrueNegatives, TruePositives, BinaryCrossentropy,
            CategoricalCrossentropy, CategoricalHinge, Hinge, KLDivergence, Poisson, SparseCategoricalCrossentropy,
            SquaredHinge, CosineSimilarity, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError,
            MeanSquaredError, MeanSquaredLogarithmicError, R2Score, RootMeanSquaredError, PrecisionAtRecall,
            RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, ConcordanceCorrelation,
            PearsonCorrelation, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)
_ALIASES = {"bce": BinaryCrossentropy, "mse": MeanSquaredError, "mae": MeanAbsoluteError,
            "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError}
# As Keras 3: each class by its name and its snake_case name, and the aliases in lower and upper case.
_BY_NAME: dict[str, type] = {**{cls.__name__: cls for cls in _CLASSES},
                             **{to_snake_case(cls.__name__): cls for cls in _CLASSES},
                             **_ALIASES, **{alias.upper(): cls for alias, cls in _ALIASES.items()}}


def resolve_accuracy(true_shape: tuple, pred_shape: tuple) -> type:
    """Which accuracy 'accuracy' means, decided from the shapes as Keras does."""
    if pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def _make(cls: type, shown: str, **kwargs) -> Metric:
    """``cls(**kwargs)``, or a ValueError naming the arguments that a class such as ``MeanIoU`` needs, for a
    metric given by its name or class (shown as ``shown``)."""
    needed = [p.name for p in inspect.signature(cls).parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kwargs]
    if needed:
        example = ", ".join(f"{name}=..." for name in needed)
        raise ValueError(f"Metric {shown!r} needs the argument(s) {', '.join(needed)}, so it cannot be made from its "
                         f"name or class alone: pass an object, e.g. metrics.{cls.__name__}({example}).")
    return cls(**kwargs)


def _wrapped(fn: Callable) -> MeanMetricWrapper:
    """A metric function as a ``MeanMetricWrapper`` with the log name Keras' compile gives it: its ``name``,
    else its snake-cased ``__name__`` (or class name), where a bare ``MeanMetricWrapper`` is named after itself."""
    name = getattr(fn, "name", None) or to_snake_case(getattr(fn, "__name__", type(fn).__name__))
    return MeanMetricWrapper(fn, name=name)


def _from_object(found) -> Metric:
    """A user's metric class, function or object found by name, as a ``Metric``."""
    if inspect.isclass(found) and issubclass(found, Metric):
        return _make(found, found.__name__)
    return found if isinstance(found, Metric) else _wrapped(found)


def get(identifier, true_shape: tuple | None = None, pred_shape: tuple | None = None) -> Metric:
    """A metric for a name, a saved config dict, a Metric class or object, or a function ``f(y_true, y_pred)``.
    A built-in name becomes the metric's log name; ``"accuracy"``/``"acc"`` depend on the target and
    prediction shapes when given. A registered or custom object's name gives that object."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return _from_object(deserialize(identifier))
    if isinstance(identifier, str):
        built_in = identifier in _BY_NAME or identifier.lower() in ("accuracy", "acc")
        found = saving_registry.find_custom_object(identifier, built_in=built_in)
        if found is not None:
            return _from_object(found)
        if identifier.lower() in ("accuracy", "acc") and true_shape is not None and pred_shape is not None:
            return resolve_accuracy(true_shape, pred_shape)(name=identifier)
        if identifier in _BY_NAME:
            return _make(_BY_NAME[identifier], identifier, name=identifier)
        valid = ", ".join(["acc", *sorted(name for name in _BY_NAME if name.islower())])
        raise ValueError(f"Unknown metric {identifier!r}. Valid names: {valid}, the class names (e.g. 'F1Score'), "
                         "or pass a Metric object or a function (y_true, y_pred) -> value per sample. "
                         + saving_registry.how_to_load(identifier))
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return _make(identifier, identifier.__name__)
    if callable(identifier):
        return _wrapped(identifier)
    raise ValueError(f"A metric must be a name, a Metric or a function (y_true, y_pred), got {identifier!r}.")


def serialize(metric) -> str | dict:
    """What a file records for a ``compile(metrics=...)`` entry: a name as itself, a registered or custom
    function or class by its name, a Metric object or class as ``{"class_name", "config"}`` (with
    ``"registered_name"`` for a registered class, ``"fn"`` for a ``MeanMetricWrapper``). A function or Metric
    object nothing names is written as Keras writes it (``saving_registry.serialize_custom``), to be found again in
    ``load_model``'s ``custom_objects``; a ValueError naming the metric and the fixes for a lambda or a class."""
    if isinstance(metric, str):
        return metric
    if inspect.isfunction(metric) and globals().get(metric.__name__) is metric:
        return metric.__name__  # keras.metrics.<function>: its name resolves to the same metric
    cls = metric if inspect.isclass(metric) else type(metric)
    built_in = _BY_NAME.get(cls.__name__) is cls
    if built_in:  # a class as the object it makes, so that the loaded metric keeps its log name
        return {"class_name": cls.__name__, "config": (metric if isinstance(metric, Metric) else cls()).get_config()}
    if not isinstance(metric, Metric):
        return saving_registry.serialize_custom(metric, "metric", ValueError, unregistered=True)
    if cls is MeanMetricWrapper:
        if _metric_function(getattr(metric.fn, "__name__", None)) is metric.fn:  # Keras 3's form of its functions
            fn = saving_registry.keras_function_form(metric.fn.__name__)
        else:
            fn = saving_registry.serialize_custom(metric.fn, "metric function", ValueError, unregistered=True)
        return {"class_name": cls.__name__, "config": {**metric.get_config(), "fn": fn}}
    return saving_registry.serialize_custom(metric, "metric", ValueError, unregistered=True)


def _metric_function(name) -> Callable | None:
    """The built-in metric function called ``name`` (``"mean_absolute_error"``), or None."""
    fn = globals().get(name) if isinstance(name, str) else None
    return fn if inspect.isfunction(fn) and not name.startswith("_") else None


def deserialize(config: str | dict, custom_objects: dict | None = None):
    """The ``compile(metrics=...)`` entry ``serialize`` described: a built-in name stays a name (``compile``
    resolves it, ``"accuracy"`` by the data's shapes); a user's name gives that function or class, looked up in
    ``custom_objects`` too, as in Keras."""
    with saving_registry.loading_scope(custom_objects, "metrics.deserialize"):
        return _deserialize(config)


def _deserialize(config: str | dict):
    if isinstance(config, str):
        built_in = config in _BY_NAME or config.lower() in ("accuracy", "acc")
        found = saving_registry.find_custom_object(config, built_in=built_in)
        if found is None and not built_in:
            raise ValueError(f"Unknown metric {config!r} in a saved config. {saving_registry.how_to_load(config)}")
        return config if found is None else found
    name = config.get("class_name")
    if name == "function":  # Keras' form of a function: its name in "config"
        function = config.get("config")
        built_in = function in _BY_NAME or _metric_function(function) is not None
        found = saving_registry.find_custom_object(function, built_in=built_in)
        if found is not None:
            return found
        if not built_in:
            raise ValueError(f"Could not locate function {function!r}, the metric a saved config names. "
                             + saving_registry.how_to_load(function))
        return function if function in _BY_NAME else _metric_function(function)
    if name == "MeanMetricWrapper":
        options = dict(config.get("config", {}))
        fn = options.pop("fn")
        if isinstance(fn, dict) and fn.get("class_name") == "function":  # Keras 3 writes a function so
            fn = fn["config"]
        fn = _metric_function(fn) or _deserialize(fn)  # Keras 2 writes a built-in function by its name
        return MeanMetricWrapper(fn, **options)
    if not config.get("registered_name") and _BY_NAME.get(name) is not None:
        return _BY_NAME[name].from_config(config.get("config", {}))
    found = saving_registry.deserialize_custom(config)
    if found is None:
        name = config.get("registered_name") or name
        raise ValueError(f"Unknown metric class {name!r} in a saved config. {saving_registry.how_to_load(name)}")
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
