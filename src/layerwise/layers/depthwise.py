"""Depthwise and separable convolutions (either data format): DepthwiseConv1D/2D and SeparableConv1D/2D.

A depthwise convolution filters each input channel on its own with ``depth_multiplier`` kernels: PyTorch's
grouped convolution with one group per channel. Keras' depthwise kernel ``(*kernel_size, in, multiplier)``
is stored as PyTorch's ``(in * multiplier, 1, *kernel_size)``; output channel ``c * multiplier + m`` is
kernel ``m`` of input channel ``c``, in both. A separable convolution follows it with a pointwise
(1 x 1) convolution to ``filters`` channels.
"""
from __future__ import annotations

import torch

from layerwise.layers._padding import is_integer, torch_padding
from layerwise.layers.base import LAYER_CLASSES, Shape
from layerwise.layers.weights import new_parameter, WeightView
from layerwise.layers.convolutional import CONV, _Conv, check_filters, kernel_to_keras, kernel_to_torch


def _depthwise_to_torch(t: torch.Tensor) -> torch.Tensor:
    # Keras (*k, in, m) -> (*k, in * m) -> torch (in * m, 1, *k)
    return t.flatten(-2).movedim(-1, 0).unsqueeze(1)


def _depthwise_to_keras(multiplier: int):
    # torch (in * m, 1, *k) -> Keras (*k, in, m)
    return lambda t: t.squeeze(1).movedim(0, -1).unflatten(-1, (-1, multiplier))


class _DepthwiseBase(_Conv):
    """The depthwise step shared by the depthwise and separable layers."""

    resolved_config = (*_Conv.resolved_config, "depth_multiplier")

    def check_depth_multiplier(self, depth_multiplier) -> int:
        """``depth_multiplier`` as a Python int (numpy integers too); a ValueError naming the layer otherwise."""
        if not is_integer(depth_multiplier) or depth_multiplier <= 0:
            raise ValueError(f"{type(self).__name__} depth_multiplier must be a positive integer, "
                             f"got {depth_multiplier!r}.")
        return int(depth_multiplier)

    def depthwise_parameter(self, initializer, input_channels: int) -> torch.nn.Parameter:
        keras_shape = (*self.kernel_size, input_channels, self.depth_multiplier)
        return new_parameter(initializer, keras_shape, _depthwise_to_torch)

    def depthwise_view(self, name: str, tensor: torch.Tensor) -> WeightView:
        return WeightView(name, tensor, to_keras=_depthwise_to_keras(self.depth_multiplier),
                          from_keras=_depthwise_to_torch)

    def depthwise(self, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """Each channel of ``(batch, channels, *spatial)`` convolved with its own ``depth_multiplier`` kernels."""
        x, pad = torch_padding(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return CONV[self.rank](x, kernel, bias, self.strides, pad, self.dilation_rate, x.shape[1])


class _DepthwiseConv(_DepthwiseBase):
    def __init__(self, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 bias_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        self.depth_multiplier = self.check_depth_multiplier(depth_multiplier)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer
        # Keras names the depthwise kernel 'kernel' in this layer.
        self.regularize_weights(kernel=depthwise_regularizer, bias=bias_regularizer)
        self.constrain_weights(kernel=depthwise_constraint, bias=bias_constraint)

    def output_channels(self, input_channels: int) -> int:
        return input_channels * self.depth_multiplier

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[self.channel_axis]
        self.kernel = self.depthwise_parameter(self.depthwise_initializer, channels)
        self.bias = (new_parameter(self.bias_initializer, (channels * self.depth_multiplier,))
                     if self.use_bias else None)

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        return self.depthwise(x, self.kernel, self.bias)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [self.depthwise_view("kernel", self.kernel)]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views


class DepthwiseConv1D(_DepthwiseConv):
    """``(batch, steps, channels) -> (batch, new_steps, channels * depth_multiplier)``, channel by channel."""
    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """``(batch, h, w, channels) -> (batch, new_h, new_w, channels * depth_multiplier)``, channel by channel."""
    rank = 2


class _SeparableConv(_DepthwiseBase):
    resolved_config = (*_DepthwiseBase.resolved_config, "filters")

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        self.filters = check_filters(type(self).__name__, filters)
        self.depth_multiplier = self.check_depth_multiplier(depth_multiplier)
        self.initializers = (depthwise_initializer, pointwise_initializer, bias_initializer)
        self.regularize_weights(depthwise_kernel=depthwise_regularizer, pointwise_kernel=pointwise_regularizer,
                                bias=bias_regularizer)
        self.constrain_weights(depthwise_kernel=depthwise_constraint, pointwise_kernel=pointwise_constraint,
                               bias=bias_constraint)

    def output_channels(self, input_channels: int) -> int:
        return self.filters

    def build(self, input_shape: Shape) -> None:
        depthwise, pointwise, bias = self.initializers
        channels = input_shape[self.channel_axis]
        self.depthwise_kernel = self.depthwise_parameter(depthwise, channels)
        pointwise_shape = (*(1,) * self.rank, channels * self.depth_multiplier, self.filters)
        self.pointwise_kernel = new_parameter(pointwise, pointwise_shape, kernel_to_torch(self.rank))
        self.bias = new_parameter(bias, (self.filters,)) if self.use_bias else None

    def linear_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        return CONV[self.rank](self.depthwise(x, self.depthwise_kernel, None), self.pointwise_kernel, self.bias)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [self.depthwise_view("depthwise_kernel", self.depthwise_kernel),
                 WeightView("pointwise_kernel", self.pointwise_kernel, to_keras=kernel_to_keras(self.rank),
                            from_keras=kernel_to_torch(self.rank))]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views


class SeparableConv1D(_SeparableConv):
    """Depthwise then pointwise convolution: ``(batch, steps, channels) -> (batch, new_steps, filters)``."""
    rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise then pointwise convolution: ``(batch, h, w, channels) -> (batch, new_h, new_w, filters)``."""
    rank = 2


# Keras' other names for the same classes; a saved config may name a class either way.
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
LAYER_CLASSES.update(SeparableConvolution1D=SeparableConv1D, SeparableConvolution2D=SeparableConv2D)
