"""Keras' activation functions as PyTorch functions, looked up by name.

Each takes a tensor of any shape and returns one of the same shape (``glu`` halves ``axis``);
``softmax``, ``log_softmax``, ``sparsemax`` and ``glu`` work along ``axis`` (the last by default; softmax
and log_softmax also over a tuple of axes at once), the others element by element. Extra arguments and their
defaults are Keras'. Lists, numpy arrays and numbers are converted as ``layerwise.ops`` converts them; a
tensor goes straight through (these run in every training step).
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from layerwise import saving_registry
from layerwise.backend import float_dtype

Activation = Callable[[torch.Tensor], torch.Tensor]


def _as_tensor(x) -> torch.Tensor:
    """A list, numpy array or number as a tensor, by Keras' conversion rules (see ``ops/core.py``)."""
    from layerwise.ops.core import to_tensor  # here: layerwise.ops imports this module
    return to_tensor(x)


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def relu(x: torch.Tensor, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> torch.Tensor:
    """``max(x, 0)`` by default; Keras' options: a slope below ``threshold``, a ceiling ``max_value``."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    if max_value is None and not threshold:
        return F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)
    out = torch.where(x > threshold, x, torch.zeros_like(x)) if threshold else F.relu(x)
    if max_value is not None:  # in x's dtype, as Keras casts the bounds: an int32 x stays int32
        out = out.clamp(0.0, max_value) if out.is_floating_point() else out.clamp(0, int(max_value))
    if negative_slope:
        out = out - negative_slope * F.relu(threshold - x)
    return out


def relu6(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.relu6(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return torch.sigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return torch.tanh(x)


def _along(fn: Callable, x: torch.Tensor, axis: int | tuple[int, ...] | None) -> torch.Tensor:
    """``fn(x, dim=axis)``; ``axis=None`` means over all elements at once, and a tuple of axes over those
    axes at once (each slice along the other axes is one distribution), as in Keras."""
    if axis is None:
        return fn(x.reshape(-1), dim=0).reshape(x.shape)
    if isinstance(axis, (tuple, list)):
        axes = [a % x.ndim for a in axis]
        ends = list(range(x.ndim - len(axes), x.ndim))
        moved = x.movedim(axes, ends)  # the axes last, then flattened into one
        out = fn(moved.reshape(*moved.shape[:x.ndim - len(axes)], -1), dim=-1)
        return out.reshape(moved.shape).movedim(ends, axes)
    return fn(x, dim=axis)


def softmax(x: torch.Tensor, axis: int | tuple[int, ...] | None = -1) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return _along(torch.softmax, x, axis)


def log_softmax(x: torch.Tensor, axis: int | tuple[int, ...] | None = -1) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return _along(torch.log_softmax, x, axis)


def sparsemax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis``: like softmax,
    but exact zeros for the small entries (Martins & Astudillo, 2016). Integers give floatx."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    if not x.is_floating_point():
        x = x.to(float_dtype())
    # The projection is the same for x - max(x): the largest entry becomes 0, so 1 + z_1 > z_1 holds even for
    # huge logits, and the sums below stay small.
    x = x - x.amax(dim=axis, keepdim=True)
    ordered = torch.sort(x, dim=axis, descending=True).values
    cumulative = ordered.cumsum(dim=axis)
    shape = [1] * x.dim()
    shape[axis] = x.shape[axis]
    ranks = torch.arange(1, x.shape[axis] + 1, dtype=x.dtype, device=x.device).view(shape)
    # The k largest entries are in the support while 1 + k * z_k exceeds their sum (the largest always is);
    # tau then makes the kept entries sum to one.
    support = (1 + ranks * ordered > cumulative).sum(dim=axis, keepdim=True).clamp_min(1)
    tau = (cumulative.gather(axis, support - 1) - 1) / support.to(x.dtype)
    return F.relu(x - tau)


def glu(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """``a * sigmoid(b)`` where ``a`` and ``b`` are the two halves of ``x`` along ``axis``."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu splits axis {axis} into two halves, so its size must be even; got size "
                         f"{x.shape[axis]} (input shape {tuple(x.shape)}).")
    return F.glu(x, dim=axis)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.elu(x, alpha)


def selu(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.selu(x)


def celu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.celu(x, alpha)


def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    # Keras 3's gelu defaults to approximate=False: the exact erf form, not the tanh approximation.
    return F.gelu(x, approximate="tanh" if approximate else "none")


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    # Keras 3's leaky_relu activation uses negative_slope=0.2 (its LeakyReLU layer 0.3).
    return F.leaky_relu(x, negative_slope=negative_slope)


def softplus(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.softplus(x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.softsign(x)


def silu(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.silu(x)


swish = silu


def mish(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.mish(x)


def exponential(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return torch.exp(x)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    # Keras 3's definition, relu6(x + 3) / 6, not Keras 2's 0.2 * x + 0.5.
    return F.hardsigmoid(x)


def hard_silu(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.hardswish(x)


hard_swish = hard_silu


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.hardtanh(x)


def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.logsigmoid(x)


def tanh_shrink(x: torch.Tensor) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.tanhshrink(x)


def hard_shrink(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.hardshrink(x, threshold)


def soft_shrink(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.softshrink(x, threshold)


def squareplus(x: torch.Tensor, b: float = 4) -> torch.Tensor:
    """``(x + sqrt(x^2 + b)) / 2``, a smooth relu."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return (x + torch.sqrt(x * x + b)) / 2


def sparse_plus(x: torch.Tensor) -> torch.Tensor:
    """0 up to -1, ``(x + 1)^2 / 4`` on (-1, 1), ``x`` from 1: a softplus with exact zeros."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return torch.where(x >= 1, x, 0.25 * F.relu(x + 1) ** 2)


def sparse_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """0 up to -1, ``(x + 1) / 2`` on (-1, 1), 1 from 1."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    # hardtanh (not clamp): zero gradient at the corners, like the flat pieces either side; 0.5 * x first, so
    # that an integer input becomes float before adding 1 (its largest value would wrap round)
    return F.hardtanh(0.5 * x + 0.5, 0.0, 1.0)


def threshold(x: torch.Tensor, threshold: float, default_value: float) -> torch.Tensor:
    """``x`` where ``x > threshold``, else ``default_value`` (both required, as in Keras)."""
    x = x if isinstance(x, torch.Tensor) else _as_tensor(x)
    return F.threshold(x, threshold, default_value)


# Each function's first name is its Keras name, the one saving writes; "swish" and "hard_swish"
# are Keras' aliases.
ACTIVATIONS: dict[str, Activation] = {
    "linear": linear, "relu": relu, "relu6": relu6, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "sparsemax": sparsemax, "glu": glu, "elu": elu, "selu": selu, "celu": celu,
    "gelu": gelu, "leaky_relu": leaky_relu, "softplus": softplus, "softsign": softsign, "silu": silu,
    "swish": silu, "mish": mish, "exponential": exponential, "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu, "hard_swish": hard_silu, "hard_tanh": hard_tanh, "log_sigmoid": log_sigmoid,
    "tanh_shrink": tanh_shrink, "hard_shrink": hard_shrink, "soft_shrink": soft_shrink,
    "squareplus": squareplus, "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid,
    "threshold": threshold,
}

# In-place twins for the execution plan: used only where autograd does not need the input. Each
# one's backward reads only its output (hardtanh_, exp_, celu_ save the result, not a copy of x).
INPLACE: dict[Activation, Callable[[torch.Tensor], torch.Tensor]] = {
    relu: torch.relu_, sigmoid: torch.sigmoid_, tanh: torch.tanh_,
    relu6: functools.partial(F.relu6, inplace=True), hard_tanh: functools.partial(F.hardtanh, inplace=True),
    exponential: torch.exp_, celu: functools.partial(F.celu, inplace=True),
}

# Non-decreasing activations commute with max-pooling: pool(act(x)) == act(pool(x)). Only
# element-wise functions qualify; silu, mish, gelu and hard_silu dip below zero and are excluded,
# and threshold is increasing only when default_value <= threshold.
NON_DECREASING: frozenset = frozenset({
    linear, relu, relu6, sigmoid, tanh, elu, selu, celu, leaky_relu, softplus, softsign, exponential,
    hard_sigmoid, hard_tanh, log_sigmoid, tanh_shrink, hard_shrink, soft_shrink, squareplus, sparse_plus,
    sparse_sigmoid,
})


def get(identifier: str | dict | Activation | None) -> Activation:
    """Resolve ``None``, a name such as ``"relu"`` (or a registered or custom function's name), a saved
    custom activation object's dict, or a callable to an activation function."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":  # Keras 3's form of a function
        identifier = identifier.get("config")
    if isinstance(identifier, str):
        found = saving_registry.find_custom_object(identifier, built_in=identifier in ACTIVATIONS)
        if found is not None:
            return saving_registry.instance_of(found)
        if identifier in ACTIVATIONS:
            return ACTIVATIONS[identifier]
    if isinstance(identifier, dict):
        found = saving_registry.deserialize_custom(identifier)
        if found is not None:
            return found
    name = (identifier.get("registered_name") or identifier.get("class_name")) if isinstance(identifier, dict) \
        else identifier
    raise ValueError(
        f"Unknown activation {name!r}. Valid names: {', '.join(sorted(ACTIVATIONS))}, "
        f"or pass a callable. {saving_registry.how_to_load(str(name))}"
    )


def serialize(activation: Activation) -> str | dict:
    """What a file records for an activation (or any function a layer takes): a built-in's name, a
    registered or custom function's name, or a registered class's instance as a dict. A ValueError
    naming ``activation`` and the fixes for anything else (a lambda, an unregistered function)."""
    for name, known in ACTIVATIONS.items():
        if known is activation:
            return name
    return saving_registry.serialize_custom(activation, "function", ValueError)


def deserialize(config: str | dict, custom_objects: dict | None = None) -> Activation:
    """The activation ``serialize`` recorded (a name or a registered object's dict), as
    ``keras.activations.deserialize``; ``custom_objects`` names functions of your own."""
    with saving_registry.CustomObjectScope(custom_objects or {}):
        return get(config)
