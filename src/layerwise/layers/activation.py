"""Activation layers: ReLU (with Keras' slope, ceiling and threshold), LeakyReLU, ELU, PReLU, Softmax.

Each maps ``(batch, ...)`` to the same shape; only PReLU has a weight (its learned slopes).
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import new_parameter, WeightView


def _non_negative(layer: str, name: str, value) -> None:
    if value is None or value < 0:
        raise ValueError(f"{layer} {name} must be a non-negative number, got {value!r}.")


class ReLU(Layer):
    """``max_value`` if x >= max_value, x if threshold < x < max_value, else
    ``negative_slope * (x - threshold)``; the defaults give the plain ``max(x, 0)``."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            _non_negative("ReLU", "max_value", max_value)
        _non_negative("ReLU", "negative_slope", negative_slope)
        _non_negative("ReLU", "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.max_value is None and not self.threshold:
            return F.leaky_relu(x, self.negative_slope) if self.negative_slope else F.relu(x)
        out = torch.where(x > self.threshold, x, torch.zeros_like(x)) if self.threshold else F.relu(x)
        if self.max_value is not None:
            out = out.clamp(0.0, self.max_value)
        if self.negative_slope:
            out = out - self.negative_slope * F.relu(self.threshold - x)
        return out


class LeakyReLU(Layer):
    """``x`` for x >= 0, ``negative_slope * x`` below (Keras' default slope is 0.3)."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name, still common in course code
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
            self._config.pop("alpha")
            self._config["negative_slope"] = negative_slope
        super().__init__(**kwargs)
        _non_negative("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope)


class ELU(Layer):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` below."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self.alpha)


class PReLU(Layer):
    """A leaky ReLU whose negative slopes are learned: ``relu(x) - alpha * relu(-x)``.

    ``alpha`` has the input's shape without the batch axis, with size 1 along ``shared_axes`` (e.g.
    ``shared_axes=[1, 2]`` for one slope per channel of ``(batch, height, width, channels)`` maps).
    """
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.shared_axes = None if shared_axes is None else (
            [int(shared_axes)] if isinstance(shared_axes, int) else [int(a) for a in shared_axes])
        self.regularize_weights(alpha=alpha_regularizer)
        self.constrain_weights(alpha=alpha_constraint)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        shared = set(self.shared_axes or [])
        if any(not 1 <= a < len(input_shape) for a in shared):
            raise ValueError(self._shape_message(f"an input with the axes {sorted(shared)} (shared_axes)",
                                                 input_shape))
        if any(d is None for i, d in enumerate(input_shape) if i and i not in shared):
            raise ValueError(self._shape_message("known sizes on every axis that is not in shared_axes",
                                                 input_shape))

    def build(self, input_shape: Shape) -> None:
        shape = tuple(1 if i + 1 in (self.shared_axes or []) else d for i, d in enumerate(input_shape[1:]))
        self.alpha = new_parameter(self.alpha_initializer, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) - self.alpha * F.relu(-x)

    def weight_views(self) -> list[WeightView]:
        return [WeightView("alpha", self.alpha)] if self.built else []


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a tuple of ints), default the last. With a ``mask`` that broadcasts to the
    input (true or above 0.5 where an entry counts), masked entries get probability 0, as in Keras."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            mask = self._broadcastable_mask(x, torch.as_tensor(mask, device=x.device))
            # Keras' large negative number (not -inf): an entirely masked axis then gives zeros, not NaN
            x = torch.where(mask, x, -3e4 if x.dtype == torch.float16 else -1e9)
        if isinstance(self.axis, int):
            out = torch.softmax(x, dim=self.axis)
        else:
            out = torch.exp(x - torch.logsumexp(x, dim=self.axis, keepdim=True))
        return out if mask is None else torch.where(mask, out, 0.0)

    def _broadcastable_mask(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` as booleans, checked to broadcast to ``x`` from the right (Keras' rule)."""
        fits = mask.dim() <= x.dim() and all(m in (1, i) for m, i in zip(mask.shape[::-1], x.shape[::-1]))
        if not fits:
            raise ValueError(f"Layer '{self.name}' (Softmax) received a mask of shape {tuple(mask.shape)} for inputs "
                             f"of shape {tuple(x.shape)}: the mask must broadcast to the inputs (each of its axes, "
                             "counted from the last, 1 or the inputs' size).")
        return mask if mask.dtype == torch.bool else mask > 0.5
