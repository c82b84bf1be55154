"""Generalized crossentropy (Zhang & Sabuncu, 2018), a loss robust to noisy labels: ``(1 - p ** q) / q`` of
the probability ``p`` given to the true class; q -> 0 approaches crossentropy, q = 1 the mean absolute error."""
from __future__ import annotations

import torch

from layerwise.losses.functions import accepts_arrays
from layerwise.losses.wrapped import DEFAULT_REDUCTION, FunctionLoss

__all__ = ["CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy"]


@accepts_arrays
def categorical_generalized_cross_entropy(y_true, y_pred, q: float):
    """``(1 - p ** q) / q`` per sample ``(batch, ...)``: integer labels ``(batch, ...)`` (or with a trailing
    axis of 1) against probabilities ``(batch, ..., classes)``. As in Keras a negative label gives p = 0."""
    classes = y_pred.shape[-1]
    labels = y_true.long()
    # Labels (batch, 1) as documented by Keras: one label per row, not a (batch, batch) broadcast.
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError("categorical_generalized_cross_entropy: y_true must hold one integer label per row of "
                         f"y_pred, shape {tuple(y_pred.shape[:-1])}; received y_true.shape={tuple(y_true.shape)}, "
                         f"y_pred.shape={tuple(y_pred.shape)}.")
    highest = int(labels.max()) if labels.numel() else -1
    if highest >= classes:
        raise ValueError(f"categorical_generalized_cross_entropy: labels must be below num_classes={classes}; "
                         f"received a label {highest}.")
    picked = y_pred.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    p = torch.where(labels >= 0, picked, torch.zeros_like(picked))
    return (1 - p.pow(q)) / q


class CategoricalGeneralizedCrossEntropy(FunctionLoss):
    """The loss of ``categorical_generalized_cross_entropy`` with noise parameter ``q`` in (0, 1)."""

    def __init__(self, q: float = 0.5, reduction=DEFAULT_REDUCTION, name: str = "categorical_generalized_cross_entropy",
                 dtype=None):
        if not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval (0, 1); received q={q!r}.")
        super().__init__(categorical_generalized_cross_entropy, name, reduction, dtype, q=q)
