"""Input corruption for denoising autoencoders (Vincent et al. 2008, 2010).

Three kinds, all active only while training, so that the same model reconstructs clean inputs
at inference:

- ``'gaussian'``: additive noise of standard deviation ``level`` (Keras' ``GaussianNoise`` layer);
- ``'masking'``: a fraction ``level`` of the values set to zero (no rescaling, unlike ``Dropout``);
- ``'salt_pepper'``: a fraction ``level`` of the values set to the low or the high value, half each.

``corruption_layer`` gives the layer to put in front of an encoder; ``corrupt`` applies the same
corruption to a numpy array once (to make noisy test images for benchmarks and examples).
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.layers import GaussianNoise
from layerwise.layers.base import Layer

NOISE_KINDS = ("gaussian", "masking", "salt_pepper")


def _check_rate(rate: float, who: str) -> float:
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{who} rate must be in [0, 1), got {rate!r}.")
    return float(rate)


def _check_stddev(level: float) -> float:
    """Gaussian noise's level: a standard deviation, finite and >= 0 (NaN fails the comparison too)."""
    if not 0.0 <= float(level) < np.inf:
        raise ValueError(f"Gaussian noise_level (a standard deviation) must be a finite number >= 0, got {level!r}.")
    return float(level)


class MaskingNoise(Layer):
    """Zeroes a random fraction ``rate`` of the inputs while training: ``(batch, ...) -> (batch, ...)``.

    Unlike ``Dropout`` the kept values are not scaled up: the decoder must fill in what is missing,
    not learn a rescaled copy.
    """

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate, "MaskingNoise")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        return x * (torch.rand_like(x) >= self.rate)


class SaltAndPepperNoise(Layer):
    """Sets a random fraction ``rate`` of the inputs to ``low`` or ``high`` (half each) while training.

    Shapes: ``(batch, ...) -> (batch, ...)``. ``low``/``high`` are the data's extremes: 0 and 1 for
    images scaled to [0, 1].
    """

    def __init__(self, rate: float, low: float = 0.0, high: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate, "SaltAndPepperNoise")
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        u = torch.rand_like(x)
        # u < rate/2 -> pepper (low), rate/2 <= u < rate -> salt (high), else unchanged
        x = torch.where(u < self.rate / 2, torch.full_like(x, self.low), x)
        return torch.where((u >= self.rate / 2) & (u < self.rate), torch.full_like(x, self.high), x)


def corruption_layer(noise: str | None, level: float, low: float = 0.0, high: float = 1.0) -> Layer | None:
    """The training-only layer for ``noise`` (one of ``NOISE_KINDS``) or None when ``noise`` is None."""
    if noise is None:
        return None
    if noise == "gaussian":
        return GaussianNoise(_check_stddev(level))
    if noise == "masking":
        return MaskingNoise(level)
    if noise == "salt_pepper":
        return SaltAndPepperNoise(level, low=low, high=high)
    raise ValueError(f"noise must be None or one of {NOISE_KINDS}, got {noise!r}.")


def corrupt(X: np.ndarray, noise: str, level: float, random_state: int | np.random.Generator | None = None,
            low: float = 0.0, high: float = 1.0, clip: bool = False) -> np.ndarray:
    """A corrupted copy of ``X`` (any shape), as the training layers corrupt it; float array out.

    ``clip=True`` keeps the result within ``[low, high]`` (images stay valid pixels under Gaussian noise).
    """
    rng = np.random.default_rng(random_state)
    X = np.asarray(X, dtype=np.float64)
    if noise == "gaussian":
        out = X + rng.normal(0.0, _check_stddev(level), size=X.shape)
    elif noise == "masking":
        out = np.where(rng.random(X.shape) < _check_rate(level, "masking"), 0.0, X)
    elif noise == "salt_pepper":
        u = rng.random(X.shape)
        rate = _check_rate(level, "salt_pepper")
        out = np.where(u < rate / 2, low, np.where(u < rate, high, X))
    else:
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}.")
    return np.clip(out, low, high) if clip else out
