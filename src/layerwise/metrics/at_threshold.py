"""Keras' metrics at a constraint: the best precision, recall, sensitivity or specificity among the
``num_thresholds`` thresholds where the other rate reaches a given value (``PrecisionAtRecall``,
``RecallAtPrecision``, ``SensitivityAtSpecificity``, ``SpecificityAtSensitivity``).

They share the confusion counts of ``confusion_counts.py``: ``(4, thresholds)`` on the even grid
``0, 1/(n-1), ..., 1`` (predictions clipped to [0, 1], as Keras counts them), or at 0.5 alone for
``num_thresholds=1``.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.metrics.base import as_result
from layerwise.metrics.confusion_counts import ConfusionMetric, divide_no_nan

__all__ = ["PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity"]


class _RateAtRate(ConfusionMetric):
    """The largest ``dependent`` rate over the thresholds whose ``constrained`` rate is >= ``value`` (0 when
    none is), of predictions ``(batch, ...)`` in [0, 1] against binary targets, or of the column
    ``class_id`` of ``(batch, classes)`` data. ``value_arg`` is the argument that gives ``value``."""

    value_arg = "value"

    def __init__(self, value: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        owner = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not 0 <= value <= 1:
            raise ValueError(f"{owner}: {self.value_arg} must be a number in [0, 1]; received "
                             f"{self.value_arg}={value!r}.")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                or num_thresholds <= 0:
            raise ValueError(f"{owner}: num_thresholds must be an integer > 0; received "
                             f"num_thresholds={num_thresholds!r}.")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))
                                     or class_id < 0):
            raise ValueError(f"{owner}: class_id must be None or an integer >= 0; received class_id={class_id!r}.")
        self.value, self.num_thresholds = value, int(num_thresholds)
        self.class_id = None if class_id is None else int(class_id)
        if num_thresholds == 1:
            self.thresholds, self.evenly = [0.5], False
        else:
            # Keras counts even these two thresholds, 0 and 1, on its grid (clipping the predictions).
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self.evenly = [0.0, *inner, 1.0], True
        super().__init__(name, dtype)

    def _rates(self, tp, fp, tn, fn) -> tuple[torch.Tensor, torch.Tensor]:
        """The constrained and the dependent rate at each threshold."""
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        """The best dependent rate where the constraint holds, ``()`` float32 as in Keras."""
        if self.counts is None:
            return as_result(0.0)
        constrained, dependent = self._rates(*self.counts)
        feasible = constrained >= self.value
        return as_result(torch.where(feasible, dependent, torch.zeros_like(dependent)).max().clamp_min(0))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self.value_arg: self.value}


def _recall(tp, fp, tn, fn) -> torch.Tensor:
    return divide_no_nan(tp, tp + fn)


def _precision(tp, fp, tn, fn) -> torch.Tensor:
    return divide_no_nan(tp, tp + fp)


def _specificity(tp, fp, tn, fn) -> torch.Tensor:
    return divide_no_nan(tn, tn + fp)


class PrecisionAtRecall(_RateAtRate):
    """The best precision where recall is >= ``recall``."""

    name, value_arg = "precision_at_recall", "recall"

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)
        self.recall = recall

    def _rates(self, *counts):
        return _recall(*counts), _precision(*counts)


class RecallAtPrecision(_RateAtRate):
    """The best recall where precision is >= ``precision`` (0 when no threshold reaches it)."""

    name, value_arg = "recall_at_precision", "precision"

    def __init__(self, precision: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
        self.precision = precision

    def _rates(self, *counts):
        return _precision(*counts), _recall(*counts)


class SensitivityAtSpecificity(_RateAtRate):
    """The best sensitivity (recall, tp / (tp + fn)) where specificity (tn / (tn + fp)) is >= ``specificity``."""

    name, value_arg = "sensitivity_at_specificity", "specificity"

    def __init__(self, specificity: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)
        self.specificity = specificity

    def _rates(self, *counts):
        return _specificity(*counts), _recall(*counts)


class SpecificityAtSensitivity(_RateAtRate):
    """The best specificity (tn / (tn + fp)) where sensitivity (recall, tp / (tp + fn)) is >= ``sensitivity``."""

    name, value_arg = "specificity_at_sensitivity", "sensitivity"

    def __init__(self, sensitivity: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)
        self.sensitivity = sensitivity

    def _rates(self, *counts):
        return _recall(*counts), _specificity(*counts)
