"""Pooling: ``(batch, steps, channels)`` for 1-D, ``(batch, h, w, channels)`` for 2-D, ``(batch, d, h, w, channels)``
for 3-D; with ``data_format='channels_first'`` the channels come right after the batch axis."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers._padding import (DataFormat, as_float, as_tuple, check_padding, conv_output_length,
                                      torch_padding)
from layerwise.layers.base import LAYER_CLASSES, Layer, Shape

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(DataFormat, Layer):
    rank = 2
    resolved_config = ("pool_size", "strides", "padding")  # padding in lower case, which Keras' call needs

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        layer = type(self).__name__
        self.pool_size = as_tuple(pool_size, self.rank, f"{layer} pool_size")
        # Keras: strides=None means strides equal to pool_size.
        self.strides = self.pool_size if strides is None else as_tuple(strides, self.rank, f"{layer} strides")
        self.padding = check_padding(padding, what=f"{layer} padding")

    @property
    def input_ndim(self) -> int:
        return self.rank + 2

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_rank(input_shape)
        spatial = [conv_output_length(n, k, s, self.padding)
                   for n, k, s in zip(self.spatial_shape(input_shape), self.pool_size, self.strides)]
        if any(n is not None and n <= 0 for n in spatial):
            raise ValueError(self._shape_message(
                f"spatial sizes of at least pool_size {self.pool_size} with padding='valid'", input_shape))
        return self.shape_from(input_shape[0], spatial, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_channels_first(self.pool(self.to_channels_first(x)))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pool a channels-first tensor ``(batch, channels, *spatial)``."""
        raise NotImplementedError


def lowest(dtype: torch.dtype) -> float | int:
    """The padding max pooling never picks: -inf, or the smallest value of an integer dtype (which has no -inf;
    Keras max-pools integer maps in their dtype)."""
    return float("-inf") if dtype.is_floating_point else torch.iinfo(dtype).min


class _MaxPooling(_Pooling):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        ones = (1,) * self.rank
        if not x.is_floating_point():  # PyTorch's channels-last 3-D kernel indexes uint8 volumes in uint8
            x = x.contiguous()
        x, pad = torch_padding(x, self.pool_size, self.strides, ones, self.padding, value=lowest(x.dtype))
        return _MAX[self.rank](x, self.pool_size, self.strides, pad)


class _AveragePooling(_Pooling):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        ones = (1,) * self.rank
        padded, pad = torch_padding(x, self.pool_size, self.strides, ones, self.padding)
        out = _AVG[self.rank](padded, self.pool_size, self.strides, pad, count_include_pad=False)
        if padded is not x:
            # Keras averages over the real values only; divide by the share of real values per window.
            mask, _ = torch_padding(torch.ones_like(x[:1, :1]), self.pool_size, self.strides, ones, self.padding)
            out = out / _AVG[self.rank](mask, self.pool_size, self.strides)
        return out


class MaxPooling1D(_MaxPooling):
    """``(batch, steps, channels) -> (batch, pooled_steps, channels)``."""
    rank = 1


class MaxPooling2D(_MaxPooling):
    """``(batch, h, w, channels) -> (batch, pooled_h, pooled_w, channels)``."""
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_MaxPooling):
    """``(batch, d, h, w, channels) -> (batch, pooled_d, pooled_h, pooled_w, channels)``."""
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_AveragePooling):
    """``(batch, steps, channels) -> (batch, pooled_steps, channels)``."""
    rank = 1


class AveragePooling2D(_AveragePooling):
    """``(batch, h, w, channels) -> (batch, pooled_h, pooled_w, channels)``."""
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_AveragePooling):
    """``(batch, d, h, w, channels) -> (batch, pooled_d, pooled_h, pooled_w, channels)``."""
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(DataFormat, Layer):
    rank = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.keepdims = keepdims

    @property
    def input_ndim(self) -> int:
        return self.rank + 2

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[self.channel_axis]
        if self.keepdims:
            return self.shape_from(input_shape[0], (1,) * self.rank, channels)
        return (input_shape[0], channels)

    def spatial_axes(self) -> tuple[int, ...]:
        start = 2 if self.data_format == "channels_first" else 1
        return tuple(range(start, start + self.rank))


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return as_float(x).mean(dim=self.spatial_axes(), keepdim=self.keepdims)


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.spatial_axes(), keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """``(batch, steps, channels) -> (batch, channels)``: the mean over time, over the real steps only when
    given a ``(batch, steps)`` mask (padding from ``Embedding(mask_zero=True)`` or ``Masking``)."""
    rank = 1
    supports_masking = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return super().forward(x)
        (steps,) = self.spatial_axes()
        x = as_float(x)
        mask = mask.to(torch.bool).unsqueeze(3 - steps)  # (batch, steps, 1) or (batch, 1, steps)
        # where, not a product: a NaN or inf at a masked step stays out, as in Keras
        total = torch.where(mask, x, 0).sum(steps, keepdim=self.keepdims)
        return total / mask.to(x.dtype).sum(steps, keepdim=self.keepdims)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        return None  # the time axis is gone


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """``(batch, h, w, channels) -> (batch, channels)``: the mean over height and width."""
    rank = 2


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """``(batch, d, h, w, channels) -> (batch, channels)``: the mean over depth, height and width."""
    rank = 3


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """``(batch, steps, channels) -> (batch, channels)``: the maximum over time."""
    rank = 1


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """``(batch, h, w, channels) -> (batch, channels)``: the maximum over height and width."""
    rank = 2


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """``(batch, d, h, w, channels) -> (batch, channels)``: the maximum over depth, height and width."""
    rank = 3


# Keras' other names for the same classes; a saved config may name a class either way.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
LAYER_CLASSES.update(MaxPool1D=MaxPool1D, MaxPool2D=MaxPool2D, MaxPool3D=MaxPool3D, AvgPool1D=AvgPool1D,
                     AvgPool2D=AvgPool2D, AvgPool3D=AvgPool3D, GlobalAvgPool1D=GlobalAvgPool1D,
                     GlobalAvgPool2D=GlobalAvgPool2D, GlobalAvgPool3D=GlobalAvgPool3D,
                     GlobalMaxPool1D=GlobalMaxPool1D, GlobalMaxPool2D=GlobalMaxPool2D,
                     GlobalMaxPool3D=GlobalMaxPool3D)
