"""Keras' metrics, accumulated on the device so that the training loop never syncs per batch.

``update(y_true, y_pred)`` adds a batch; ``result()`` returns a Python float (one sync).
"""
from __future__ import annotations

import torch


class Metric:
    name = "metric"

    def __init__(self, name: str | None = None):
        self.name = name or self.name
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count: torch.Tensor | float = 0.0

    def update(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
        values = self.values(y_true, y_pred).detach()
        self.total = self.total + values.sum()
        self.count = self.count + values.numel()

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def result(self) -> float:
        return float(self.total / self.count) if self.count else 0.0


def _match_rank(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return y_true.unsqueeze(-1) if y_true.ndim == y_pred.ndim - 1 else y_true


class BinaryAccuracy(Metric):
    name = "binary_accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, y_true, y_pred):
        y_true = _match_rank(y_true, y_pred)
        return ((y_pred > self.threshold) == (y_true > 0.5)).float()


class CategoricalAccuracy(Metric):
    name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return (y_pred.argmax(-1) == y_true.argmax(-1)).float()


class SparseCategoricalAccuracy(Metric):
    name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.squeeze(-1)
        return (y_pred.argmax(-1) == y_true.long()).float()


class MeanAbsoluteError(Metric):
    name = "mean_absolute_error"

    def values(self, y_true, y_pred):
        return (_match_rank(y_true, y_pred).to(y_pred.dtype) - y_pred).abs().mean(-1)


class MeanSquaredError(Metric):
    name = "mean_squared_error"

    def values(self, y_true, y_pred):
        return (_match_rank(y_true, y_pred).to(y_pred.dtype) - y_pred).square().mean(-1)


class _Confusion(Metric):
    """True/false positive counts at thresholds, over every entry (Keras' Precision, Recall, AUC)."""

    thresholds: list[float] = [0.5]

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None  # (4, thresholds): tp, fp, tn, fn

    def update(self, y_true, y_pred):
        y_true = _match_rank(y_true, y_pred).reshape(-1, 1) > 0.5
        above = y_pred.detach().reshape(-1, 1) > torch.tensor(self.thresholds, device=y_pred.device)
        batch = torch.stack([(above & y_true).sum(0), (above & ~y_true).sum(0),
                             (~above & ~y_true).sum(0), (~above & y_true).sum(0)]).float()
        self.counts = batch if self.counts is None else self.counts + batch


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


class Mean(Metric):
    """A weighted running mean, used for the loss (weighted by batch size, as Keras does)."""

    name = "mean"

    def update_value(self, value: torch.Tensor, weight: int) -> None:
        self.total = self.total + value.detach() * weight
        self.count = self.count + weight


_BY_NAME: dict[str, type] = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC,
}


def resolve_accuracy(true_shape: tuple, pred_shape: tuple) -> type:
    """Which accuracy 'accuracy' means, decided from the shapes as Keras does."""
    if pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, true_shape: tuple, pred_shape: tuple) -> Metric:
    """Resolve a metric name or object; ``"accuracy"``/``"acc"`` depend on the target shapes."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return resolve_accuracy(true_shape, pred_shape)(name=identifier)
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](name=identifier)
    valid = ", ".join(["accuracy", "acc", *sorted(_BY_NAME)])
    raise ValueError(f"Unknown metric {identifier!r}. Valid names: {valid}, or pass a Metric object.")
