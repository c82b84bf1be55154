"""Metrics from confusion-matrix counts: true/false positives/negatives at thresholds, precision, recall,
AUC (``metrics/auc.py``) and the F-scores. Counts accumulate as ``(4, thresholds)`` or ``(4, classes)`` tensors."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.backend import get_device
from layerwise.losses.base import as_tensor
from layerwise.losses.functions import EPSILON
from layerwise.metrics.auc import AUC
from layerwise.metrics.base import Metric, accumulate, as_result, row_variables, zeroed
from layerwise.metrics.confusion_counts import NEG_INF, ConfusionMetric, divide_no_nan, evenly_spaced, parse_thresholds
from layerwise.variables import MetricVariable

__all__ = ["AUC", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Precision", "Recall",
           "TrueNegatives", "TruePositives"]


class _ConditionCount(ConfusionMetric):
    """One of the four counts over every entry of ``y_pred``: ``()`` for one threshold, ``(thresholds,)`` for
    several."""

    row = 0

    def __init__(self, thresholds=None, name: str | None = None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, type(self).__name__)
        self.evenly = evenly_spaced(self.thresholds)
        super().__init__(name, dtype)

    @property
    def _rows(self) -> tuple[tuple[int, str], ...]:
        return ((self.row, "accumulator"),)

    def result(self) -> torch.Tensor:
        return self._zeros() if self.counts is None else self._per_threshold(self.counts[self.row])

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    name, row = "true_positives", 0


class FalsePositives(_ConditionCount):
    name, row = "false_positives", 1


class TrueNegatives(_ConditionCount):
    name, row = "true_negatives", 2


class FalseNegatives(_ConditionCount):
    name, row = "false_negatives", 3


class _PrecisionRecall(ConfusionMetric):
    """tp / (tp + fp, or + fn) at ``thresholds`` (0.5; with ``top_k``, every kept prediction counts), over
    the ``top_k`` largest predictions of each row and the column ``class_id`` when given; ``()`` for one
    threshold, ``(thresholds,)`` for several."""

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        owner = type(self).__name__
        for arg, value in (("top_k", top_k), ("class_id", class_id)):
            low = 1 if arg == "top_k" else 0
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < low):
                raise ValueError(f"{owner}: {arg} must be None or an integer >= {low}; received {arg}={value!r}.")
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else int(top_k)
        self.class_id = None if class_id is None else int(class_id)
        self.thresholds = parse_thresholds(thresholds, owner, 0.5 if top_k is None else NEG_INF)
        self.evenly = evenly_spaced(self.thresholds)
        super().__init__(name, dtype)

    def result(self) -> torch.Tensor:
        if self.counts is None:
            return self._zeros()
        tp, fp, _, fn = self.counts
        return self._per_threshold(divide_no_nan(tp, tp + (fp if self.row == 1 else fn)))

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """The fraction of predicted positives that are positive: tp / (tp + fp)."""

    name, row = "precision", 1
    _rows = ((0, "true_positives"), (1, "false_positives"))


class Recall(_PrecisionRecall):
    """The fraction of positives predicted positive: tp / (tp + fn)."""

    name, row = "recall", 3
    _rows = ((0, "true_positives"), (3, "false_negatives"))


_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """The F-beta score of multi-class or multi-label targets ``(batch, classes)``: per class
    (``average=None``, an array) or averaged 'micro', 'macro' or 'weighted' (by support). Predictions
    above ``threshold`` count as positive; with ``threshold=None`` each row's largest does."""

    name = "fbeta_score"

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str | None = None, dtype=None):
        owner = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(f"{owner}: average must be one of {_AVERAGES}; received average={average!r}.")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"{owner}: beta must be a float > 0; received beta={beta!r}.")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 < threshold <= 1):
            raise ValueError(f"{owner}: threshold must be None or a float with 0 < threshold <= 1; received "
                             f"threshold={threshold!r}.")
        self.average, self.beta = average, float(beta)
        self.threshold = None if threshold is None else float(threshold)
        super().__init__(name, dtype)

    def reset(self) -> None:
        # (4, classes), or (4,) for 'micro': tp, fp, fn, support; built at the first update, as Keras builds it.
        self.stats: torch.Tensor | None = zeroed(self.__dict__.get("stats"))
        # Kept by reset, so that result() keeps its shape (one score per class) until the next update.
        self.num_classes: int | None = getattr(self, "num_classes", None)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = y_pred.detach().to(getattr(torch, self.dtype))
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects one-hot or multi-label targets and predictions of "
                             f"shape (batch, classes); received y_true.shape={tuple(y_true.shape)} and "
                             f"y_pred.shape={tuple(y_pred.shape)}.")
        y_true = y_true.to(y_pred.dtype)
        if self.threshold is None:
            # The row maximum, unless the row is all zeros.
            predicted = (y_pred >= y_pred.amax(-1, keepdim=True)) & (y_pred.abs() > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.to(y_pred.dtype)
        self.num_classes = y_pred.shape[-1]
        weight = 1.0 if sample_weight is None else as_tensor(sample_weight, y_pred).to(y_pred.dtype).reshape(-1, 1)
        dims = (0, 1) if self.average == "micro" else 0
        batch = torch.stack([(predicted * y_true * weight).sum(dims), (predicted * (1 - y_true) * weight).sum(dims),
                             ((1 - predicted) * y_true * weight).sum(dims), (y_true * weight).sum(dims)])
        self.stats = accumulate(self.stats, batch)

    @property
    def variables(self) -> list[MetricVariable]:
        """Keras' variables once built: ``true_positives``, ``false_positives``, ``false_negatives`` and
        ``intermediate_weights`` (the support), ``(classes,)`` each (``()`` for 'micro'), views of the state."""
        rows = ((0, "true_positives"), (1, "false_positives"), (2, "false_negatives"), (3, "intermediate_weights"))
        return row_variables(self.stats, rows, self.name) + super().variables

    def result(self) -> torch.Tensor:
        """The score in the metric's dtype: ``(classes,)`` for ``average=None``, else ``()``. With no data since
        the last reset it is the score of zero counts, as in Keras (zeros per class); before the first update,
        when the number of classes is not known yet, it is 0."""
        stats = self.stats
        if stats is None:
            if self.num_classes is None:
                return as_result(0.0, self._torch_dtype)  # Keras fails here (its counts do not exist yet)
            stats = torch.zeros((4,) if self.average == "micro" else (4, self.num_classes), dtype=self._torch_dtype,
                                device=get_device())
        tp, fp, fn, support = stats
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            score = (score * support / (support.sum() + EPSILON)).sum()
        elif self.average is not None:
            score = score.mean()
        return as_result(score, self._torch_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score: FBetaScore with ``beta=1``."""

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str = "f1_score",
                 dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
