"""Checks that targets suit the loss, with messages that say what to do; class weights."""
from __future__ import annotations

import numpy as np
import torch

from layerwise import losses


def check_targets(loss: losses.Loss, y: torch.Tensor, pred_shape: tuple) -> None:
    """Raise a ValueError before training when ``y`` cannot be a target for ``loss`` and outputs of ``pred_shape``."""
    classes = pred_shape[-1]
    y_shape = tuple(y.shape)
    integer_like = not y.is_floating_point() or (y.numel() > 0 and bool((y == y.round()).all()))
    if loss.fn is losses.categorical_crossentropy:
        if (len(y_shape) == len(pred_shape) - 1 or y_shape[-1] == 1) and classes != 1 and integer_like:
            raise ValueError(
                f"categorical_crossentropy expects one-hot targets of shape (n, {classes}), but y has shape "
                f"{y_shape} (integer class labels). Either one-hot encode them with "
                f"layerwise.utils.to_categorical(y, {classes}) or use loss='sparse_categorical_crossentropy'.")
        if len(y_shape) != len(pred_shape) or any(p is not None and p != t
                                                  for t, p in zip(y_shape[1:], pred_shape[1:])):
            raise ValueError(f"categorical_crossentropy: targets of shape {y_shape} do not match the model's "
                             f"output shape {tuple(pred_shape)}.")
    elif loss.fn is losses.sparse_categorical_crossentropy:
        if len(y_shape) == len(pred_shape) and y_shape[-1] == classes and classes > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class labels of shape (n,), but y has shape "
                f"{y_shape} (one-hot rows). Use loss='categorical_crossentropy', or pass y.argmax(axis=-1).")
        if not integer_like:
            raise ValueError("sparse_categorical_crossentropy expects integer class labels; y has fractional values.")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= classes):
            raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {classes - 1}] for a model "
                             f"with {classes} outputs; y holds values from {int(y.min())} to {int(y.max())}.")
    elif loss.fn in (losses.binary_crossentropy, losses.binary_focal_crossentropy):
        _check_binary_shape(loss.fn.__name__, y_shape, tuple(pred_shape))
        if y.numel() and (float(y.min()) < 0 or float(y.max()) > 1):
            raise ValueError(f"binary_crossentropy expects targets in [0, 1]; y holds values from "
                             f"{float(y.min())} to {float(y.max())}. For more than two classes use "
                             "categorical_crossentropy with a softmax output.")
    elif loss.fn in _ELEMENTWISE and len(y_shape) == len(pred_shape) - 1 and classes not in (None, 1):
        # Keras fails here with torch's "size of tensor a must match" (or, for a batch of `classes` rows, computes
        # a (batch, batch) grid); a column y[:, None] broadcasts to every unit in both.
        raise ValueError(f"{loss.fn.__name__} expects targets of the model's output shape {tuple(pred_shape)}, but "
                         f"y has shape {y_shape}, without the output's last axis of {classes} units. Give the model "
                         f"Dense(1) for one target each, or y with that last axis of {classes}.")


_ELEMENTWISE = (losses.mean_squared_error, losses.mean_absolute_error, losses.mean_absolute_percentage_error,
                losses.mean_squared_logarithmic_error, losses.huber, losses.log_cosh, losses.hinge,
                losses.squared_hinge, losses.poisson)


def _check_binary_shape(name: str, y_shape: tuple, pred_shape: tuple) -> None:
    """Keras' binary crossentropies need targets of the output's shape (after dropping or adding a size-1
    last axis); torch would only say that a target size is deprecated."""
    matched = y_shape
    if len(y_shape) == len(pred_shape) - 1 and pred_shape[-1] == 1:
        matched = (*y_shape, 1)
    elif len(y_shape) == len(pred_shape) + 1 and y_shape[-1] == 1:
        matched = y_shape[:-1]
    if len(matched) == len(pred_shape) and all(p is None or p == t for t, p in zip(matched[1:], pred_shape[1:])):
        return
    if pred_shape[-1] == 1:
        advice = (f"For one-hot rows of {y_shape[-1]} classes use Dense({y_shape[-1]}, activation='softmax') with "
                  "loss='categorical_crossentropy', or pass y.argmax(axis=-1) for two classes.")
    else:
        advice = ("For binary labels 0/1 use one output unit: Dense(1, activation='sigmoid'). For "
                  f"{pred_shape[-1]} classes use loss='categorical_crossentropy' with one-hot labels or "
                  "loss='sparse_categorical_crossentropy' with integer labels (and a softmax output).")
    raise ValueError(f"{name} expects targets of the model's output shape {pred_shape}, but y has shape "
                     f"{y_shape}. {advice}")


def class_weights_to_sample_weights(class_weight: dict, y: torch.Tensor,
                                    output_rank: int | None = None) -> torch.Tensor:
    """Weights from ``{class: weight}``, one per label: ``y`` holds labels (n, ...) or one-hot rows (n, ..., classes).

    With the model's ``output_rank`` known, targets of a lower rank are labels, one per output step, so sparse
    per-step targets (n, timesteps) get a weight per step. Without it, Keras' rule: a last axis longer than one
    is one-hot.
    """
    example = "e.g. {0: 1.0, 1: 3.0}"
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict from class index to weight, {example}; got a "
                         f"{type(class_weight).__name__}. For one weight per class in order, pass "
                         "dict(enumerate(weights)).")
    # Keras looks each label up with ``class_weight.get(label, 1.0)``: a string or negative key would silently
    # weigh nothing (and a negative one would index the table from the end here).
    bad = [k for k in class_weight
           if not isinstance(k, (int, float, np.number)) or not float(k).is_integer() or k < 0]
    if bad:
        fix = " Convert string keys with {int(k): w for k, w in class_weight.items()}." if any(
            isinstance(k, str) for k in bad) else ""
        raise ValueError(f"class_weight keys must be integer class indices (0 .. num_classes-1), {example}; "
                         f"got keys {bad!r}.{fix}")
    one_hot = y.ndim > 1 and y.shape[-1] > 1 and (output_rank is None or y.ndim >= output_rank)
    if one_hot:
        labels = y.argmax(-1)
    else:
        labels = (y.squeeze(-1) if y.ndim > 1 and y.shape[-1] == 1 else y).round().long()
    table = torch.ones(int(max([*class_weight, int(labels.max())])) + 1, device=y.device)
    for cls, weight in class_weight.items():
        table[int(cls)] = float(weight)
    return table[labels]


def class_weighted(to_batch, class_weight: dict, output_rank: int | None = None):
    """``to_batch`` (a dataset's ``(raw batch, i) -> (x, y, sample_weight)``) with each batch weighted by
    ``class_weight`` from its targets, as Keras' PyDataset adapter weighs ``(x, y)`` batches; a batch that brings
    its own sample weights is refused, as there."""
    def weighted(raw, i: int):
        x, y, sample_weight = to_batch(raw, i)
        if sample_weight is not None:
            raise ValueError(f"Batch {i} of the dataset is (x, y, sample_weight), and fit() was given class_weight: "
                             "you cannot specify `class_weight` and `sample_weight` at the same time (as in Keras). "
                             "Fold the class weights into the batches' sample weights instead.")
        return x, y, None if y is None else class_weights_to_sample_weights(class_weight, y, output_rank)
    return weighted
