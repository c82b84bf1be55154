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
from layerwise.random import SeedGenerator

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


def _check_seed(seed, who: str) -> int | None:
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise ValueError(f"{who} seed must be an int or None, got seed={seed!r}.")
    return None if seed is None else int(seed)


class _SeededNoise(Layer):
    """A noise layer's uniform draws: from PyTorch's global generator without ``seed``; with one, from the
    layer's own generator, so that two layers made with the same seed corrupt alike, call after call (Keras'
    ``seed`` of ``Dropout`` and ``GaussianNoise``)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate, type(self).__name__)
        self.seed = _check_seed(seed, type(self).__name__)
        self._generator = None if self.seed is None else SeedGenerator(self.seed)

    def _uniform(self, x: torch.Tensor) -> torch.Tensor:
        """Uniform [0, 1) values of ``x``'s shape, dtype and device."""
        if self._generator is None:
            return torch.rand_like(x)
        return torch.rand(x.shape, generator=self._generator.generator(x.device), dtype=x.dtype, device=x.device)


class MaskingNoise(_SeededNoise):
    """Zeroes a random fraction ``rate`` of the inputs while training: ``(batch, ...) -> (batch, ...)``.

    Unlike ``Dropout`` the kept values are not scaled up: the decoder must fill in what is missing,
    not learn a rescaled copy. ``seed`` (an int) makes the masks reproducible.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        return x * (self._uniform(x) >= self.rate)


class SaltAndPepperNoise(_SeededNoise):
    """Sets a random fraction ``rate`` of the inputs to ``low`` or ``high`` (half each) while training.

    Shapes: ``(batch, ...) -> (batch, ...)``. ``low``/``high`` are the data's extremes: 0 and 1 for
    images scaled to [0, 1]. ``seed`` (an int) makes the corruption reproducible.
    """

    def __init__(self, rate: float, low: float = 0.0, high: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        u = self._uniform(x)
        # u < rate/2 -> pepper (low), rate/2 <= u < rate -> salt (high), else unchanged
        x = torch.where(u < self.rate / 2, torch.full_like(x, self.low), x)
        return torch.where((u >= self.rate / 2) & (u < self.rate), torch.full_like(x, self.high), x)


def corruption_layer(noise: str | None, level: float, low: float = 0.0, high: float = 1.0,
                     seed: int | None = None) -> Layer | None:
    """The training-only layer for ``noise`` (one of ``NOISE_KINDS``) or None when ``noise`` is None; ``seed``
    is the layer's."""
    if noise is None:
        return None
    if noise == "gaussian":
        return GaussianNoise(_check_stddev(level), seed=seed)
    if noise == "masking":
        return MaskingNoise(level, seed=seed)
    if noise == "salt_pepper":
        return SaltAndPepperNoise(level, low=low, high=high, seed=seed)
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
