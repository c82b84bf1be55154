"""Keras 3's ``keras.random`` on PyTorch's generators: ``normal``, ``uniform``, ``truncated_normal``,
``randint``, ``dropout``, ``shuffle``, ``categorical``, ``gamma``, ``beta``, ``binomial`` and ``SeedGenerator``.

``seed`` is what Keras takes: None draws from PyTorch's global generator (which
``layerwise.utils.set_random_seed`` seeds), an int draws the same values at every call with that
int, and a ``SeedGenerator`` draws from its own ``torch.Generator``, which advances at each use: the
calls differ from one another, and a generator made with the same seed repeats the sequence.
The values are PyTorch's random streams, not Keras': the distributions are Keras', the numbers differ.
"""
from __future__ import annotations

import random as python_random

import torch

from layerwise.backend import float_dtype, get_device
from layerwise.ops.core import standardize_dtype, to_tensor


class SeedGenerator:
    """A random state for the functions of this module: ``normal(shape, seed=SeedGenerator(1337))``.

    It keeps one ``torch.Generator`` per device, each seeded with ``seed`` (a random seed when None)."""

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs):
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"SeedGenerator: seed must be an int or None; received {seed!r}.")
        self.seed = python_random.randint(1, 2 ** 31 - 1) if seed is None else seed
        self.name = name or "seed_generator"
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """This generator's ``torch.Generator`` on ``device`` (created at its first use)."""
        device = torch.device(device)
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def get_config(self) -> dict:
        return {"seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "SeedGenerator":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator seed={self.seed}>"


def _generator(seed, device: torch.device, function: str) -> torch.Generator | None:
    if seed is None:
        return None
    if isinstance(seed, SeedGenerator):
        return seed.generator(device)
    if isinstance(seed, int) and not isinstance(seed, bool):
        return torch.Generator(device=device).manual_seed(seed)
    raise ValueError(f"random.{function}: seed must be None, an int or a SeedGenerator; received {seed!r}.")


def _shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)


def _float_dtype(dtype, function: str) -> torch.dtype:
    dtype = float_dtype() if dtype is None else standardize_dtype(dtype)
    if not dtype.is_floating_point:
        raise ValueError(f"random.{function} draws floating-point values; received dtype={dtype}.")
    return dtype


def normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None) -> torch.Tensor:
    """Normal values of ``shape`` with ``mean`` and standard deviation ``stddev``."""
    device = get_device()
    out = torch.randn(_shape(shape), generator=_generator(seed, device, "normal"),
                      dtype=_float_dtype(dtype, "normal"), device=device)
    return out * stddev + mean


def uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=None, seed=None) -> torch.Tensor:
    """Uniform values of ``shape`` in ``[minval, maxval)``."""
    device = get_device()
    out = torch.empty(_shape(shape), dtype=_float_dtype(dtype, "uniform"), device=device)
    return out.uniform_(minval, maxval, generator=_generator(seed, device, "uniform"))


def truncated_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None) -> torch.Tensor:
    """Normal values of ``shape``, redrawn until within two standard deviations of ``mean``."""
    device = get_device()
    out = torch.empty(_shape(shape), dtype=_float_dtype(dtype, "truncated_normal"), device=device)
    return torch.nn.init.trunc_normal_(out, mean, stddev, mean - 2 * stddev, mean + 2 * stddev,
                                       generator=_generator(seed, device, "truncated_normal"))


def randint(shape, minval: int, maxval: int, dtype="int32", seed=None) -> torch.Tensor:
    """Integers of ``shape`` drawn uniformly from ``[minval, maxval)``."""
    device = get_device()
    return torch.randint(int(minval), int(maxval), _shape(shape), generator=_generator(seed, device, "randint"),
                         dtype=standardize_dtype(dtype), device=device)


def dropout(inputs, rate: float, noise_shape=None, seed=None) -> torch.Tensor:
    """``inputs`` with a fraction ``rate`` of entries zeroed and the rest scaled by ``1 / (1 - rate)``;
    ``noise_shape`` (None sizes: the input's) shares the mask along its axes of size 1."""
    if not 0 <= rate < 1:
        raise ValueError(f"random.dropout: rate must be in [0, 1); received rate={rate!r}.")
    inputs = to_tensor(inputs)
    shape = inputs.shape if noise_shape is None else tuple(
        inputs.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    keep = torch.full(shape, 1.0 - rate, dtype=inputs.dtype, device=inputs.device)
    mask = torch.bernoulli(keep, generator=_generator(seed, inputs.device, "dropout"))
    return inputs * mask / (1.0 - rate)


def shuffle(x, axis: int = 0, seed=None) -> torch.Tensor:
    """``x`` with its slices along ``axis`` in a random order."""
    x = to_tensor(x)
    order = torch.randperm(x.shape[axis], generator=_generator(seed, x.device, "shuffle"), device=x.device)
    return x.index_select(axis, order)


def categorical(logits, num_samples: int, dtype="int32", seed=None) -> torch.Tensor:
    """Class indices ``(batch, num_samples)`` drawn from the unnormalized log-probabilities ``logits``
    ``(batch, classes)``."""
    logits = to_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"random.categorical: logits must have shape (batch, classes); received "
                         f"{tuple(logits.shape)}.")
    probabilities = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
    drawn = torch.multinomial(probabilities, num_samples, replacement=True,
                              generator=_generator(seed, logits.device, "categorical"))
    return drawn.to(standardize_dtype(dtype))


def gamma(shape, alpha, dtype=None, seed=None) -> torch.Tensor:
    """Gamma values of ``shape`` with concentration ``alpha`` (scale 1)."""
    device = get_device()
    concentration = torch.as_tensor(alpha, dtype=_float_dtype(dtype, "gamma"), device=device)
    return torch._standard_gamma(concentration.expand(_shape(shape)).contiguous(),
                                 generator=_generator(seed, device, "gamma"))


def beta(shape, alpha, beta, dtype=None, seed=None) -> torch.Tensor:
    """Beta values of ``shape`` with parameters ``alpha`` and ``beta``, as ``X / (X + Y)`` of two gammas."""
    seed = SeedGenerator(seed) if isinstance(seed, int) and not isinstance(seed, bool) else seed
    first, second = gamma(shape, alpha, dtype, seed), gamma(shape, beta, dtype, seed)
    return first / (first + second)


def binomial(shape, counts, probabilities, dtype=None, seed=None) -> torch.Tensor:
    """Successes of ``shape`` in ``counts`` trials of success probability ``probabilities``."""
    device = get_device()
    dtype = _float_dtype(dtype, "binomial")
    counts = torch.as_tensor(counts, dtype=dtype, device=device).expand(_shape(shape)).contiguous()
    probabilities = torch.as_tensor(probabilities, dtype=dtype, device=device).expand(_shape(shape)).contiguous()
    return torch.binomial(counts, probabilities, generator=_generator(seed, device, "binomial"))


__all__ = ["SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal", "randint", "shuffle",
           "truncated_normal", "uniform"]
