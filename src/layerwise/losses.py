"""Keras' losses. Each per-sample function maps ``y_true, y_pred`` of shape ``(batch, ...)`` to
``(batch,)`` (or ``(batch, steps)``); ``Loss`` reduces that as Keras does ('sum_over_batch_size':
the weighted sum divided by the number of values, not by the sum of the weights)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

EPSILON = 1e-7  # Keras' backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=-1)
    else:
        y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_prob = torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    return -(y_true * log_prob).sum(dim=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    y_true = y_true.long()
    if y_true.ndim == y_pred.ndim:
        y_true = y_true.squeeze(-1)
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=-1)
    else:
        y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_prob = torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
    return -log_prob.gather(-1, y_true.unsqueeze(-1)).squeeze(-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    y_true = y_true.to(y_pred.dtype)
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(y_pred.clamp(EPSILON, 1 - EPSILON), y_true, reduction="none")
    return values.mean(dim=-1)


def mean_squared_error(y_true, y_pred):
    return (y_true.to(y_pred.dtype) - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    return (y_true.to(y_pred.dtype) - y_pred).abs().mean(dim=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    return F.huber_loss(y_pred, y_true.to(y_pred.dtype), reduction="none", delta=delta).mean(dim=-1)


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` returns a scalar tensor."""

    def __init__(self, fn: Callable, name: str, **options):
        self.fn, self.name, self.options = fn, name, options

    @property
    def from_logits(self) -> bool:
        return self.options.get("from_logits", False)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        # Keras matches ranks first: targets (batch,) against predictions (batch, 1).
        if self.fn is not sparse_categorical_crossentropy and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true.unsqueeze(-1)
        return self.fn(y_true, y_pred, **self.options)

    def __call__(self, y_true, y_pred, sample_weight=None) -> torch.Tensor:
        values = self.per_sample(y_true, y_pred)
        if sample_weight is None:
            return values.mean()
        weight = sample_weight.to(values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
        return (values * weight).sum() / values.numel()

    def get_config(self) -> dict:
        return {"name": self.name, **self.options}


def _loss_class(fn: Callable, name: str) -> type:
    def __init__(self, **options):
        Loss.__init__(self, fn, name, **options)
    return type("".join(p.capitalize() for p in name.split("_")), (Loss,), {"__init__": __init__})


CategoricalCrossentropy = _loss_class(categorical_crossentropy, "categorical_crossentropy")
SparseCategoricalCrossentropy = _loss_class(sparse_categorical_crossentropy, "sparse_categorical_crossentropy")
BinaryCrossentropy = _loss_class(binary_crossentropy, "binary_crossentropy")
MeanSquaredError = _loss_class(mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _loss_class(mean_absolute_error, "mean_absolute_error")
Huber = _loss_class(huber, "huber")

_FUNCTIONS: dict[str, Callable] = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber,
}
_CANONICAL = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def get(identifier) -> Loss:
    """Resolve a loss name, a ``Loss`` object or a callable ``fn(y_true, y_pred) -> per-sample loss``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _FUNCTIONS:
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(sorted(_FUNCTIONS))}, "
                             "or pass a Loss object or a function (y_true, y_pred) -> loss per sample.")
        name = _CANONICAL.get(identifier, identifier)
        return Loss(_FUNCTIONS[name], name)
    if callable(identifier):
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    raise ValueError(f"A loss must be a name, a Loss or a callable, got {identifier!r}.")


def serialize(loss: Loss) -> dict:
    if _FUNCTIONS.get(loss.name) is not loss.fn:
        raise ValueError(f"Cannot save the custom loss {loss.name!r}: only built-in losses are saved.")
    return loss.get_config()


def deserialize(config: dict) -> Loss:
    config = dict(config)
    name = config.pop("name")
    return Loss(_FUNCTIONS[name], name, **config)
