"""Keras' correlation metrics: Pearson's and the concordance correlation coefficient along an axis, per sample
(``pearson_correlation``, ``concordance_correlation``), and their running means over batches."""
from __future__ import annotations

import torch

from layerwise.losses.base import as_tensor, squeeze_or_expand
from layerwise.losses.functions import EPSILON
from layerwise.metrics.base import MeanMetricWrapper

__all__ = ["ConcordanceCorrelation", "PearsonCorrelation", "concordance_correlation", "pearson_correlation"]


def _dims(axis) -> int | tuple[int, ...]:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def pearson_correlation(y_true, y_pred, axis: int | tuple[int, ...] = -1) -> torch.Tensor:
    """Pearson's correlation of ``y_true`` and ``y_pred`` along ``axis``: ``(batch, d)`` gives ``(batch,)``.
    A constant row has no correlation (NaN), as in Keras."""
    y_pred = as_tensor(y_pred)
    y_true, y_pred = squeeze_or_expand(as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    dims = _dims(axis)
    true_centred = y_true - y_true.mean(dims, keepdim=True)
    pred_centred = y_pred - y_pred.mean(dims, keepdim=True)
    true_centred = true_centred / true_centred.std(dims, correction=0, keepdim=True)
    pred_centred = pred_centred / pred_centred.std(dims, correction=0, keepdim=True)
    return (true_centred * pred_centred).mean(dims)


def concordance_correlation(y_true, y_pred, axis: int | tuple[int, ...] = -1) -> torch.Tensor:
    """Lin's concordance correlation of ``y_true`` and ``y_pred`` along ``axis`` as Keras computes it:
    ``mean(2 (y_true - mean(y_pred)) (y_pred - mean(y_pred)) / (var(y_true) + var(y_pred) + (mean(y_true) -
    mean(y_pred))^2 + eps))``. ``(batch, d)`` gives ``(batch,)``."""
    y_pred = as_tensor(y_pred)
    y_true, y_pred = squeeze_or_expand(as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    dims = _dims(axis)
    true_mean, pred_mean = y_true.mean(dims, keepdim=True), y_pred.mean(dims, keepdim=True)
    norm = (y_true - true_mean).var(dims, correction=0, keepdim=True) \
        + (y_pred - pred_mean).var(dims, correction=0, keepdim=True) + (true_mean - pred_mean).square()
    # Keras centres the targets on the predictions' mean: the same mean, as y_pred - pred_mean sums to 0.
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    return (2 * covariance / (norm + EPSILON)).mean(dims)


class PearsonCorrelation(MeanMetricWrapper):
    """The mean over samples of ``pearson_correlation`` along ``axis`` (an int or a tuple of ints)."""

    def __init__(self, name: str = "pearson_correlation", dtype=None, axis: int | tuple[int, ...] = -1):
        super().__init__(pearson_correlation, name, dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean over samples of ``concordance_correlation`` along ``axis`` (an int or a tuple of ints)."""

    def __init__(self, name: str = "concordance_correlation", dtype=None, axis: int | tuple[int, ...] = -1):
        super().__init__(concordance_correlation, name, dtype, axis=axis)
        self.axis = axis
