"""Metrics from confusion-matrix counts: true/false positives/negatives at thresholds, precision,
recall, ROC AUC and the F-scores. Counts accumulate as ``(thresholds,)`` or ``(classes,)`` tensors."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.losses.base import as_tensor, squeeze_or_expand
from layerwise.losses.functions import EPSILON
from layerwise.metrics.base import Metric, as_result

__all__ = ["AUC", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Precision", "Recall",
           "TrueNegatives", "TruePositives"]


def _parse_thresholds(thresholds, owner: str) -> list[float]:
    if thresholds is None:
        return [0.5]
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    if not values or any(not 0 <= float(t) <= 1 for t in values):
        raise ValueError(f"{owner}: thresholds must be a float or a list of floats in [0, 1]; received "
                         f"thresholds={thresholds!r}.")
    return [float(t) for t in values]


class _Confusion(Metric):
    """True/false positive/negative counts at thresholds over every entry of ``y_pred``; a target is
    positive when it is not 0 (Keras' cast to bool). Row ``i`` of ``counts`` is tp, fp, tn, fn."""

    thresholds: list[float] = [0.5]

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None  # (4, thresholds)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred, y_true = squeeze_or_expand(y_pred.detach().to(getattr(torch, self.dtype)), y_true)
        positive = (y_true != 0).expand(y_pred.shape).reshape(-1, 1)
        above = (y_pred.reshape(-1, 1) > torch.tensor(self.thresholds, device=y_pred.device)).to(y_pred.dtype)
        weight = torch.ones_like(positive, dtype=y_pred.dtype)
        if sample_weight is not None:
            _, w = squeeze_or_expand(y_true, as_tensor(sample_weight, y_pred).to(y_pred.dtype).unsqueeze(-1),
                                     expand_rank_1=False)
            weight = w.expand(y_pred.shape).reshape(-1, 1)
        pos, neg = weight * positive, weight * ~positive
        batch = torch.stack([(above * pos).sum(0), (above * neg).sum(0), ((1 - above) * neg).sum(0),
                             ((1 - above) * pos).sum(0)])
        self.counts = batch if self.counts is None else self.counts + batch


class _ConditionCount(_Confusion):
    """One of the four counts: a float for one threshold, an array for several."""

    row = 0

    def __init__(self, thresholds=None, name: str | None = None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, type(self).__name__)
        super().__init__(name, dtype)

    def result(self) -> float | np.ndarray:
        if self.counts is None:
            return 0.0 if len(self.thresholds) == 1 else np.zeros(len(self.thresholds), np.float32)
        counts = self.counts[self.row]
        return as_result(counts[0] if len(self.thresholds) == 1 else counts)

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


class Precision(_Confusion):
    name = "precision"

    def result(self):
        if self.counts is None:
            return 0.0
        tp, fp = self.counts[0, 0], self.counts[1, 0]
        return float(tp / (tp + fp)) if tp + fp > 0 else 0.0


class Recall(_Confusion):
    name = "recall"

    def result(self):
        if self.counts is None:
            return 0.0
        tp, fn = self.counts[0, 0], self.counts[3, 0]
        return float(tp / (tp + fn)) if tp + fn > 0 else 0.0


class AUC(_Confusion):
    """ROC AUC over 200 thresholds with trapezoidal sums, as Keras' default ``AUC()``."""

    name = "auc"

    def __init__(self, name: str | None = None, num_thresholds: int = 200):
        eps = 1e-7
        self.thresholds = [0.0 - eps] + [i / (num_thresholds - 1) for i in range(1, num_thresholds - 1)] + [1.0 + eps]
        super().__init__(name)

    def result(self):
        if self.counts is None:
            return 0.0
        tp, fp, tn, fn = self.counts
        tpr = tp / (tp + fn).clamp_min(1e-12)
        fpr = fp / (fp + tn).clamp_min(1e-12)
        return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())


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
        self.stats: torch.Tensor | None = None  # (4, classes), or (4,) for 'micro': tp, fp, fn, support

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
        weight = 1.0 if sample_weight is None else as_tensor(sample_weight, y_pred).to(y_pred.dtype).reshape(-1, 1)
        dims = (0, 1) if self.average == "micro" else 0
        batch = torch.stack([(predicted * y_true * weight).sum(dims), (predicted * (1 - y_true) * weight).sum(dims),
                             ((1 - predicted) * y_true * weight).sum(dims), (y_true * weight).sum(dims)])
        self.stats = batch if self.stats is None else self.stats + batch

    def result(self) -> float | np.ndarray:
        if self.stats is None:
            return 0.0
        tp, fp, fn, support = self.stats
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            score = (score * support / (support.sum() + EPSILON)).sum()
        elif self.average is not None:
            score = score.mean()
        return as_result(score)

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
