"""The ``Loss`` object: per-sample values from a loss function, reduced as Keras reduces them.

A loss function maps ``y_true, y_pred`` of shape ``(batch, ..., features)`` to ``(batch, ...)``;
``Loss`` weights those values by ``sample_weight`` and reduces them ('sum_over_batch_size': the weighted
sum divided by the number of values, not by the sum of the weights). A Keras-style subclass gives no
function: it overrides ``call(y_true, y_pred)`` and the base weights and reduces what ``call`` returns.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from layerwise.backend import float_dtype, to_snake_case, unique_name
from layerwise.losses.functions import (EPSILON, categorical_crossentropy, sparse_categorical_crossentropy,
                                       squeeze_or_expand)

__all__ = ["CHECK_SHAPES", "EPSILON", "REDUCTIONS", "Loss", "as_tensor", "check_reduction", "match_rank",
           "rank_rule", "reduce_weighted", "squeeze_or_expand"]

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

# Functions that check targets against predictions themselves (labels (batch,) for the sparse one, a ValueError
# for a shape mismatch in the categorical one): Loss matches ranks for them only by Keras' size-1 squeeze/expand.
CHECK_SHAPES = (sparse_categorical_crossentropy, categorical_crossentropy)


def as_tensor(x, like: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (array-like or tensor) as a tensor on ``like``'s device; float64 becomes float32 as in Keras."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype == torch.float64:
        t = t.float()
    return t if like is None else t.to(like.device)


def match_rank(y_true: torch.Tensor, y_pred: torch.Tensor):
    """Keras' rank matching, and targets ``(batch, ...)`` against predictions ``(batch, ..., n)`` compare
    with every prediction (where Keras would broadcast the batch axis against the features)."""
    y_true, y_pred = squeeze_or_expand(y_true, y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    return y_true, y_pred


def rank_rule(fn):
    """How targets and predictions of unequal rank reach ``fn``: ``match_rank`` for layerwise's own element-wise
    functions, Keras' size-1 ``squeeze_or_expand`` for the crossentropies that check shapes and for a user's
    function, which then sees what Keras hands it (a rank-1 y against (n, k) predictions broadcasts as a row)."""
    own = getattr(fn, "__module__", "").startswith("layerwise.")
    return match_rank if own and fn not in CHECK_SHAPES else squeeze_or_expand


def check_reduction(reduction, owner: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}; "
                         f"received reduction={reduction!r}.")


def _mask_weight(mask: torch.Tensor, sample_weight, values: torch.Tensor, reduction) -> torch.Tensor:
    """Keras' ``apply_mask``: for a mean, valid entries weigh ``total / valid`` (the mean of the valid ones),
    the others 0; times ``sample_weight`` when given."""
    if reduction in ("mean", "sum_over_batch_size"):
        valid = mask.sum()
        mask = torch.where(valid > 0, mask * (mask.numel() / valid.clamp_min(1)), torch.zeros_like(mask))
    if sample_weight is None:
        return mask
    weight = as_tensor(sample_weight, values).to(values.dtype)
    mask, weight = squeeze_or_expand(mask, weight)
    return mask * weight.reshape((*weight.shape, *[1] * (mask.ndim - weight.ndim)))


def reduce_weighted(values: torch.Tensor, sample_weight: torch.Tensor | None, reduction) -> torch.Tensor:
    """Keras' weighting and reduction of per-sample loss values ``(batch, ...)``. Values that carry a mask
    (``ignore_class``) count only where it is True: a mean is over those entries."""
    mask = getattr(values, "_keras_mask", None)
    if mask is not None:
        sample_weight = _mask_weight(mask.to(values.dtype), sample_weight, values, reduction)
    if sample_weight is None and reduction == "sum_over_batch_size" and values.numel():
        return values.mean()  # the training loop's usual case, in one kernel
    if sample_weight is not None:
        weight = as_tensor(sample_weight, values).to(values.dtype)
        values, weight = squeeze_or_expand(values, weight)
        # Weights of shape (batch,) apply to every step of values (batch, steps).
        weight = weight.reshape((*weight.shape, *[1] * (values.ndim - weight.ndim)))
        if values.ndim and (weight.ndim > values.ndim
                            or any(w not in (1, v) for w, v in zip(weight.shape, values.shape))):
            raise ValueError(f"sample_weight of shape {tuple(weight.shape)} does not fit the loss values of shape "
                             f"{tuple(values.shape)} (one per sample, or per step for sequence outputs): give "
                             f"one weight per sample, or per-step weights shaped like the loss values.")
        values = values * weight
    if reduction in ("none", None) or values.ndim == 0 or tuple(values.shape) == (0,):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = weight.sum()
        return torch.where(divisor == 0, torch.zeros_like(total), total / divisor)  # divide_no_nan
    return total / values.numel() if values.numel() else torch.zeros_like(total)


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss.

    ``fn(y_true, y_pred, **options)`` gives the per-sample values; ``reduction`` is one of Keras'
    ('sum_over_batch_size', 'sum', 'mean', 'mean_with_sample_weight', 'none'/None). As in Keras, a
    subclass may instead call ``super().__init__(name=..., reduction=..., dtype=...)`` and override
    ``call(y_true, y_pred)``, which gets both as tensors of ``dtype`` (float32 by default)."""

    def __init__(self, fn: Callable | None = None, name: str | None = None, reduction="sum_over_batch_size",
                 dtype=None, **options):
        if name is None:  # Keras names a subclass's instances after the class: custom_mse, custom_mse_1...
            name = getattr(fn, "__name__", "loss") if fn is not None else \
                unique_name(to_snake_case(type(self).__name__))
        check_reduction(reduction, f"{type(self).__name__}({name!r})")
        self.fn, self.options = fn, options
        self.name = name
        self.reduction = reduction
        self.dtype = None if dtype is None else str(dtype).removeprefix("torch.")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A class that overrides call gets its values from call; decided here, so that the built-in
        # losses' per_sample (the training hot path) stays as it is.
        if "call" in cls.__dict__ and "per_sample" not in cls.__dict__:
            cls.per_sample = Loss._called

    @property
    def from_logits(self) -> bool:
        return self.options.get("from_logits", False)

    def per_sample(self, y_true, y_pred) -> torch.Tensor:
        """The unreduced loss values, ``(batch,)`` for predictions ``(batch, features)``. Predictions (integer
        ones too) and floating targets are cast to ``dtype`` (float32 by default) as Keras casts them, so that
        half-precision outputs give a float32 loss that neither overflows nor loses precision; integer labels
        stay integers (the functions cast them to the predictions' dtype where they need to)."""
        if self.fn is None:
            return self._called(y_true, y_pred)  # call, which raises unless a subclass overrides it
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y_true, torch.Tensor):
            y_pred = as_tensor(y_pred)
            y_true = as_tensor(y_true, y_pred)
        dtype = getattr(torch, self.dtype) if self.dtype is not None else float_dtype()
        if y_pred.dtype != dtype:  # integer and bool predictions too, as Keras casts them to the loss's dtype
            y_pred = y_pred.to(dtype)
        if y_true.is_floating_point() and y_true.dtype != dtype:
            y_true = y_true.to(dtype)
        if y_true.ndim != y_pred.ndim:
            y_true, y_pred = rank_rule(self.fn)(y_true, y_pred)
        # Arrays are converted above: a built-in function is called without its array wrapper.
        return getattr(self.fn, "__wrapped__", self.fn)(y_true, y_pred, **self.options)

    def call(self, y_true, y_pred) -> torch.Tensor:
        """Per-sample loss values ``(batch, ...)``; a subclass without ``fn`` overrides this, as in Keras."""
        if self.fn is None:
            raise NotImplementedError(f"{type(self).__name__} ({self.name!r}) gives no loss function: override "
                                      "call(y_true, y_pred) to return the per-sample loss values, or pass fn to "
                                      "Loss.__init__.")
        return Loss.per_sample(self, y_true, y_pred)

    def _called(self, y_true, y_pred) -> torch.Tensor:
        """What the subclass's ``call`` returns, for targets and predictions cast to ``dtype`` as Keras casts."""
        dtype = getattr(torch, self.dtype) if self.dtype is not None else float_dtype()
        y_pred = as_tensor(y_pred).to(dtype)
        values = self.call(as_tensor(y_true, y_pred).to(dtype), y_pred)
        return values if isinstance(values, torch.Tensor) else as_tensor(values, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None) -> torch.Tensor:
        values = self.per_sample(y_true, y_pred)
        in_mask = getattr(y_pred, "_keras_mask", None)  # the mask a sequence model's output carries
        if isinstance(in_mask, torch.Tensor) and tuple(values.shape[:in_mask.ndim]) == tuple(in_mask.shape):
            out_mask = getattr(values, "_keras_mask", None)
            values._keras_mask = in_mask if out_mask is None else in_mask & out_mask
        return reduce_weighted(values, sample_weight, self.reduction)

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction, **self.options}
        return config if self.dtype is None else {**config, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"

