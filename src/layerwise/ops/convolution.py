"""Keras' convolution, pooling and patch ops (``keras.ops.nn``): ``conv``, ``depthwise_conv``,
``separable_conv``, ``conv_transpose``, ``max_pool``, ``average_pool``, the adaptive pools, ``unfold``/``fold``,
``depth_to_space``/``space_to_depth``, and ``extract_sequences``.

Inputs are ``(batch, *spatial, channels)`` (``data_format="channels_last"``, Keras' default) or
``(batch, channels, *spatial)`` (``"channels_first"``), with 1 to 3 spatial axes; kernels are in Keras'
layout ``(*kernel_size, in, out)`` (``(*kernel_size, out, in)`` for ``conv_transpose``). The padding
arithmetic and kernel permutations are the convolution layers' (``layers/_padding.py``,
``layers/convolutional.py``), so ``ops.conv`` computes what ``Conv2D`` computes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.backend import image_data_format
from layerwise.layers._padding import as_tuple, check_padding, torch_padding
from layerwise.layers.adaptive_pooling import _output_size
from layerwise.layers.convolutional import CONV, kernel_to_torch, transpose_crops
from layerwise.layers.operations import operation
from layerwise.ops.core import to_tensor, to_tensors

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE = {"avg": {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d},
             "max": {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}}


def _data_format(op: str, data_format: str | None) -> str:
    data_format = data_format or image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"ops.{op}: data_format must be 'channels_last' or 'channels_first'; received "
                         f"data_format={data_format!r}.")
    return data_format


def _spatial_rank(op: str, x: torch.Tensor) -> int:
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"ops.{op} takes inputs of rank 3, 4 or 5 (batch, 1 to 3 spatial axes, channels); "
                         f"received inputs.shape={tuple(x.shape)}.")
    return x.ndim - 2


def _first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    """Channels-first view of ``x`` (a free view: PyTorch's kernels take the channels_last memory format)."""
    return x.movedim(-1, 1) if data_format == "channels_last" else x


def _last(y: torch.Tensor, data_format: str) -> torch.Tensor:
    return y.movedim(1, -1) if data_format == "channels_last" else y


def _common_float(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors in their promoted dtype, float32 for integers (PyTorch convolves floating types only)."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    dtype = dtype if dtype.is_floating_point else torch.float32
    return [t.to(dtype) for t in tensors]


def _conv(op: str, inputs, kernel, strides, padding: str, data_format, dilation_rate) -> torch.Tensor:
    inputs, kernel = _common_float(*to_tensors(inputs, kernel))
    rank, data_format = _spatial_rank(op, inputs), _data_format(op, data_format)
    if kernel.ndim != inputs.ndim:
        raise ValueError(f"ops.{op}: kernel must have the rank of inputs, (*kernel_size, in_channels, "
                         f"out_channels); received inputs.shape={tuple(inputs.shape)}, "
                         f"kernel.shape={tuple(kernel.shape)}.")
    strides = as_tuple(strides, rank, f"ops.{op} strides")
    dilation = as_tuple(dilation_rate, rank, f"ops.{op} dilation_rate")
    x = _first(inputs, data_format)
    if x.shape[1] % kernel.shape[-2]:
        raise ValueError(f"ops.{op}: the input channels ({x.shape[1]}) must be a multiple of the kernel's input "
                         f"channels kernel.shape[-2]={kernel.shape[-2]} (data_format={data_format!r}); received "
                         f"inputs.shape={tuple(inputs.shape)}, kernel.shape={tuple(kernel.shape)}.")
    x, pad = torch_padding(x, kernel.shape[:-2], strides, dilation, check_padding(padding, what=f"ops.{op} padding"))
    weight = kernel_to_torch(rank)(kernel)
    return _last(CONV[rank](x, weight, None, strides, pad, dilation, x.shape[1] // kernel.shape[-2]), data_format)


@operation()
def conv(inputs, kernel, strides=1, padding: str = "valid", data_format: str | None = None,
         dilation_rate=1) -> torch.Tensor:
    """N-D convolution (1 to 3 spatial axes) of ``inputs`` with ``kernel`` ``(*kernel_size, in, out)``; a kernel
    with fewer input channels than ``inputs`` convolves groups of channels, as PyTorch's ``groups``."""
    return _conv("conv", inputs, kernel, strides, padding, data_format, dilation_rate)


def _depthwise_kernel(op: str, inputs: torch.Tensor, kernel: torch.Tensor, data_format: str) -> torch.Tensor:
    """``(*k, channels, multiplier)`` -> the grouped kernel ``(*k, 1, channels * multiplier)``."""
    channels = inputs.shape[-1] if data_format == "channels_last" else inputs.shape[1]
    if kernel.ndim != inputs.ndim or kernel.shape[-2] != channels:
        raise ValueError(f"ops.{op}: kernel must be (*kernel_size, channels, multiplier) with the {channels} "
                         f"input channels of inputs (data_format={data_format!r}); received "
                         f"inputs.shape={tuple(inputs.shape)}, kernel.shape={tuple(kernel.shape)}.")
    return kernel.reshape(*kernel.shape[:-2], 1, kernel.shape[-2] * kernel.shape[-1])


@operation()
def depthwise_conv(inputs, kernel, strides=1, padding: str = "valid", data_format: str | None = None,
                   dilation_rate=1) -> torch.Tensor:
    """Each input channel convolved with its own ``multiplier`` filters: ``kernel`` is
    ``(*kernel_size, channels, multiplier)``; the output has ``channels * multiplier`` channels."""
    inputs, kernel = to_tensors(inputs, kernel)
    kernel = _depthwise_kernel("depthwise_conv", inputs, kernel, _data_format("depthwise_conv", data_format))
    return _conv("depthwise_conv", inputs, kernel, strides, padding, data_format, dilation_rate)


@operation()
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding: str = "valid",
                   data_format: str | None = None, dilation_rate=1) -> torch.Tensor:
    """``depthwise_conv`` then a 1x1 ``conv`` with ``pointwise_kernel`` ``(*ones, channels * multiplier, out)``."""
    inputs, depthwise_kernel, pointwise_kernel = to_tensors(inputs, depthwise_kernel, pointwise_kernel)
    kernel = _depthwise_kernel("separable_conv", inputs, depthwise_kernel,
                               _data_format("separable_conv", data_format))
    depthwise = _conv("separable_conv", inputs, kernel, strides, padding, data_format, dilation_rate)
    return _conv("separable_conv", depthwise, pointwise_kernel, 1, "valid", data_format, 1)


@operation()
def conv_transpose(inputs, kernel, strides=1, padding: str = "valid", output_padding=None,
                   data_format: str | None = None, dilation_rate=1) -> torch.Tensor:
    """Transposed convolution with ``kernel`` ``(*kernel_size, out, in)``; Keras' output sizes, 'same' placing
    the extra row or column on the right as TensorFlow does."""
    inputs, kernel = _common_float(*to_tensors(inputs, kernel))
    rank, data_format = _spatial_rank("conv_transpose", inputs), _data_format("conv_transpose", data_format)
    x = _first(inputs, data_format)
    if kernel.ndim != inputs.ndim or kernel.shape[-1] != x.shape[1]:
        raise ValueError(f"ops.conv_transpose: kernel must be (*kernel_size, out_channels, in_channels) with the "
                         f"{x.shape[1]} input channels of inputs (data_format={data_format!r}); received "
                         f"inputs.shape={tuple(inputs.shape)}, kernel.shape={tuple(kernel.shape)}.")
    strides = as_tuple(strides, rank, "ops.conv_transpose strides")
    dilation = as_tuple(dilation_rate, rank, "ops.conv_transpose dilation_rate")
    padding = check_padding(padding, what="ops.conv_transpose padding")
    extra = (None,) * rank if output_padding is None else as_tuple(output_padding, rank,
                                                                  "ops.conv_transpose output_padding", 0)
    crops = [transpose_crops(k, s, d, padding, e) for k, s, d, e in zip(kernel.shape[:-2], strides, dilation, extra)]
    y = _CONV_T[rank](x, kernel_to_torch(rank)(kernel), stride=strides, dilation=dilation)
    if any(crop != (0, 0) for crop in crops):
        y = F.pad(y, [-c for crop in reversed(crops) for c in crop])  # negative pads crop, positive ones pad
    return _last(y, data_format)


def _pool_args(op: str, inputs, pool_size, strides, padding, data_format):
    x = to_tensor(inputs)
    rank, data_format = _spatial_rank(op, x), _data_format(op, data_format)
    pool_size = as_tuple(pool_size, rank, f"ops.{op} pool_size")
    strides = pool_size if strides is None else as_tuple(strides, rank, f"ops.{op} strides")
    return _first(x, data_format), rank, pool_size, strides, check_padding(padding, what=f"ops.{op} padding"), \
        data_format


@operation()
def max_pool(inputs, pool_size, strides=None, padding: str = "valid", data_format: str | None = None) -> torch.Tensor:
    """The maximum over windows of ``pool_size`` (strides default to ``pool_size``)."""
    x, rank, pool_size, strides, padding, data_format = _pool_args("max_pool", inputs, pool_size, strides, padding,
                                                                   data_format)
    x, pad = torch_padding(x, pool_size, strides, (1,) * rank, padding, value=float("-inf"))
    return _last(_MAX[rank](x, pool_size, strides, pad), data_format)


@operation()
def average_pool(inputs, pool_size, strides=None, padding: str = "valid",
                 data_format: str | None = None) -> torch.Tensor:
    """The mean over windows of ``pool_size``; with 'same' padding, of the real values in each window (as Keras'
    JAX and TensorFlow backends; its torch backend counts repeated edge values in asymmetric windows)."""
    x, rank, pool_size, strides, padding, data_format = _pool_args("average_pool", inputs, pool_size, strides,
                                                                   padding, data_format)
    ones = (1,) * rank
    padded, pad = torch_padding(x, pool_size, strides, ones, padding)
    out = _AVG[rank](padded, pool_size, strides, pad, count_include_pad=False)
    if padded is not x:
        # Padded explicitly (asymmetric 'same'): divide by the share of real values in each window.
        mask, _ = torch_padding(torch.ones_like(x[:1, :1]), pool_size, strides, ones, padding)
        out = out / _AVG[rank](mask, pool_size, strides)
    return _last(out, data_format)


def _adaptive(kind: str, op: str, inputs, output_size, data_format) -> torch.Tensor:
    x = to_tensor(inputs)
    rank, data_format = _spatial_rank(op, x), _data_format(op, data_format)
    out = _ADAPTIVE[kind][rank](_first(x, data_format), _output_size(f"ops.{op}", output_size, rank))
    return _last(out, data_format)


@operation()
def adaptive_average_pool(inputs, output_size, data_format: str | None = None) -> torch.Tensor:
    """Means over ``output_size`` bins per spatial axis, whatever the input size (PyTorch's bins, Keras')."""
    return _adaptive("avg", "adaptive_average_pool", inputs, output_size, data_format)


@operation()
def adaptive_max_pool(inputs, output_size, data_format: str | None = None) -> torch.Tensor:
    """Maxima over ``output_size`` bins per spatial axis, whatever the input size."""
    return _adaptive("max", "adaptive_max_pool", inputs, output_size, data_format)


@operation()
def unfold(x, kernel_size, dilation=1, padding=0, stride=1) -> torch.Tensor:
    """Sliding blocks of a channels-first image ``(N, C, H, W) -> (N, C * kH * kW, blocks)`` (im2col)."""
    x = to_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"ops.unfold takes a 4-D input (N, C, H, W); received x.shape={tuple(x.shape)}.")
    return F.unfold(x, kernel_size, dilation, padding, stride)


@operation()
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1) -> torch.Tensor:
    """Sums sliding blocks ``(N, C * kH * kW, blocks)`` back into an image ``(N, C, *output_size)`` (col2im)."""
    x = to_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"ops.fold takes a 3-D input (N, C * kH * kW, blocks); received x.shape={tuple(x.shape)}.")
    return F.fold(x, output_size, kernel_size, dilation, padding, stride)


def _block_args(op: str, x, block_size: int, data_format: str | None):
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"ops.{op}: block_size must be an integer of at least 2; received block_size={block_size!r}.")
    x = to_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"ops.{op} takes a 4-D input; received x.shape={tuple(x.shape)}.")
    return x, _data_format(op, data_format)


@operation()
def depth_to_space(x, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Channels into ``block_size x block_size`` spatial blocks: ``(N, H, W, C) -> (N, H*b, W*b, C / b^2)``."""
    x, data_format = _block_args("depth_to_space", x, block_size, data_format)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    if channels % block_size ** 2:
        raise ValueError(f"ops.depth_to_space: the channels ({channels}) must be divisible by block_size**2 "
                         f"({block_size ** 2}); received x.shape={tuple(x.shape)}.")
    if data_format == "channels_first":
        return F.pixel_shuffle(x, block_size)  # channels ordered (C / b^2, b, b), as Keras' channels_first
    n, h, w, c = x.shape
    blocks = x.reshape(n, h, w, block_size, block_size, c // block_size ** 2).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h * block_size, w * block_size, c // block_size ** 2)


@operation()
def space_to_depth(x, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Spatial ``block_size x block_size`` blocks into channels: ``(N, H, W, C) -> (N, H/b, W/b, C * b^2)``."""
    x, data_format = _block_args("space_to_depth", x, block_size, data_format)
    h, w = x.shape[1:3] if data_format == "channels_last" else x.shape[2:]
    if h % block_size or w % block_size:
        raise ValueError(f"ops.space_to_depth: height and width must be divisible by block_size={block_size}; "
                         f"received x.shape={tuple(x.shape)}.")
    if data_format == "channels_first":
        return F.pixel_unshuffle(x, block_size)
    n, _, _, c = x.shape
    blocks = x.reshape(n, h // block_size, block_size, w // block_size, block_size, c).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h // block_size, w // block_size, c * block_size ** 2)


@operation()
def extract_sequences(x, sequence_length: int, sequence_stride: int) -> torch.Tensor:
    """Frames of the last axis: ``(..., n) -> (..., 1 + (n - sequence_length) // sequence_stride,
    sequence_length)``."""
    x = to_tensor(x)
    if x.ndim < 1:
        raise ValueError(f"ops.extract_sequences takes an input of rank >= 1; received x.shape={tuple(x.shape)}.")
    return x.unfold(-1, sequence_length, sequence_stride).contiguous()


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
