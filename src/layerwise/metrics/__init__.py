"""Keras' metrics, accumulated on the device so that the training loop never syncs per batch.

``update(y_true, y_pred, sample_weight=None)`` adds a batch; ``result()`` returns a Python float (one
sync), or a numpy array for per-class or per-threshold values. ``get`` resolves what
``compile(metrics=[...])`` takes: Keras' names and aliases, Metric classes and objects, and plain functions
``f(y_true, y_pred)`` (the mean of their per-sample values, named after the function).
"""
from __future__ import annotations

import inspect

from layerwise.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                        SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from layerwise.metrics.base import Mean, MeanMetricWrapper, Metric, Sum, snake_case
from layerwise.metrics.confusion import (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, Precision, Recall,
                                         TrueNegatives, TruePositives)
from layerwise.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                             KLDivergence, Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from layerwise.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError,
                                          MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                                          R2Score, RootMeanSquaredError)

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Sum", "get", "resolve_accuracy",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "AUC", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Precision", "Recall", "TrueNegatives",
    "TruePositives",
    "BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "KLDivergence", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge",
    "CosineSimilarity", "LogCoshError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "R2Score", "RootMeanSquaredError",
]

_CLASSES = (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, AUC, F1Score, FBetaScore, FalseNegatives,
            FalsePositives, Precision, Recall, TrueNegatives, TruePositives, BinaryCrossentropy,
            CategoricalCrossentropy, CategoricalHinge, Hinge, KLDivergence, Poisson, SparseCategoricalCrossentropy,
            SquaredHinge, CosineSimilarity, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError,
            MeanSquaredError, MeanSquaredLogarithmicError, R2Score, RootMeanSquaredError)
_ALIASES = {"bce": BinaryCrossentropy, "mse": MeanSquaredError, "mae": MeanAbsoluteError,
            "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError}
# As Keras 3: each class by its name and its snake_case name, and the aliases in lower and upper case.
_BY_NAME: dict[str, type] = {**{cls.__name__: cls for cls in _CLASSES},
                             **{snake_case(cls.__name__): cls for cls in _CLASSES},
                             **_ALIASES, **{alias.upper(): cls for alias, cls in _ALIASES.items()}}


def resolve_accuracy(true_shape: tuple, pred_shape: tuple) -> type:
    """Which accuracy 'accuracy' means, decided from the shapes as Keras does."""
    if pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, true_shape: tuple | None = None, pred_shape: tuple | None = None) -> Metric:
    """A metric for a name, a Metric class or object, or a function ``f(y_true, y_pred)``. A name becomes
    the metric's log name; ``"accuracy"``/``"acc"`` depend on the target and prediction shapes when given."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc") and true_shape is not None and pred_shape is not None:
            return resolve_accuracy(true_shape, pred_shape)(name=identifier)
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](name=identifier)
        valid = ", ".join(["accuracy", "acc", *sorted(name for name in _BY_NAME if name.islower())])
        raise ValueError(f"Unknown metric {identifier!r}. Valid names: {valid}, the class names (e.g. 'F1Score'), "
                         "or pass a Metric object or a function (y_true, y_pred) -> value per sample.")
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "name", None))
    raise ValueError(f"A metric must be a name, a Metric or a function (y_true, y_pred), got {identifier!r}.")


def __dir__() -> list[str]:
    return sorted(__all__)
