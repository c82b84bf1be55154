"""Keras' neural-network ops (``keras.ops.nn``): activations, ``one_hot``, crossentropies, ``moments``,
``normalize``.

The activations are those of ``layerwise.activations`` and the crossentropies those of
``layerwise.losses.functions``, with the arguments and defaults of ``keras.ops`` (``gelu`` is
approximate by default here, as in Keras' op; the crossentropies are not averaged: ``(batch, ...)``
values per element, or per row for the categorical ones).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from layerwise import activations
from layerwise.backend import float_dtype
from layerwise.layers.operations import operation
from layerwise.losses import functions as losses
from layerwise.ops.core import standardize_dtype, to_axes, to_tensor, to_tensors

_HALF = (torch.float16, torch.bfloat16)  # computed in float32: their range is too small for sums of squares


def _activation(name: str, fn: Callable, doc: str) -> Callable:
    def op(x, *args, **kwargs):
        return fn(to_tensor(x), *args, **kwargs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return operation(name, elementwise=True)(op)


relu = _activation("relu", activations.relu, "``max(x, 0)``.")
relu6 = _activation("relu6", activations.relu6, "``min(max(x, 0), 6)``.")
sigmoid = _activation("sigmoid", activations.sigmoid, "``1 / (1 + exp(-x))``.")
softplus = _activation("softplus", activations.softplus, "``log(1 + exp(x))``.")
silu = _activation("silu", activations.silu, "``x * sigmoid(x)``.")
swish = silu
selu = _activation("selu", activations.selu, "Scaled ELU with Keras' (self-normalizing) constants.")
softsign = _activation("softsign", activations.softsign, "``x / (1 + |x|)``.")
log_sigmoid = _activation("log_sigmoid", activations.log_sigmoid, "``log(sigmoid(x))``, stable.")
hard_sigmoid = _activation("hard_sigmoid", activations.hard_sigmoid, "``relu6(x + 3) / 6``.")


@operation(elementwise=True)
def softmax(x, axis: int | None = -1) -> torch.Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (over all elements when None)."""
    return activations.softmax(to_tensor(x), axis)


@operation(elementwise=True)
def log_softmax(x, axis: int | None = -1) -> torch.Tensor:
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return activations.log_softmax(to_tensor(x), axis)


@operation(elementwise=True)
def gelu(x, approximate: bool = True) -> torch.Tensor:
    """Gaussian error linear unit; the tanh approximation unless ``approximate=False``."""
    return activations.gelu(to_tensor(x), approximate)


@operation(elementwise=True)
def elu(x, alpha: float = 1.0) -> torch.Tensor:
    return activations.elu(to_tensor(x), alpha)


@operation(elementwise=True)
def leaky_relu(x, negative_slope: float = 0.2) -> torch.Tensor:
    return activations.leaky_relu(to_tensor(x), negative_slope)


def _same_shapes(op: str, target: torch.Tensor, output: torch.Tensor) -> None:
    if target.shape != output.shape:
        raise ValueError(f"ops.{op}: target and output must have the same shape; received target.shape="
                         f"{tuple(target.shape)}, output.shape={tuple(output.shape)}.")


@operation(elementwise=True)
def binary_crossentropy(target, output, from_logits: bool = False) -> torch.Tensor:
    """Element-wise binary crossentropy of probabilities (or logits) ``output`` against ``target``."""
    target, output = to_tensors(target, output)
    _same_shapes("binary_crossentropy", target, output)
    target = target.to(output.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    return F.binary_cross_entropy(output.clamp(losses.EPSILON, 1 - losses.EPSILON), target, reduction="none")


@operation()
def categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1) -> torch.Tensor:
    """Crossentropy of one-hot ``target`` and class scores ``output`` ``(..., classes)`` -> ``(...)``."""
    target, output = to_tensors(target, output)
    _same_shapes("categorical_crossentropy", target, output)
    return losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@operation()
def sparse_categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1) -> torch.Tensor:
    """Crossentropy of integer labels ``(...)`` and class scores ``output`` ``(..., classes)`` -> ``(...)``."""
    target, output = to_tensors(target, output)
    expected = output.shape[:axis % output.ndim] + output.shape[axis % output.ndim + 1:]
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    if target.shape != expected:
        raise ValueError(f"ops.sparse_categorical_crossentropy: target must have the shape of output without its "
                         f"class axis {axis}, {tuple(expected)}; received target.shape={tuple(target.shape)}, "
                         f"output.shape={tuple(output.shape)}.")
    return losses.sparse_categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@operation()
def moments(x, axes, keepdims: bool = False, synchronized: bool = False):
    """``(mean, variance)`` of ``x`` over ``axes``; variance as ``E[x^2] - E[x]^2``, as Keras computes it."""
    if synchronized:
        raise NotImplementedError("ops.moments: synchronized=True (across devices) is not supported.")
    x = to_tensor(x)
    dtype = x.dtype
    x = x.float() if dtype in _HALF or not x.is_floating_point() else x
    dims = to_axes(axes, x.ndim)
    mean = torch.mean(x, dim=dims, keepdim=True)
    variance = torch.mean(torch.square(x), dim=dims, keepdim=True) - torch.square(mean)
    if not keepdims:
        mean, variance = mean.squeeze(dims), variance.squeeze(dims)
    if dtype in _HALF:  # as Keras: the largest finite half value, not inf, where the float32 result is beyond
        info = torch.finfo(dtype)
        return mean.clamp(info.min, info.max).to(dtype), variance.clamp(info.min, info.max).to(dtype)
    out_dtype = dtype if dtype.is_floating_point else x.dtype
    return mean.to(out_dtype), variance.to(out_dtype)


@operation(elementwise=True)
def normalize(x, axis: int = -1, order: int = 2, epsilon: float | None = None) -> torch.Tensor:
    """``x`` divided by its ``order``-norm along ``axis`` (a norm below ``epsilon`` counts as ``epsilon``)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"ops.normalize: order must be an int >= 1; received order={order!r}.")
    x = to_tensor(x)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.dtype in _HALF:  # 1 / epsilon overflows float16, and so do sums of squares
        return normalize(x.float(), axis, order, epsilon).to(x.dtype)
    epsilon = losses.EPSILON if epsilon is None else epsilon
    if isinstance(axis, (tuple, list)) and not axis:  # no axes: each element is its own vector
        return x / x.abs().clamp_min(epsilon)
    if order == 2:
        return x * torch.rsqrt(x.square().sum(dim=axis, keepdim=True)).clamp_max(1.0 / epsilon)
    return x / torch.linalg.norm(x, ord=order, dim=axis, keepdim=True).clamp_min(epsilon)


@operation()
def one_hot(x, num_classes: int, axis: int = -1, dtype=None, sparse: bool = False) -> torch.Tensor:
    """Integer labels ``(...)`` as one-hot vectors ``(..., num_classes)`` (the new axis at ``axis``);
    negative labels give all zeros."""
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported; layerwise tensors are dense.")
    x = to_tensor(x).long()
    out = F.one_hot(x.clamp(min=0), num_classes) * (x >= 0).unsqueeze(-1)
    out = out.to(float_dtype() if dtype is None else standardize_dtype(dtype))
    return out if axis == -1 else out.movedim(-1, axis)


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]

# The rest of keras.ops.nn: its convolutions, pools, normalizations, attention and CTC live in their own
# modules; ops.nn names them too, as Keras' namespace does.
from layerwise.ops.convolution import *  # noqa: E402,F401,F403
from layerwise.ops.ctc import *  # noqa: E402,F401,F403
from layerwise.ops.nn_extra import *  # noqa: E402,F401,F403
