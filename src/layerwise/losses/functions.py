"""Keras' loss functions. Each maps ``y_true, y_pred`` of shape ``(batch, ..., features)`` to per-sample
values ``(batch, ...)`` (the features axis, ``axis``, is reduced); ``Loss`` objects reduce those further.
Probabilities are clipped as Keras clips them, so results agree with Keras to float32 rounding."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype

EPSILON = 1e-7  # Keras' backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


def float_predictions(y_pred: torch.Tensor) -> torch.Tensor:
    """Integer or bool predictions in the float dtype (floatx), as Keras' losses compute them; floats as given."""
    return y_pred if y_pred.is_floating_point() else y_pred.to(float_dtype())


def accepts_arrays(loss_fn):
    """Let ``loss_fn`` take numpy arrays and lists too, as Keras' functions do (float64 becomes float32), and
    integer or bool predictions, which are cast to floatx (the targets then follow the predictions' dtype)."""
    @functools.wraps(loss_fn)
    def on_tensors(y_true, y_pred, *args, **kwargs):
        if not isinstance(y_pred, torch.Tensor):
            y_pred = torch.as_tensor(np.asarray(y_pred))
            y_pred = y_pred.float() if y_pred.dtype == torch.float64 else y_pred
        if not isinstance(y_true, torch.Tensor):
            y_true = torch.as_tensor(np.asarray(y_true), device=y_pred.device)
            y_true = y_true.float() if y_true.dtype == torch.float64 else y_true
        return loss_fn(y_true, float_predictions(y_pred), *args, **kwargs)
    return on_tensors


def squeeze_or_expand(x1: torch.Tensor, x2: torch.Tensor, expand_rank_1: bool = True):
    """Keras' rank matching: when the ranks differ by one and the longer tensor ends in a size-1 axis,
    squeeze that axis (or, for a rank-1 partner, expand the partner instead)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2.unsqueeze(-1)) if x2.ndim == 1 and expand_rank_1 else (x1.squeeze(-1), x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1.unsqueeze(-1), x2) if x1.ndim == 1 and expand_rank_1 else (x1, x2.squeeze(-1))
    return x1, x2


def _like(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Targets in the predictions' dtype (no call at all when they already are: this runs every batch)."""
    return y_true if y_true.dtype == y_pred.dtype else y_true.to(y_pred.dtype)


def _matched(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets in the predictions' dtype, ranks matched as Keras' element-wise functions match them (a ``(n, 1)``
    target against ``(n,)`` predictions compares row by row, not every pair)."""
    return squeeze_or_expand(_like(y_true, y_pred), y_pred)


def _smooth_categorical(y_true: torch.Tensor, label_smoothing: float, axis: int) -> torch.Tensor:
    return y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis] if label_smoothing else y_true


def _smooth_binary(y_true: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y_true


def _normalized_probabilities(y_pred: torch.Tensor, axis: int) -> torch.Tensor:
    """Rows rescaled to sum to 1 and clipped, as Keras does for predictions that are not logits."""
    return (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(EPSILON, 1 - EPSILON)


# ---- probabilistic ------------------------------------------------------------------------------

@accepts_arrays
def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1):
    """One-hot (or soft) targets against class scores, both ``(batch, ..., classes)``: values ``(batch, ...)``."""
    if y_true.shape != y_pred.shape:
        # Integer labels (batch,) or (batch, 1) would otherwise broadcast against every class (as Keras, refuse).
        raise ValueError(f"categorical_crossentropy: targets and predictions must have the same shape; received "
                         f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}. For integer "
                         "class labels use sparse_categorical_crossentropy, or one-hot encode them with "
                         "layerwise.utils.to_categorical.")
    y_true = _smooth_categorical(_like(y_true, y_pred), label_smoothing, axis)
    log_prob = F.log_softmax(y_pred, dim=axis) if from_logits else torch.log(_normalized_probabilities(y_pred, axis))
    return -(y_true * log_prob).sum(dim=axis)


@accepts_arrays
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class: int | None = None,
                                    axis: int = -1):
    """Integer labels ``(batch, ...)`` or ``(batch, ..., 1)`` against class scores ``(batch, ..., classes)``
    (the classes on ``axis``): values ``(batch, ...)``. A ValueError when the labels' shape is not the scores'
    shape without the classes axis, as in Keras (torch's gather would silently read part of ``y_pred``).
    Labels equal to ``ignore_class`` (padding in a segmentation map or a sentence) give 0 and are masked
    (``_keras_mask``): a loss object then averages over the other entries only, as Keras does."""
    given_shape = tuple(y_true.shape)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    y_pred = y_pred.movedim(axis, -1)
    if y_true.shape != y_pred.shape[:-1]:
        hint = (" These look like one-hot rows: use categorical_crossentropy, or pass y_true.argmax(axis)."
                if given_shape == tuple(y_pred.shape) else "")
        raise ValueError(f"sparse_categorical_crossentropy: labels must have the shape of the predictions without "
                         f"their classes axis; received y_true.shape={given_shape} for predictions of shape "
                         f"{tuple(y_pred.movedim(-1, axis).shape)} (classes on axis {axis}).{hint}")
    y_true = y_true.long()
    valid = None
    if ignore_class is not None:
        valid = y_true != int(ignore_class)
        y_true = y_true * valid  # any real class id, so that gather stays in range
    log_prob = F.log_softmax(y_pred, dim=-1) if from_logits else torch.log(_normalized_probabilities(y_pred, -1))
    try:
        values = -log_prob.gather(-1, y_true.unsqueeze(-1)).squeeze(-1)
    except RuntimeError as error:
        # Checked only once gather failed (on the CPU; a GPU fails asynchronously), so that a valid batch
        # costs no host sync: fit checks the labels of the whole data set before training.
        _raise_if_out_of_range(y_true, log_prob.shape[-1], error)
        raise
    if valid is not None:
        values = torch.where(valid, values, torch.zeros_like(values))
        values._keras_mask = valid
    return values


def _raise_if_out_of_range(labels: torch.Tensor, classes: int, error: RuntimeError) -> None:
    """A ValueError naming the smallest and largest label when some are not class ids in ``[0, classes)``."""
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= classes:
        raise ValueError(f"sparse_categorical_crossentropy: labels must be class ids in [0, {classes - 1}] for "
                         f"predictions of {classes} classes; received labels from {low} to {high}. Give the model "
                         f"as many outputs as there are classes, or map the labels to 0..{classes - 1}.") from error


@accepts_arrays
def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    y_true = _smooth_binary(_like(y_true, y_pred), label_smoothing)
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(y_pred.clamp(EPSILON, 1 - EPSILON), y_true, reduction="none")
    return values.mean(dim=axis)


@accepts_arrays
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (and by ``alpha`` / ``1 - alpha`` per class)."""
    y_true = _smooth_binary(_like(y_true, y_pred), label_smoothing)
    if from_logits:
        # Keras takes the sigmoid first, so its clipping applies to logits too.
        y_pred = torch.sigmoid(y_pred)
    bce = F.binary_cross_entropy(y_pred.clamp(EPSILON, 1 - EPSILON), y_true, reduction="none")
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    values = (1.0 - p_t).pow(gamma) * bce
    if apply_class_balancing:
        values = (y_true * alpha + (1 - y_true) * (1 - alpha)) * values
    return values.mean(dim=axis)


@accepts_arrays
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma: float = 2.0, from_logits: bool = False,
                                   label_smoothing: float = 0.0, axis: int = -1):
    """Categorical crossentropy scaled by ``alpha * (1 - p) ** gamma``; ``alpha`` may hold one weight per class."""
    y_true = _smooth_categorical(_like(y_true, y_pred), label_smoothing, axis)
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    output = _normalized_probabilities(y_pred, axis)
    if isinstance(alpha, (list, tuple)):
        alpha = torch.as_tensor(alpha, dtype=y_pred.dtype, device=y_pred.device)
    focal = (1.0 - output).pow(gamma) * alpha
    return (focal * -y_true * torch.log(output)).sum(dim=axis)


@accepts_arrays
def kl_divergence(y_true, y_pred):
    y_true = _like(y_true, y_pred).clamp(EPSILON, 1)
    y_pred = y_pred.clamp(EPSILON, 1)
    return (y_true * torch.log(y_true / y_pred)).sum(dim=-1)


@accepts_arrays
def poisson(y_true, y_pred):
    return (y_pred - _like(y_true, y_pred) * torch.log(y_pred + EPSILON)).mean(dim=-1)


# ---- regression ---------------------------------------------------------------------------------

@accepts_arrays
def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _matched(y_true, y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


@accepts_arrays
def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _matched(y_true, y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


@accepts_arrays
def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, eps))``."""
    y_true, y_pred = _matched(y_true, y_pred)
    return 100.0 * ((y_true - y_pred) / y_true.abs().clamp_min(EPSILON)).abs().mean(dim=-1)


@accepts_arrays
def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + y_pred) - log(1 + y_true)) ** 2)`` with both clipped below at eps."""
    # log(x + 1) rather than log1p: Keras' rounding for values near eps.
    y_true, y_pred = _matched(y_true, y_pred)
    first = torch.log(y_pred.clamp_min(EPSILON) + 1.0)
    second = torch.log(y_true.clamp_min(EPSILON) + 1.0)
    return (first - second).square().mean(dim=-1)


def l2_normalize(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """``x / max(||x||, eps)`` along ``axis``, of ``x``'s shape and dtype: a zero vector stays zero.
    Half precision is normalised in float32: its squares, and ``1 / eps``, would overflow float16."""
    wide = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    squared_norm = wide.square().sum(dim=axis, keepdim=True)
    return (wide * torch.rsqrt(squared_norm.clamp_min(EPSILON ** 2))).to(x.dtype)


@accepts_arrays
def cosine_similarity(y_true, y_pred, axis: int = -1):
    """Minus the cosine of the angle between targets and predictions (-1 is best), per sample."""
    y_true, y_pred = _matched(y_true, y_pred)
    return -(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis)).sum(dim=axis)


@accepts_arrays
def huber(y_true, y_pred, delta: float = 1.0):
    y_true, y_pred = _matched(y_true, y_pred)
    return F.huber_loss(y_pred, y_true, reduction="none", delta=delta).mean(dim=-1)


@accepts_arrays
def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))``, written with softplus so that large errors do not overflow."""
    y_true, y_pred = _matched(y_true, y_pred)
    error = y_pred - y_true
    return (error + F.softplus(-2.0 * error) - math.log(2.0)).mean(dim=-1)


# ---- hinge --------------------------------------------------------------------------------------

def _signed_labels(y_true: torch.Tensor) -> torch.Tensor:
    """Labels in {0, 1} become {-1, 1}; any other labels are kept (decided over the whole batch, as Keras)."""
    binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(binary, 2.0 * y_true - 1.0, y_true)


@accepts_arrays
def hinge(y_true, y_pred):
    y_true = _signed_labels(_like(y_true, y_pred))
    return (1.0 - y_true * y_pred).clamp_min(0.0).mean(dim=-1)


@accepts_arrays
def squared_hinge(y_true, y_pred):
    y_true = _signed_labels(_like(y_true, y_pred))
    return (1.0 - y_true * y_pred).clamp_min(0.0).square().mean(dim=-1)


@accepts_arrays
def categorical_hinge(y_true, y_pred):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` for one-hot targets."""
    y_true = _like(y_true, y_pred)
    positive = (y_true * y_pred).sum(dim=-1)
    negative = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return (negative - positive + 1.0).clamp_min(0.0)
