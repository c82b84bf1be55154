"""Overlap losses for segmentation masks: Dice and Tversky. Targets and predictions (probabilities) share
a shape; ``axis`` names the axes summed over (None: all, giving one value for the whole batch; e.g.
``(1, 2, 3)`` for masks ``(batch, h, w, c)`` gives one value per sample)."""
from __future__ import annotations

import torch

from layerwise.losses.functions import EPSILON, _like, accepts_arrays
from layerwise.losses.wrapped import DEFAULT_REDUCTION, FunctionLoss

__all__ = ["Dice", "Tversky", "dice", "tversky"]


def _checked(name: str, y_true: torch.Tensor, y_pred: torch.Tensor, axis) -> None:
    """A ValueError naming the shapes or ``axis`` that cannot be summed as Keras sums them."""
    try:
        shape = torch.broadcast_shapes(y_true.shape, y_pred.shape)
    except RuntimeError:
        raise ValueError(f"{name}: y_true of shape {tuple(y_true.shape)} and y_pred of shape "
                         f"{tuple(y_pred.shape)} must have the same (or broadcastable) shapes.") from None
    axes = [axis] if isinstance(axis, int) else [] if axis is None else list(axis)
    if not all(isinstance(a, int) and -len(shape) <= a < len(shape) for a in axes):
        raise ValueError(f"{name}: axis={axis!r} must be None, an int or a tuple of ints in "
                         f"[{-len(shape)}, {len(shape)}) for inputs of shape {tuple(shape)}.")


def _sum(x: torch.Tensor, axis) -> torch.Tensor:
    return x.sum() if axis is None else x.sum(dim=axis)


@accepts_arrays
def dice(y_true, y_pred, axis=None):
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)``, summed over ``axis``."""
    y_true = _like(y_true, y_pred)
    _checked("dice", y_true, y_pred, axis)
    intersection = _sum(y_true * y_pred, axis)
    return 1 - 2.0 * intersection / (_sum(y_true, axis) + _sum(y_pred, axis) + EPSILON)


@accepts_arrays
def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None):
    """``1 - TP / (TP + alpha * sum(y_true * (1 - y_pred)) + beta * sum((1 - y_true) * y_pred) + eps)``
    over ``axis``: as in Keras, ``alpha`` weights the missed target mass and ``beta`` the extra prediction
    mass; alpha = beta = 0.5 is the Dice loss."""
    y_true = _like(y_true, y_pred)
    _checked("tversky", y_true, y_pred, axis)
    intersection = _sum(y_true * y_pred, axis)
    missed = _sum((1 - y_pred) * y_true, axis)
    extra = _sum(y_pred * (1 - y_true), axis)
    return 1 - intersection / (intersection + missed * alpha + extra * beta + EPSILON)


class Dice(FunctionLoss):
    """The Dice loss of ``dice``; ``axis`` as there (default None: one value for the batch)."""

    def __init__(self, reduction=DEFAULT_REDUCTION, name: str = "dice", axis=None, dtype=None):
        super().__init__(dice, name, reduction, dtype, axis=axis)


class Tversky(FunctionLoss):
    """The Tversky loss of ``tversky``: Dice with the two kinds of error weighted by ``alpha`` and ``beta``."""

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction=DEFAULT_REDUCTION, name: str = "tversky",
                 axis=None, dtype=None):
        super().__init__(tversky, name, reduction, dtype, alpha=alpha, beta=beta, axis=axis)
