"""How a layer is called: in training or inference mode for one call, on one tensor or several, with the
mask the tensors carry, and with zeros standing in for symbolic tensors when a layer's output shape is found
by calling it."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from layerwise import tree
from layerwise.backend import float_dtype
from layerwise.layers.symbolic import KerasTensor


def call_in_mode(module: nn.Module, training, call: Callable, *args, **kwargs):
    """``call(*args, **kwargs)`` with ``module`` in training mode when ``training`` is True, inference mode
    when False, as it is when None: Keras' ``layer(x, training=...)`` for one call."""
    if training is None or bool(training) == module.training:
        return call(*args, **kwargs)
    was = module.training
    module.train(bool(training))
    try:
        return call(*args, **kwargs)
    finally:
        module.train(was)


def array_tensor(value, device: torch.device | None = None) -> torch.Tensor:
    """An array passed to a layer as a new tensor (call may work in place): integers and booleans keep their dtype,
    as Keras converts them; floats become the float dtype."""
    array = np.asarray(value)
    if array.dtype.kind in "bi" or array.dtype == np.uint8:
        return torch.tensor(array, device=device)
    if array.dtype.kind == "u":  # unsigned types PyTorch barely computes with: as int64, their values kept
        return torch.tensor(array.astype(np.int64), device=device)
    return torch.tensor(array, dtype=float_dtype(), device=device)


def dict_value(value):
    """A value of a dict passed to a layer: arrays and numbers become tensors, anything else (strings,
    None) passes through untouched, as Keras leaves them."""
    if isinstance(value, torch.Tensor) or isinstance(value, (str, bytes)) or value is None:
        return value
    try:
        return torch.tensor(np.asarray(value), dtype=float_dtype())
    except (TypeError, ValueError):
        return value


def keeps_modes(method: Callable) -> Callable:
    """``method`` of a model (predict or evaluate, which switch it to inference mode), after which every module
    has its own mode back: run from a callback inside ``fit``, on the model or a model nested in it, they leave
    training on for the next batches, as in Keras."""
    @functools.wraps(method)
    def kept(model: nn.Module, *args, **kwargs):
        modes = [(module, module.training) for module in model.modules()]
        try:
            return method(model, *args, **kwargs)
        finally:
            for module, training in modes:
                module.training = training
    return kept


def is_shape_list(shape) -> bool:
    """A list of shapes (a layer called on several tensors) rather than one shape."""
    return isinstance(shape, (list, tuple)) and bool(shape) and isinstance(shape[0], (list, tuple))


def zeros_for(value: Any, device: torch.device):
    """``value`` with each tensor (symbolic or not) replaced by zeros of its shape and a batch of one."""
    if isinstance(value, (KerasTensor, torch.Tensor)):
        return torch.zeros((1, *(1 if d is None else d for d in tuple(value.shape)[1:])), dtype=float_dtype(),
                           device=device)
    if isinstance(value, (list, tuple)):
        return type(value)(zeros_for(v, device) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def takes_argument(function: Callable, name: str) -> bool:
    """Whether ``function`` has a parameter called ``name`` (``training``, ``mask``)."""
    return name in inspect.signature(function).parameters


@functools.lru_cache(maxsize=None)
def positional_parameters(function: Callable) -> tuple[str, ...]:
    """The names of the parameters after ``self`` of a layer's ``call`` or ``forward`` that may come by position."""
    return tuple(n for n, p in inspect.signature(function).parameters.items()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))[1:]


def first_parameter(function: Callable) -> str:
    """The name of the first parameter after ``self`` of a layer's ``call`` or ``forward``."""
    names = positional_parameters(function)
    return names[0] if names else "inputs"


def more_tensor_arguments(args: tuple, kwargs: dict) -> bool:
    """Whether a call passes tensors (torch, symbolic or arrays, which Keras converts to tensors; alone or in lists)
    besides its first argument: in ``args`` (the positional ones after it) or ``kwargs`` (but ``mask``). Keras hands
    a layer the mask its input carries only when the input is its one tensor argument (not to
    ``GRU()(x, initial_state=h)``): so its graphs record ``mask=`` then only. (layerwise's recurrent layers keep
    the mask in that call when they run, as tf.keras did; see the README.)"""
    def holds_tensor(value) -> bool:
        if isinstance(value, (torch.Tensor, KerasTensor, np.ndarray)):
            return True
        if isinstance(value, (list, tuple)):
            return any(holds_tensor(v) for v in value)
        return isinstance(value, dict) and any(holds_tensor(v) for v in value.values())
    return holds_tensor(list(args)) or any(holds_tensor(v) for k, v in kwargs.items() if k != "mask")


def mask_of(x) -> Any:
    """The ``_keras_mask`` a layer called on its own attached to ``x`` (a list of them for a list of tensors),
    or None: how Keras hands a mask from one layer called on tensors to the next."""
    if isinstance(x, list):
        masks = [getattr(v, "_keras_mask", None) for v in x]
        return masks if any(m is not None for m in masks) else None
    return getattr(x, "_keras_mask", None)


def mask_for(layer, x, mask, kwargs: dict | None = None):
    """``layer.compute_mask(x, mask)``, also given the call's keyword arguments that ``compute_mask`` takes
    (``ReversibleEmbedding``'s ``reverse``: its projection back to the vocabulary makes no mask)."""
    if not kwargs:
        return layer.compute_mask(x, mask)
    extra = {k: v for k, v in kwargs.items() if k != "mask" and takes_argument(layer.compute_mask, k)}
    return layer.compute_mask(x, mask, **extra)


def single_mask(mask):
    """The mask of one output: the first of a list of masks (the inputs' of a layer called on a list), as Keras
    pairs a single output with the first of them."""
    return mask[0] if isinstance(mask, (list, tuple)) and mask else mask


def attach_mask(layer, x, mask, out, kwargs: dict | None = None) -> None:
    """Set ``out._keras_mask`` to the mask ``layer`` gives its output for input ``x`` with ``mask``, as Keras
    does after each call: layers that make a mask (Embedding(mask_zero=True), Masking) or pass one on
    (Dense, LSTM(return_sequences=True)...) attach it; the others drop it."""
    mask = layer.compute_mask(x, mask) if not kwargs else mask_for(layer, x, mask, kwargs)
    outs = tree.flatten(out) if isinstance(out, (list, tuple)) else None  # an RNN's stack states come nested
    if outs is not None and isinstance(mask, (list, tuple)) and len(outs) == len(mask) > 1:
        for tensor, m in zip(outs, mask):  # one mask per output (Bidirectional with merge_mode=None)
            if m is not None and isinstance(tensor, torch.Tensor):
                tensor._keras_mask = m
        return
    if isinstance(mask, (list, tuple)):
        mask = single_mask(mask)
    if mask is not None and isinstance(out, torch.Tensor):
        out._keras_mask = mask
