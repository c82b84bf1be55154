"""``FunctionLoss``: a loss class over one function that prepares its inputs as Keras' ``LossFunctionWrapper``
does, for the losses whose targets are not shaped like their predictions (labels for CTC, circle and
generalized crossentropy; any rank for dice and tversky)."""
from __future__ import annotations

import torch

from layerwise.backend import float_dtype
from layerwise.losses.base import Loss, as_tensor, squeeze_or_expand

__all__ = ["DEFAULT_REDUCTION", "FunctionLoss"]

DEFAULT_REDUCTION = "sum_over_batch_size"


class FunctionLoss(Loss):
    """Predictions cast to the loss's ``dtype`` (float32 by default, as Keras casts them) and ranks matched
    only by Keras' size-1 squeeze/expand: targets ``(batch, labels)`` against ``(batch, steps, classes)``
    reach the function as they are, where ``Loss`` would add a features axis to them."""

    def per_sample(self, y_true, y_pred) -> torch.Tensor:
        dtype = getattr(torch, self.dtype) if self.dtype is not None else float_dtype()
        y_pred = as_tensor(y_pred).to(dtype)
        # Targets keep their dtype: each function casts them (labels to integers, masks to y_pred's dtype).
        y_true, y_pred = squeeze_or_expand(as_tensor(y_true, y_pred), y_pred)
        return getattr(self.fn, "__wrapped__", self.fn)(y_true, y_pred, **self.options)
