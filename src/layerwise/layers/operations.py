"""Arithmetic and slicing on symbolic tensors in functional models: ``x + y``, ``2 * x``, ``x[:, -1]``.

As in Keras 3, each such expression on a ``KerasTensor`` records an operation node (``add``,
``multiply``, ``get_item``...) that the model runs with the matching torch operation. Operations
have no weights; they appear in ``model.operations`` and the summary, not in ``model.layers``.
Constants (Python numbers) are stored in the node; an index is stored in a JSON form so that the
model saves and loads.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch

from layerwise.backend import floatx
from layerwise.layers.base import Layer, Shape, unique_name
from layerwise.layers.symbolic import KerasTensor, symbolic_call

# name: (function, Keras' class name for the summary)
_BINARY = {
    "add": (operator.add, "Add"), "subtract": (operator.sub, "Subtract"), "multiply": (operator.mul, "Multiply"),
    "true_divide": (operator.truediv, "TrueDivide"), "power": (operator.pow, "Power"),
}
_UNARY = {"negative": (operator.neg, "Negative"), "absolute": (operator.abs, "Absolute")}


def _encode_key(key) -> Any:
    """An index (ints, slices, None, Ellipsis, tuples of them) as JSON-able values."""
    if isinstance(key, tuple):
        return {"tuple": [_encode_key(k) for k in key]}
    if isinstance(key, slice):
        return {"slice": [key.start, key.stop, key.step]}
    if key is None:
        return {"newaxis": True}
    if key is Ellipsis:
        return {"ellipsis": True}
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    raise TypeError(f"Symbolic tensors take integers, slices, None and ... as indices; received {key!r}.")


def _decode_key(value) -> Any:
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_decode_key(v) for v in value["tuple"])
        if "slice" in value:
            return slice(*value["slice"])
        return None if "newaxis" in value else Ellipsis
    return value


def _broadcast(shapes: list[Shape]) -> Shape:
    """NumPy broadcasting of shapes whose sizes may be None (unknown)."""
    rank = max(len(s) for s in shapes)
    out = []
    for sizes in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"Cannot broadcast shapes {[tuple(s) for s in shapes]}.")
        out.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(out)


def _indexed_shape(shape: Shape, key) -> Shape:
    """The shape of ``x[key]`` for ``x`` of ``shape`` (sizes None where unknown)."""
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("An index can only have a single ellipsis ('...').")
    used = sum(k is not None and k is not Ellipsis for k in key)
    if used > len(shape):
        raise IndexError(f"Too many indices ({used}) for a tensor of shape {shape}.")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - used) + key[at + 1:]
    key = key + (slice(None),) * (len(shape) - sum(k is not None for k in key))
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(1)
            continue
        size = shape[axis]
        axis += 1
        if isinstance(k, slice):
            out.append(None if size is None else len(range(*k.indices(size))))
    return tuple(out)


class TensorOperation(Layer):
    """One arithmetic or indexing operation of a functional model, on its recorded arguments."""

    def __init__(self, op: str, key=None, **kwargs):
        if op not in _BINARY and op not in _UNARY and op != "get_item":
            raise ValueError(f"Unknown operation {op!r}.")
        kwargs["name"] = kwargs.get("name") or unique_name(op)  # Keras' names: add, multiply_1, get_item...
        super().__init__(**kwargs)
        self.op, self.key = op, key  # key: the index in its JSON form (the config)
        self._index = None if key is None else _decode_key(key)
        self.type_name = {**_BINARY, **_UNARY}.get(op, (None, "GetItem"))[1]

    def build_from(self, input_shape, device=None):
        self.built = True
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape) -> Shape:
        shapes = [tuple(s) if isinstance(s, (tuple, list)) else () for s in input_shape]
        if self.op == "get_item":
            return _indexed_shape(shapes[0], self._index)
        return _broadcast(shapes)

    def __call__(self, inputs: list, *args, **kwargs):
        kwargs.pop("training", None)
        if any(isinstance(v, KerasTensor) for v in inputs):
            return symbolic_call(self, list(inputs), kwargs)
        values = [v if isinstance(v, torch.Tensor) or not isinstance(v, np.ndarray)
                  else torch.as_tensor(v, dtype=floatx()) for v in inputs]
        return torch.nn.Module.__call__(self, values)

    def forward(self, values: list) -> torch.Tensor:
        if self.op == "get_item":
            return values[0][self._index]
        if self.op in _UNARY:
            return _UNARY[self.op][0](values[0])
        return _BINARY[self.op][0](values[0], values[1])


def apply_operation(op: str, *values, key=None):
    """``op`` on ``values`` (KerasTensors and numbers) as a new node: what KerasTensor's operators call."""
    for value in values:
        if not isinstance(value, (KerasTensor, int, float, np.number)) or isinstance(value, bool):
            raise TypeError(f"Operation {op!r} on a symbolic tensor takes symbolic tensors and Python numbers; "
                            f"received {type(value).__name__}. Use a layer (e.g. Lambda) for other values.")
    values = [v.item() if isinstance(v, np.number) else v for v in values]  # plain numbers save as JSON
    return TensorOperation(op, key=None if key is None else _encode_key(key))(values)
