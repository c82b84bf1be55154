"""Regularization layers. The dropout and noise layers act only while training (at inference they pass
inputs through); ActivityRegularization passes inputs through and adds a penalty on them to the loss."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from layerwise import regularizers
from layerwise.layers.base import Layer, Shape


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


class GaussianDropout(Layer):
    """Multiplies inputs by noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while training."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout rate must be in [0, 1), got {rate!r}.")
        self.rate, self.seed = rate, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        return x * (1.0 + torch.randn_like(x) * math.sqrt(self.rate / (1.0 - self.rate)))


class _SpatialDropout(Layer):
    """Dropout of whole feature maps: one keep/drop draw per sample and channel, shared by every
    position of the map (Tompson et al. 2015), for channels-last inputs of rank ``input_ndim``."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{type(self).__name__} rate must be in [0, 1), got {rate!r}.")
        self.rate, self.seed = rate, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        keep = torch.empty((x.shape[0], *[1] * (x.ndim - 2), x.shape[-1]), dtype=x.dtype, device=x.device)
        return x * keep.bernoulli_(1.0 - self.rate).div_(1.0 - self.rate)


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, timesteps, channels)`` sequences while training."""

    input_ndim = 3


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of ``(batch, height, width, channels)`` maps while training."""

    input_ndim = 4

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"SpatialDropout2D: only data_format='channels_last' is supported, got {data_format!r}.")
        super().__init__(rate, seed=seed, **kwargs)


class ActivityRegularization(Layer):
    """Passes inputs through and adds ``l1 * sum(|x|) + l2 * sum(x ** 2)``, per sample, to the loss."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)
