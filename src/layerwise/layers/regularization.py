"""Regularization layers. The dropout and noise layers (Dropout, AlphaDropout, SpatialDropout1D/2D/3D,
GaussianNoise, GaussianDropout) act only while training (at inference they pass inputs through);
ActivityRegularization passes inputs through and adds a penalty on them to the loss."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from layerwise import regularizers
from layerwise.layers._padding import DataFormat
from layerwise.layers.base import Layer, Shape
from layerwise.random import SeedGenerator


class Seeded:
    """The random source of a noise layer (and of the recurrent layers' dropout), as Keras' ``seed``: None draws from
    PyTorch's global generator (which ``torch.manual_seed`` and ``set_random_seed`` rule); an int gives the layer its
    own generator, made on the input's device at first use, so that layers made with the same seed draw the same
    noise, call after call, whatever else draws random numbers in between."""

    def _set_seed(self, seed: int | None) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ValueError(f"{type(self).__name__} seed must be an int or None, got seed={seed!r}.")
        self.seed = None if seed is None else int(seed)
        self._seed_generator = None if seed is None else SeedGenerator(self.seed)

    def _generator(self, x: torch.Tensor) -> torch.Generator | None:
        """The generator to draw ``x``'s noise from; None for the global one."""
        return None if self._seed_generator is None else self._seed_generator.generator(x.device)

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal values of ``x``'s shape, dtype and device."""
        return torch.randn(x.shape, generator=self._generator(x), dtype=x.dtype, device=x.device)

    def _keep_mask(self, x: torch.Tensor, shape: list[int] | None, keep_rate: float) -> torch.Tensor:
        """1 (keep) with probability ``keep_rate``, else 0, of ``shape`` (None: ``x``'s), broadcast over ``x``."""
        keep = torch.empty(x.shape if shape is None else shape, dtype=x.dtype, device=x.device)
        return keep.bernoulli_(keep_rate, generator=self._generator(x))


class Dropout(Seeded, Layer):
    """Zeroes a fraction ``rate`` of inputs while training and scales the rest by ``1 / (1 - rate)``; ``rate=1``
    zeroes them all, as in Keras.

    ``noise_shape`` (one entry per input axis, batch first; ``None`` takes the input's size) shares one
    draw along the axes of size 1, e.g. ``(None, 1, None)`` drops whole features of every time step.
    """
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"{type(self).__name__} rate must be a fraction in [0, 1], got rate={rate!r}.")
        self.rate = rate
        self._set_seed(seed)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape):
            raise ValueError(self._shape_message(f"an input of rank {len(self.noise_shape)} (noise_shape "
                                                 f"{self.noise_shape})", input_shape))

    def mask_shape(self, x: torch.Tensor) -> list[int] | None:
        """Shape of one keep/drop draw, broadcast over ``x``; None for an independent draw per element."""
        if self.noise_shape is None:
            return None
        return [n if s is None else s for n, s in zip(x.shape, self.noise_shape, strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.rate or not self.training:
            return x
        if self.rate == 1:  # nothing kept (no 1 / (1 - rate) to scale by)
            return torch.zeros_like(x)
        shape = self.mask_shape(x)
        if shape is None and self._seed_generator is None:
            return F.dropout(x, self.rate, True)  # the fused kernel; it takes no generator
        return x * self._keep_mask(x, shape, 1.0 - self.rate).div_(1.0 - self.rate)


class GaussianNoise(Seeded, Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` while training."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        # Keras also refuses a stddev above 1; layerwise keeps it for data on other scales (an autoencoder's
        # noise_level on pixels of 0..255).
        if not stddev >= 0:
            raise ValueError(f"GaussianNoise stddev must be a non-negative number, got stddev={stddev!r}.")
        self.stddev = stddev
        self._set_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.stddev:
            return x
        return x + self._normal(x) * self.stddev


class GaussianDropout(Seeded, Layer):
    """Multiplies inputs by noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while training."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout rate must be in [0, 1), got {rate!r}.")
        self.rate = rate
        self._set_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        return x * (1.0 + self._normal(x) * math.sqrt(self.rate / (1.0 - self.rate)))


class AlphaDropout(Dropout):
    """Dropout for self-normalizing (SELU) networks: while training, drops a fraction ``rate`` of inputs to
    SELU's negative saturation value and applies the affine map that keeps the inputs' mean and variance
    (Klambauer et al. 2017). ``noise_shape`` shares draws as in Dropout.
    """

    _SELU_ALPHA = 1.6732632423543772848170429916717
    _SELU_SCALE = 1.0507009873554804934193349852946

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, **kwargs):
        if not 0 <= rate < 1:
            raise ValueError(f"AlphaDropout rate must be in [0, 1), got {rate!r}.")
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.rate or not self.training:
            return x
        dropped = -self._SELU_ALPHA * self._SELU_SCALE  # the value SELU saturates to
        a = ((1 - self.rate) * (1 + self.rate * dropped ** 2)) ** -0.5
        b = -a * dropped * self.rate
        keep = self._keep_mask(x, self.mask_shape(x), 1.0 - self.rate)
        # a * (x * keep + dropped * (1 - keep)) + b, written as a * keep * (x - dropped) + (a * dropped + b)
        return (x - dropped).mul_(keep).mul_(a).add_(a * dropped + b)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep/drop draw per sample and channel, shared by every
    position of the map (Tompson et al. 2015), for inputs of rank ``input_ndim`` (channels last; the 2-D and 3-D
    layers take ``data_format='channels_first'`` too)."""

    config_trainable = False  # as Keras, whose config of this layer has no "trainable"

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)  # rate in [0, 1], as Dropout's

    def mask_shape(self, x: torch.Tensor) -> list[int]:
        ones = [1] * (x.ndim - 2)
        if getattr(self, "data_format", "channels_last") == "channels_first":
            return [x.shape[0], x.shape[1], *ones]
        return [x.shape[0], *ones, x.shape[-1]]


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, timesteps, channels)`` sequences while training."""

    input_ndim = 3


class SpatialDropout2D(DataFormat, _SpatialDropout):
    """Drops whole channels of ``(batch, height, width, channels)`` maps while training."""

    input_ndim = 4

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.set_data_format(data_format)


class SpatialDropout3D(DataFormat, _SpatialDropout):
    """Drops whole channels of ``(batch, depth, height, width, channels)`` volumes while training."""

    input_ndim = 5

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.set_data_format(data_format)


class ActivityRegularization(Layer):
    """Passes inputs through and adds ``l1 * sum(|x|) + l2 * sum(x ** 2)``, per sample, to the loss."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)
