"""Adaptive pooling: pools each spatial axis of length ``n`` to ``output_size`` bins, whatever ``n``.

Bin ``i`` of ``m`` covers ``[floor(i * n / m), ceil((i + 1) * n / m))``: Keras' bins on every backend (its
NumPy and JAX backends build them from these bounds), which are exactly PyTorch's adaptive pooling kernels',
so those kernels compute here. Bins may overlap when ``n`` is not a multiple of ``m``, and repeat when ``n < m``.

Inputs are ``(batch, *spatial, channels)`` (``data_format="channels_last"``, the default) or
``(batch, channels, *spatial)`` (``"channels_first"``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers._padding import DataFormat
from layerwise.layers.base import Layer, Shape

_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
_AXES = {1: "length", 2: "(height, width)", 3: "(depth, height, width)"}


def _output_size(layer: str, output_size, rank: int) -> tuple[int, ...]:
    """``output_size`` as a tuple of ``rank`` positive ints; Keras' TypeError (ValueError for a 1-D tuple of
    another length) for another type or length, a ValueError for sizes below 1."""
    if isinstance(output_size, int):
        sizes = (output_size,) * rank
    elif isinstance(output_size, (tuple, list)) and (len(output_size) == rank or rank == 1):
        if len(output_size) != rank:
            raise ValueError(f"{layer} output_size: for 1D input, a tuple must have length 1. "
                             f"Received: output_size={output_size!r}")
        sizes = tuple(output_size)
    else:
        raise TypeError(f"{layer} output_size must be an integer or a {_AXES[rank]} tuple of {rank} integers. "
                        f"Received: output_size={output_size!r} of type {type(output_size).__name__}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{layer} output_size must hold positive integers, got {output_size!r}.")
    return sizes


class _AdaptivePooling(DataFormat, Layer):
    rank = 2
    kernels: dict = _AVG

    def __init__(self, output_size, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.output_size = _output_size(layer, output_size, self.rank)
        self.set_data_format(data_format)

    @property
    def input_ndim(self) -> int:
        return self.rank + 2

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.shape_from(input_shape[0], self.output_size, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, *spatial, channels) -> (batch, *output_size, channels)`` (channels_last)."""
        return self.from_channels_first(self.pool(self.to_channels_first(x)))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pool a channels-first tensor ``(batch, channels, *spatial)`` to ``(batch, channels, *output_size)``."""
        return self.kernels[self.rank](x, self.output_size)

    def get_config(self) -> dict:
        # Keras saves the normalised tuple.
        return {**super().get_config(), "output_size": list(self.output_size)}


class _AdaptiveMaxPooling(_AdaptivePooling):
    kernels = _MAX


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """``(batch, steps, channels) -> (batch, output_size, channels)``: the mean over each bin of steps."""
    rank = 1


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """``(batch, h, w, channels) -> (batch, out_h, out_w, channels)``: the mean over each bin."""
    rank = 2


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """``(batch, d, h, w, channels) -> (batch, out_d, out_h, out_w, channels)``: the mean over each bin."""
    rank = 3


class AdaptiveMaxPooling1D(_AdaptiveMaxPooling):
    """``(batch, steps, channels) -> (batch, output_size, channels)``: the maximum over each bin of steps."""
    rank = 1


class AdaptiveMaxPooling2D(_AdaptiveMaxPooling):
    """``(batch, h, w, channels) -> (batch, out_h, out_w, channels)``: the maximum over each bin."""
    rank = 2


class AdaptiveMaxPooling3D(_AdaptiveMaxPooling):
    """``(batch, d, h, w, channels) -> (batch, out_d, out_h, out_w, channels)``: the maximum over each bin."""
    rank = 3
