"""Accuracy metrics: the fraction of samples whose prediction matches the target, including Keras' top-k
accuracies. Each snake_case function gives one value per sample ``(batch,)`` (as ``keras.metrics.<name>``);
each class averages its function over batches."""
from __future__ import annotations

import torch

from layerwise.losses.base import as_tensor, match_rank
from layerwise.metrics.base import Metric

__all__ = ["Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "in_top_k", "binary_accuracy",
           "categorical_accuracy", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "top_k_categorical_accuracy"]


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> torch.Tensor:
    y_pred = as_tensor(y_pred)
    y_true, y_pred = match_rank(as_tensor(y_true, y_pred), y_pred)
    # Keras compares the labels themselves: soft or regression targets count as misses, not as rounded labels
    return ((y_pred > threshold).to(y_true.dtype) == y_true).float()


def categorical_accuracy(y_true, y_pred) -> torch.Tensor:
    y_pred = as_tensor(y_pred)
    return (y_pred.argmax(-1) == as_tensor(y_true, y_pred).argmax(-1)).float()


def sparse_categorical_accuracy(y_true, y_pred) -> torch.Tensor:
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, y_pred)
    if y_true.ndim == y_pred.ndim:
        y_true = y_true.squeeze(-1)
    return (y_pred.argmax(-1) == y_true).float()  # a float label such as 0.3 matches no class, as in Keras


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5, owner: str = "top_k_categorical_accuracy"):
    """``owner`` names the metric in errors."""
    y_pred = as_tensor(y_pred)
    labels = as_tensor(y_true, y_pred).argmax(-1)
    hits = in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k, owner)
    return hits.reshape(labels.shape).float()


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False,
                                      owner: str = "sparse_top_k_categorical_accuracy") -> torch.Tensor:
    """With ``from_sorted_ids``, ``y_pred`` ``(batch, N)`` holds class ids sorted by score instead of scores;
    ``owner`` names the metric in errors."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, y_pred)
    labels = y_true.reshape(-1)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        hits = (labels.to(y_pred.dtype).unsqueeze(1) == y_pred[:, :k]).any(dim=1)
    else:
        hits = in_top_k(labels, y_pred, k, owner)
    return hits.reshape(y_true.shape).float()


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
        return binary_accuracy(y_true, y_pred, self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the argmax of ``y_pred`` is the argmax of one-hot targets ``(batch, classes)``."""

    name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return categorical_accuracy(y_true, y_pred)


class SparseCategoricalAccuracy(Metric):
    """How often the argmax of ``y_pred`` ``(batch, classes)`` is the integer label ``(batch,)``."""

    name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        return sparse_categorical_accuracy(y_true, y_pred)


def in_top_k(labels: torch.Tensor, scores: torch.Tensor, k: int, owner: str) -> torch.Tensor:
    """Whether each label's score ``(n,)`` is among the ``k`` largest of its row of ``scores`` ``(n, classes)``;
    ties with the k-th score count as in, as in Keras. A label outside ``[0, classes)`` (such as a padding id)
    is a miss, as in TensorFlow's ``in_top_k`` and in ``sparse_categorical_accuracy``."""
    classes = scores.shape[-1]
    if k > classes:
        raise ValueError(f"{owner}: k={k} is larger than the number of classes, {classes}, of "
                         f"y_pred with shape {tuple(scores.shape)}. Use k <= {classes}.")
    labels = labels.long()
    valid = (labels >= 0) & (labels < classes)
    kth = scores.topk(k, dim=-1).values[:, -1:]
    hits = (scores.gather(-1, (labels * valid).unsqueeze(-1)) >= kth).squeeze(-1)
    return hits & valid


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
        return top_k_categorical_accuracy(y_true, y_pred, self.k, type(self).__name__)

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
        return sparse_top_k_categorical_accuracy(y_true, y_pred, self.k, self.from_sorted_ids, type(self).__name__)

    def get_config(self) -> dict:
        config = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:  # as Keras, which writes the option only when it is set
            config["from_sorted_ids"] = True
        return config
