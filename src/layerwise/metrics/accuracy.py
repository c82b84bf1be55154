"""Accuracy metrics: the fraction of samples whose prediction matches the target (``(batch,)`` values
averaged by ``Metric``), including Keras' top-k accuracies."""
from __future__ import annotations

import torch

from layerwise.losses.base import match_rank
from layerwise.metrics.base import Metric

__all__ = ["Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "in_top_k"]


class Accuracy(Metric):
    """How often predictions equal the targets exactly (for labels, not probabilities)."""

    name = "accuracy"

    def values(self, y_true, y_pred):
        y_true, y_pred = match_rank(y_true, y_pred)
        return (y_true.to(y_pred.dtype) == y_pred).float()


class BinaryAccuracy(Metric):
    """How often ``y_pred > threshold`` agrees with binary targets."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None, dtype=None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        y_true, y_pred = match_rank(y_true, y_pred)
        return ((y_pred > self.threshold) == (y_true > 0.5)).float()

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the argmax of ``y_pred`` is the argmax of one-hot targets ``(batch, classes)``."""

    name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return (y_pred.argmax(-1) == y_true.argmax(-1)).float()


class SparseCategoricalAccuracy(Metric):
    """How often the argmax of ``y_pred`` ``(batch, classes)`` is the integer label ``(batch,)``."""

    name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.squeeze(-1)
        return (y_pred.argmax(-1) == y_true.long()).float()


def in_top_k(labels: torch.Tensor, scores: torch.Tensor, k: int, owner: str) -> torch.Tensor:
    """Whether each label's score ``(n,)`` is among the ``k`` largest of its row of ``scores`` ``(n, classes)``;
    ties with the k-th score count as in, as in Keras."""
    if k > scores.shape[-1]:
        raise ValueError(f"{owner}: k={k} is larger than the number of classes, {scores.shape[-1]}, of "
                         f"y_pred with shape {tuple(scores.shape)}. Use k <= {scores.shape[-1]}.")
    kth = scores.topk(k, dim=-1).values[:, -1:]
    return (scores.gather(-1, labels.long().unsqueeze(-1)) >= kth).squeeze(-1)


def _check_k(k, owner: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{owner}: k must be a positive integer; received k={k!r}.")
    return k


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the ``k`` highest predictions."""

    name = "top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, dtype=None):
        self.k = _check_k(k, type(self).__name__)
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        labels = y_true.argmax(-1)
        hits = in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), self.k, type(self).__name__)
        return hits.reshape(labels.shape).float()

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(Metric):
    """How often the integer label is among the ``k`` highest predictions. With ``from_sorted_ids``,
    ``y_pred`` ``(batch, N)`` holds class ids sorted by score instead of scores."""

    name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, dtype=None, from_sorted_ids: bool = False):
        self.k = _check_k(k, type(self).__name__)
        self.from_sorted_ids = from_sorted_ids
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        labels = y_true.reshape(-1)
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
        if self.from_sorted_ids:
            hits = (labels.to(y_pred.dtype).unsqueeze(1) == y_pred[:, :self.k]).any(dim=1)
        else:
            hits = in_top_k(labels, y_pred, self.k, type(self).__name__)
        return hits.reshape(y_true.shape).float()

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k, "from_sorted_ids": self.from_sorted_ids}
