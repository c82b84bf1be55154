"""Probabilistic and hinge metrics: running means of the matching losses per sample."""
from __future__ import annotations

import torch

from layerwise.losses import functions as fn
from layerwise.metrics.base import MeanMetricWrapper, masked_weights

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "KLDivergence", "Poisson",
           "SparseCategoricalCrossentropy", "SquaredHinge"]


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0):
        super().__init__(fn.binary_crossentropy, name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name: str = "categorical_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1):
        super().__init__(fn.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean crossentropy of integer labels ``(batch, ...)`` against class scores ``(batch, ..., classes)``.
    Labels equal to ``ignore_class`` give 0. As in Keras' metric (unlike the loss) they still count in the mean
    when no ``sample_weight`` is given; with one, their weights are zeroed and the mean is over the others."""

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype=None, from_logits: bool = False,
                 ignore_class: int | None = None, axis: int = -1):
        super().__init__(fn.sparse_categorical_crossentropy, name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)

    def update(self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight=None) -> None:
        ignore = self.fn_kwargs["ignore_class"]
        if ignore is not None and sample_weight is not None:
            labels = y_true.squeeze(-1) if y_true.ndim == y_pred.ndim else y_true  # (batch, ..., 1) or (batch, ...)
            sample_weight = masked_weights((labels != ignore).to(torch.float32), sample_weight)
        super().update(y_true, y_pred, sample_weight)


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name: str = "kl_divergence", dtype=None):
        super().__init__(fn.kl_divergence, name, dtype)


class Poisson(MeanMetricWrapper):
    def __init__(self, name: str = "poisson", dtype=None):
        super().__init__(fn.poisson, name, dtype)


class Hinge(MeanMetricWrapper):
    """The mean hinge loss; targets in {0, 1} are read as {-1, 1}."""

    def __init__(self, name: str = "hinge", dtype=None):
        super().__init__(fn.hinge, name, dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss; targets in {0, 1} are read as {-1, 1}."""

    def __init__(self, name: str = "squared_hinge", dtype=None):
        super().__init__(fn.squared_hinge, name, dtype)


class CategoricalHinge(MeanMetricWrapper):
    def __init__(self, name: str = "categorical_hinge", dtype=None):
        super().__init__(fn.categorical_hinge, name, dtype)
