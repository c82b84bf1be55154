"""Keras' activation functions as PyTorch functions, looked up by name.

Each takes and returns a tensor of any shape; softmax works on the last axis, as in Keras.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Activation = Callable[[torch.Tensor], torch.Tensor]


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def relu(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def elu(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x)


def selu(x: torch.Tensor) -> torch.Tensor:
    return F.selu(x)


def gelu(x: torch.Tensor) -> torch.Tensor:
    # Keras 3's gelu defaults to approximate=False: the exact erf form, not the tanh approximation.
    return F.gelu(x)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    # Keras 3's leaky_relu activation uses negative_slope=0.2.
    return F.leaky_relu(x, negative_slope=0.2)


def softplus(x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x)


def swish(x: torch.Tensor) -> torch.Tensor:
    return F.silu(x)


ACTIVATIONS: dict[str, Activation] = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "elu": elu, "selu": selu, "gelu": gelu, "leaky_relu": leaky_relu, "softplus": softplus,
    "swish": swish, "silu": swish,
}

# In-place twins for the execution plan: used only where autograd does not need the input.
INPLACE: dict[Activation, Callable[[torch.Tensor], torch.Tensor]] = {
    relu: torch.relu_, sigmoid: torch.sigmoid_, tanh: torch.tanh_,
}

# Non-decreasing activations commute with max-pooling: pool(act(x)) == act(pool(x)).
NON_DECREASING: frozenset = frozenset({linear, relu, sigmoid, tanh, elu, selu, leaky_relu, softplus})


def get(identifier: str | Activation | None) -> Activation:
    """Resolve ``None``, a name such as ``"relu"`` or a callable to an activation function."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return ACTIVATIONS[identifier]
    raise ValueError(
        f"Unknown activation {identifier!r}. Valid names: {', '.join(sorted(ACTIVATIONS))}, "
        "or pass a callable."
    )


def serialize(fn: Activation) -> str | None:
    """The name of a built-in activation (for saving), or None for a user function."""
    for name, known in ACTIVATIONS.items():
        if known is fn:
            return name
    return None
