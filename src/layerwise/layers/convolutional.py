"""Convolutions on channels-last inputs: Conv1D ``(batch, steps, channels)``, Conv2D and
Conv2DTranspose ``(batch, height, width, channels)``. Kernels are stored in PyTorch's layout
``(out, in, *kernel)``; ``get_weights`` gives Keras' ``(*kernel, in, out)``."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers._padding import (as_tuple, channels_first, channels_last, check_padding,
                                       conv_output_length, torch_padding)
from layerwise.layers.base import Shape, WeightView, new_parameter
from layerwise.layers.core import ActivatedLayer

_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def _keras_to_torch_kernel(rank: int):
    # Keras (*k, in, out) -> torch (out, in, *k)
    return lambda t: t.permute(rank + 1, rank, *range(rank))


def _torch_to_keras_kernel(rank: int):
    # torch (out, in, *k) -> Keras (*k, in, out)
    return lambda t: t.permute(*range(2, rank + 2), 1, 0)


class _Conv(ActivatedLayer):
    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activation=activation, **kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: only data_format='channels_last' is supported "
                             f"(Keras' default), got {data_format!r}.")
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{type(self).__name__} filters must be a positive integer, got {filters!r}.")
        self.filters, self.groups, self.use_bias = filters, groups, use_bias
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = as_tuple(strides, self.rank, "strides")
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = check_padding(padding)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.regularize_weights(kernel=kernel_regularizer, bias=bias_regularizer)
        self.constrain_weights(kernel=kernel_constraint, bias=bias_constraint)

    @property
    def input_ndim(self) -> int:
        return self.rank + 2

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(self._shape_message(
                f"a known channel count divisible by groups={self.groups}", input_shape))

    def build(self, input_shape: Shape) -> None:
        keras_shape = (*self.kernel_size, input_shape[-1] // self.groups, self.filters)
        self.kernel = new_parameter(self.kernel_initializer, keras_shape, _keras_to_torch_kernel(self.rank))
        self.bias = new_parameter(self.bias_initializer, (self.filters,)) if self.use_bias else None

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return channels_last(self.linear_channels_first(channels_first(x)))

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution before its activation, on ``(batch, channels, *spatial)``."""
        x, pad = torch_padding(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return _CONV[self.rank](x, self.kernel, self.bias, self.strides, pad, self.dilation_rate, self.groups)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
                   zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return (input_shape[0], *spatial, self.filters)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("kernel", self.kernel, to_keras=_torch_to_keras_kernel(self.rank),
                            from_keras=_keras_to_torch_kernel(self.rank))]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views


class Conv1D(_Conv):
    """1-D convolution: ``(batch, steps, channels) -> (batch, new_steps, filters)``."""
    rank = 1


class Conv2D(_Conv):
    """2-D convolution: ``(batch, height, width, channels) -> (batch, new_h, new_w, filters)``."""
    rank = 2


def transpose_crops(kernel: int, stride: int, dilation: int, padding: str,
                    output_padding: int | None) -> tuple[int, int]:
    """(left, right) to cut from PyTorch's full transposed output so that it matches Keras.

    PyTorch's full output has length ``(n - 1) * stride + k_eff``. Keras' 'valid' output is
    ``(n - 1) * stride + max(k_eff, stride)``; its 'same' output is ``n * stride``, with the
    extra column on the right as TensorFlow places it. A negative crop means zero padding.
    """
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return 0, -extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return (k - 1) - left, (k - 1) - (total - left)


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution: ``(batch, h, w, channels) -> (batch, h', w', filters)``.

    Keras' kernel is ``(kh, kw, filters, in)``; PyTorch's ``(in, filters, kh, kw)``.
    """
    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", output_padding=None,
                 **kwargs):
        if kwargs.get("groups", 1) != 1:
            raise ValueError("Conv2DTranspose supports groups=1 only, as Keras does.")
        super().__init__(filters, kernel_size, strides=strides, padding=padding, **kwargs)
        self.output_padding = (None if output_padding is None
                               else as_tuple(output_padding, 2, "output_padding", minimum=0))
        self.crops = [transpose_crops(k, s, d, self.padding, op)
                      for k, s, d, op in zip(self.kernel_size, self.strides, self.dilation_rate,
                                             self.output_padding or (None, None))]

    def build(self, input_shape: Shape) -> None:
        keras_shape = (*self.kernel_size, self.filters, input_shape[-1])
        # Keras (kh, kw, out, in) -> torch (in, out, kh, kw)
        self.kernel = new_parameter(self.kernel_initializer, keras_shape, lambda t: t.permute(3, 2, 0, 1))
        self.bias = new_parameter(self.bias_initializer, (self.filters,)) if self.use_bias else None

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        # When a crop is negative (stride > kernel) the output is zero-padded; Keras' bias covers
        # those positions too, so the bias is then added after the padding, not by the kernel.
        pads_output = any(c < 0 for crop in self.crops for c in crop)
        bias = None if pads_output else self.bias
        y = F.conv_transpose2d(x, self.kernel, bias, self.strides, dilation=self.dilation_rate)
        if any(crop != (0, 0) for crop in self.crops):
            (top, bottom), (left, right) = self.crops
            y = F.pad(y, [-left, -right, -top, -bottom])  # negative pads crop
        if pads_output and self.bias is not None:
            y = y + self.bias.view(-1, 1, 1)
        return y

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = []
        for n, k, s, d, (a, b) in zip(input_shape[1:3], self.kernel_size, self.strides,
                                      self.dilation_rate, self.crops):
            spatial.append(None if n is None else (n - 1) * s + (k - 1) * d + 1 - a - b)
        return (input_shape[0], *spatial, self.filters)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("kernel", self.kernel, to_keras=lambda t: t.permute(2, 3, 1, 0),
                            from_keras=lambda t: t.permute(3, 2, 0, 1))]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views
