"""Keras' helpers about tensors: ``is_keras_tensor`` (a symbolic tensor of a model under construction),
``get_source_inputs`` (the ``Input`` tensors a symbolic tensor is computed from) and ``standardize_dtype``
(Keras' dtype names, ``"float32"``, from numpy, torch and Python dtypes)."""
from __future__ import annotations

from typing import Any

from layerwise.dtype_policies.dtype_policy import standardize_dtype as standardize_dtype  # Keras' utils name
from layerwise.layers.symbolic import KerasTensor


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor (``layerwise.Input(...)`` or a layer called on one), not data."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The list of ``Input`` tensors that ``tensor`` (a symbolic tensor) is computed from, each once, in
    depth-first order over each layer's inputs (Keras' order). Anything that is not symbolic comes back as is."""
    if not isinstance(tensor, KerasTensor):
        return tensor
    sources: list[KerasTensor] = []
    seen: set[int] = set()
    stack = [tensor]
    while stack:  # a loop, not recursion: deep models and many skip connections stay cheap
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.node.args is None:  # an Input's own node
            sources.append(current)
        else:
            stack.extend(reversed(current.node.inputs))
    return sources
