"""Convolutions: Conv1D ``(batch, steps, channels)``, Conv2D ``(batch, height, width, channels)``, Conv3D
``(batch, depth, height, width, channels)`` and their transposes; with ``data_format='channels_first'`` the
channels come right after the batch axis, PyTorch's own layout. Kernels are stored in PyTorch's layout
``(out, in, *kernel)``; ``get_weights`` gives Keras' ``(*kernel, in, out)`` in either data format.

``_Conv`` is the base of every convolution (the depthwise and separable ones too): the model's plan fuses
any ``_Conv`` with the activation or max-pooling after it through ``linear_channels_first``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers._padding import (DataFormat, as_tuple, check_padding, conv_output_length, is_integer,
                                      torch_padding)
from layerwise.layers.base import LAYER_CLASSES, Shape
from layerwise.layers.weights import new_parameter, WeightView
from layerwise.layers.core import ActivatedLayer
from layerwise.layers.keras2_paths import any_layer



def _conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """``F.conv2d`` on ``(batch, channels, height, width)``, with a 1x1 kernel at a stride above 1 run at stride 1 on
    the strided input (the same numbers, a quarter of the work): PyTorch 2.13's CPU backward of that convolution
    over a channels-last input corrupts the heap, and the process aborts."""
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    unpadded = padding == "valid" or (not isinstance(padding, str) and not any(
        (padding,) if isinstance(padding, int) else padding))
    if tuple(weight.shape[-2:]) == (1, 1) and max(strides) > 1 and unpadded:
        return F.conv2d(x[:, :, ::strides[0], ::strides[1]], weight, bias, 1, 0, dilation, groups)
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


CONV = {1: F.conv1d, 2: _conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def kernel_to_torch(rank: int):
    """Keras ``(*k, in, out)`` -> torch ``(out, in, *k)`` (a transposed kernel's ``(*k, out, in)`` alike)."""
    return lambda t: t.permute(rank + 1, rank, *range(rank))


def kernel_to_keras(rank: int):
    """torch ``(out, in, *k)`` -> Keras ``(*k, in, out)``."""
    return lambda t: t.permute(*range(2, rank + 2), 1, 0)


class _Conv(DataFormat, ActivatedLayer):
    """Keras' window arguments and the data format shared by every convolution.

    Subclasses create the weights (``build``), compute ``linear_channels_first`` on ``(batch, channels,
    *spatial)``, say how many channels they output and list their ``weight_views``.
    """

    config_activity_regularizer = True
    rank = 2
    allow_causal = False  # Keras allows padding='causal' for Conv1D only
    # as Keras writes them: kernel_size=3 as (3, 3), padding="SAME" as "same", numpy integers as ints
    resolved_config = ("kernel_size", "strides", "dilation_rate", "padding")

    def __init__(self, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, activation=None, use_bias: bool = True, **kwargs):
        super().__init__(activation=activation, **kwargs)
        layer = type(self).__name__
        self.set_data_format(data_format)
        self.use_bias = use_bias
        self.kernel_size = as_tuple(kernel_size, self.rank, f"{layer} kernel_size")
        self.strides = as_tuple(strides, self.rank, f"{layer} strides")
        self.dilation_rate = as_tuple(dilation_rate, self.rank, f"{layer} dilation_rate")
        self.padding = check_padding(padding, self.allow_causal, f"{layer} padding")

    @property
    def input_ndim(self) -> int:
        return self.rank + 2

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        if input_shape[self.channel_axis] is None:
            where = "last axis" if self.channel_axis == -1 else "axis 1, data_format='channels_first'"
            raise ValueError(self._shape_message(f"a known channel count ({where})", input_shape))

    def output_channels(self, input_channels: int) -> int:
        raise NotImplementedError

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_channels_first(self.linear_channels_first(self.to_channels_first(x)))

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution before its activation, on ``(batch, channels, *spatial)``."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_rank(input_shape)
        spatial = [conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
                   zip(self.spatial_shape(input_shape), self.kernel_size, self.strides, self.dilation_rate)]
        if any(n is not None and n <= 0 for n in spatial):
            raise ValueError(self._shape_message(
                f"spatial sizes of at least the dilated kernel {self.kernel_size} (dilation_rate "
                f"{self.dilation_rate}) with padding='valid'", input_shape))
        return self.shape_from(input_shape[0], spatial, self.output_channels(input_shape[self.channel_axis]))


def check_filters(layer: str, filters) -> int:
    """``filters`` as a Python int; a ValueError naming ``layer`` unless it is a positive integer."""
    if not is_integer(filters) or filters <= 0:
        raise ValueError(f"{layer} filters must be a positive integer, got {filters!r}.")
    return int(filters)


class _StandardConv(_Conv):
    """A convolution with ``filters`` outputs and one kernel ``(*kernel_size, in // groups, filters)``."""

    resolved_config = (*_Conv.resolved_config, "filters", "groups")

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        layer = type(self).__name__
        filters = check_filters(layer, filters)
        if not is_integer(groups) or groups <= 0 or filters % groups:
            raise ValueError(f"{layer} groups must be a positive integer that divides filters={filters}, "
                             f"got {groups!r}.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{layer} does not take strides > 1 together with dilation_rate > 1, as Keras does not; "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}.")
        self.filters, self.groups = filters, int(groups)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.regularize_weights(kernel=kernel_regularizer, bias=bias_regularizer)
        self.constrain_weights(kernel=kernel_constraint, bias=bias_constraint)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        if input_shape[self.channel_axis] % self.groups:
            raise ValueError(self._shape_message(
                f"a channel count divisible by groups={self.groups}", input_shape))

    def output_channels(self, input_channels: int) -> int:
        return self.filters

    def kernel_shape(self, input_channels: int) -> tuple[int, ...]:
        """The kernel in Keras' layout."""
        return (*self.kernel_size, input_channels // self.groups, self.filters)

    def build(self, input_shape: Shape) -> None:
        keras_shape = self.kernel_shape(input_shape[self.channel_axis])
        self.kernel = new_parameter(self.kernel_initializer, keras_shape, kernel_to_torch(self.rank))
        self.bias = new_parameter(self.bias_initializer, (self.filters,)) if self.use_bias else None

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        x, pad = torch_padding(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return CONV[self.rank](x, self.kernel, self.bias, self.strides, pad, self.dilation_rate, self.groups)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("kernel", self.kernel, to_keras=kernel_to_keras(self.rank),
                            from_keras=kernel_to_torch(self.rank))]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views


class Conv1D(_StandardConv):
    """1-D convolution: ``(batch, steps, channels) -> (batch, new_steps, filters)``; ``padding='causal'``
    pads the dilated window before the first step, so that step t sees steps up to t only."""
    rank = 1
    allow_causal = True


class Conv2D(_StandardConv):
    """2-D convolution: ``(batch, height, width, channels) -> (batch, new_h, new_w, filters)``."""
    rank = 2


class Conv3D(_StandardConv):
    """3-D convolution: ``(batch, depth, height, width, channels) -> (batch, new_d, new_h, new_w, filters)``."""
    rank = 3


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


class _ConvTranspose(_StandardConv):
    """Transposed convolution. Keras' kernel is ``(*kernel_size, filters, in)``; PyTorch's
    ``(in, filters, *kernel_size)``, the same permutation as a plain convolution's."""

    resolved_config = (*_StandardConv.resolved_config, "output_padding")
    config_omitted = ("groups",)  # Keras' transposed convolutions take no groups

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", output_padding=None,
                 data_format: str | None = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        layer = type(self).__name__
        groups = kwargs.pop("groups", 1)
        if groups != 1:
            raise ValueError(f"{layer} supports groups=1 only, as Keras does; got groups={groups!r}.")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        self.output_padding = (None if output_padding is None
                               else as_tuple(output_padding, self.rank, f"{layer} output_padding", minimum=0))
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{layer} output_padding must be smaller than strides={self.strides} on every axis, "
                             f"got {self.output_padding}.")
        self.crops = [transpose_crops(k, s, d, self.padding, op)
                      for k, s, d, op in zip(self.kernel_size, self.strides, self.dilation_rate,
                                             self.output_padding or (None,) * self.rank)]

    def kernel_shape(self, input_channels: int) -> tuple[int, ...]:
        return (*self.kernel_size, self.filters, input_channels)

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        # When a crop is negative (stride > kernel) the output is zero-padded; Keras' bias covers
        # those positions too, so the bias is then added after the padding, not by the kernel.
        pads_output = any(c < 0 for crop in self.crops for c in crop)
        bias = None if pads_output else self.bias
        y = _CONV_T[self.rank](x, self.kernel, bias, self.strides, dilation=self.dilation_rate)
        if any(crop != (0, 0) for crop in self.crops):
            y = F.pad(y, [-c for crop in reversed(self.crops) for c in crop])  # negative pads crop
        if pads_output and self.bias is not None:
            y = y + self.bias.view(-1, *(1,) * self.rank)
        return y

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_rank(input_shape)
        spatial = []
        for n, k, s, d, (a, b) in zip(self.spatial_shape(input_shape), self.kernel_size, self.strides,
                                      self.dilation_rate, self.crops):
            spatial.append(None if n is None else (n - 1) * s + (k - 1) * d + 1 - a - b)
        return self.shape_from(input_shape[0], spatial, self.filters)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: ``(batch, steps, channels) -> (batch, new_steps, filters)``."""
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution: ``(batch, h, w, channels) -> (batch, h', w', filters)``."""
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution: ``(batch, d, h, w, channels) -> (batch, d', h', w', filters)``."""
    rank = 3


# Keras' other names for the same classes; a saved config may name a class either way.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (Conv1DTranspose, Conv2DTranspose,
                                                                          Conv3DTranspose)
LAYER_CLASSES.update(Convolution1D=Conv1D, Convolution2D=Conv2D, Convolution3D=Conv3D,
                     Convolution1DTranspose=Conv1DTranspose, Convolution2DTranspose=Conv2DTranspose,
                     Convolution3DTranspose=Conv3DTranspose)


__getattr__ = any_layer(__name__)  # Keras 2's keras.layers.convolutional held other layers too
