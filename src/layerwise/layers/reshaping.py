"""Layers that change shape only: Flatten, Reshape, UpSampling2D, RepeatVector."""
from __future__ import annotations

import math

import torch

from layerwise.layers.base import Layer, Shape
from layerwise.layers._padding import as_tuple


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1*d2*...)`` in Keras' channels-last order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))


class Reshape(Layer):
    """``(batch, ...) -> (batch, *target_shape)``; one entry of ``target_shape`` may be -1."""

    def __init__(self, target_shape: Shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size, known = math.prod(rest), math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(self._shape_message(f"a size divisible by {known}", input_shape))
            return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))
        if size != known:
            raise ValueError(self._shape_message(
                f"{known} values per sample to reshape to {self.target_shape}", input_shape))
        return (input_shape[0], *self.target_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)


class UpSampling2D(Layer):
    """Repeats rows and columns: ``(batch, h, w, c) -> (batch, h*sh, w*sw, c)``."""

    input_ndim = 4

    def __init__(self, size=(2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("UpSampling2D: only data_format='channels_last' is supported.")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D interpolation must be 'nearest' or 'bilinear', got {interpolation!r}.")
        self.size = as_tuple(size, 2, "size")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.interpolation == "nearest":
            return x.repeat_interleave(self.size[0], dim=1).repeat_interleave(self.size[1], dim=2)
        y = torch.nn.functional.interpolate(x.movedim(-1, 1), scale_factor=self.size, mode="bilinear",
                                            align_corners=False)
        return y.movedim(1, -1)


class RepeatVector(Layer):
    """Repeats each input vector ``n`` times: ``(batch, features) -> (batch, n, features)``, e.g. to feed
    an encoder's summary to every step of a decoder."""

    input_ndim = 2

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"RepeatVector n must be a positive integer, got {n!r}.")
        self.n = n

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1).expand(-1, self.n, -1)  # a view: no copy until a layer needs one
