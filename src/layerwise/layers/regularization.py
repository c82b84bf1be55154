"""Layers active only while training: Dropout and GaussianNoise. At inference they pass inputs through."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers.base import Layer


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs while training and scales the rest by ``1 / (1 - rate)``."""

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}.")
        if noise_shape is not None:
            raise ValueError("Dropout noise_shape is not supported yet; use SpatialDropout-style masks by hand.")
        self.rate, self.seed = rate, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.rate, self.training) if self.rate else x


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` while training."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = stddev, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.stddev:
            return x
        return x + torch.randn_like(x) * self.stddev
