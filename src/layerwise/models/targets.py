"""Checks that targets suit the loss, with messages that say what to do; class weights."""
from __future__ import annotations

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
    elif loss.fn is losses.binary_crossentropy and y.numel():
        if float(y.min()) < 0 or float(y.max()) > 1:
            raise ValueError(f"binary_crossentropy expects targets in [0, 1]; y holds values from "
                             f"{float(y.min())} to {float(y.max())}. For more than two classes use "
                             "categorical_crossentropy with a softmax output.")


def class_weights_to_sample_weights(class_weight: dict, y: torch.Tensor) -> torch.Tensor:
    """Per-sample weights from ``{class: weight}``; ``y`` holds labels or one-hot rows."""
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y)).round().long()
    table = torch.ones(int(max(max(class_weight), int(labels.max()))) + 1, device=y.device)
    for cls, weight in class_weight.items():
        table[int(cls)] = float(weight)
    return table[labels]
