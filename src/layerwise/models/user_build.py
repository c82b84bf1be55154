"""How a subclassed model is built, as Keras builds it: its own ``build(input_shape)`` runs before its
first call (a model that creates layers there, then calls ``super().build(input_shape)``, has them when
``call`` first runs), and the call that records its shapes leaves its state (counters, moving statistics)
as it was, as Keras' symbolic build does.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn

from layerwise.layers.calling import call_in_mode
from layerwise.layers.shape_inference import stateless
from layerwise.variables import owning_variables

_building: set[int] = set()  # models whose own build is running: its super().build() must call, not recurse


def run_user_build(model, args: tuple) -> bool:
    """Run ``model``'s overridden ``build`` once for the inputs ``args`` (tensors of shape ``(batch, ...)``);
    return whether the model is built afterwards (its build called ``super().build``)."""
    from layerwise.models.model import Model
    if type(model).build is Model.build or id(model) in _building or model.__dict__.get("_own_build_ran"):
        return False
    shapes = [(None, *a.shape[1:]) for a in args if isinstance(a, torch.Tensor)]
    _building.add(id(model))
    try:
        model.build(shapes if len(shapes) > 1 else shapes[0])
    finally:
        _building.discard(id(model))
    return model.built


def recording_build(build: Callable) -> Callable:
    """A subclass's ``build`` that notes it has run: a model built by ``model.build(shape)`` (whose build need
    not call ``super().build``) does not run it again at its first call, which would make its weights twice."""

    @functools.wraps(build)
    def building(self, *args, **kwargs):
        with owning_variables(self.name):  # the Variables it creates are the model's (their path)
            build(self, *args, **kwargs)
        self.__dict__["_own_build_ran"] = True

    return building


def first_call(model: nn.Module, args: tuple):
    """``model``'s outputs for ``args`` in inference mode, without gradients, its state left unchanged."""
    with torch.no_grad(), stateless(model):
        return call_in_mode(model, False, nn.Module.__call__, model, *args)


def free_axes(shapes, out):
    """``shapes`` (one output shape, or a list of them) with ``None`` on each axis where ``out`` (the outputs of
    a call on inputs of other sizes where the input shape was unknown) differs: those axes follow the inputs'."""
    outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
    several = isinstance(shapes, list)
    freed = [tuple(None if d != o else d for d, o in zip(shape, (None, *tensor.shape[1:])))
             for shape, tensor in zip(shapes if several else [shapes], outs)]
    return freed if several else freed[0]
