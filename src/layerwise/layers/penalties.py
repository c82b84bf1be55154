"""What a layer adds to the training loss, and the constraints on its weights.

Three kinds of penalty, as in Keras: weight regularizers (``kernel_regularizer=L2(1e-4)``), the activity
regularizer of the layer's output, and the scalars ``call`` passes to ``add_loss``. ``losses`` lists them
for a layer and every layer inside it; the trainer adds them to the loss, only for models that have any.
``add_loss`` values live for one outermost call (a model call or a training step), as Keras clears them at
each top-level call: ``outermost_call`` marks where one begins.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from layerwise import constraints, regularizers

call_depth = [0]  # how many layer or model calls are running: added losses start afresh at depth 0
_outermost_calls = [0]  # how many outermost calls have begun (tells a new model call from a shared layer's)


def module_losses(module: nn.Module) -> list[torch.Tensor]:
    """The penalties of every layer (or model) inside ``module``, each counted once however many times it
    is nested: what ``add_loss`` received, activity penalties, and weight regularizers (computed now)."""
    found = []
    for sub in module.modules():
        found.extend(getattr(sub, "_added_losses", ()))
        if not isinstance(sub, LayerPenalties):
            continue
        found.extend(sub._activity_losses)
        for view in sub.weight_views() if sub.weight_regularizers else []:
            reg = sub.weight_regularizers.get(view.name)
            if reg is not None and view.tensor.requires_grad:
                found.append(reg(view.to_keras(view.tensor)))
    return found


def begin_outermost_call(module: nn.Module) -> None:
    """The outermost layer or model call forgets earlier ``add_loss`` values of every layer inside it
    (Keras clears them at each top-level call); calls inside it keep adding."""
    _outermost_calls[0] += 1
    if LayerPenalties.added_loss_calls:  # nothing to forget in a process that never called add_loss
        forget_added_losses(module)


def forget_added_losses(module: nn.Module) -> None:
    for sub in module.modules():
        if hasattr(sub, "_added_losses"):
            sub._added_losses = []


@contextlib.contextmanager
def outermost_call(module: nn.Module):
    """Around a model's call or a training step (see ``begin_outermost_call``)."""
    if call_depth[0] == 0:
        begin_outermost_call(module)
    call_depth[0] += 1
    try:
        yield
    finally:
        call_depth[0] -= 1


def _resolved(get: Callable, by_weight: dict) -> dict[str, Callable]:
    """``{weight name: get(identifier)}`` without the weights whose identifier is None."""
    return {name: obj for name, obj in ((name, get(value)) for name, value in by_weight.items()) if obj is not None}


class LayerPenalties:
    """The Layer methods for regularizers, constraints, ``add_loss`` and ``losses``. The layer sets
    ``weight_regularizers``, ``weight_constraints``, ``activity_regularizer``, ``_added_losses``,
    ``_activity_losses`` and ``_activity_call`` in its ``__init__``."""

    # How many times add_loss has been called, by any layer or model: the trainer compares it before and
    # after a forward pass, so that models without added losses pay nothing for the feature.
    added_loss_calls = 0

    def regularize_weights(self, **by_weight) -> None:
        """Attach regularizers to weights by their Keras names, e.g. ``kernel=l2(1e-4), bias=None``."""
        self.weight_regularizers = _resolved(regularizers.get, by_weight)

    def constrain_weights(self, **by_weight) -> None:
        """Attach constraints to weights by their Keras names, e.g. ``kernel=MaxNorm(3), bias=None``."""
        self.weight_constraints = _resolved(constraints.get, by_weight)

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project the trainable weights of this layer and the layers inside it onto their constraints,
        in Keras' layout; the trainer calls this after every optimizer step, as Keras does."""
        for layer in self.modules():
            if not isinstance(layer, LayerPenalties) or not layer.weight_constraints:
                continue
            for view in layer.weight_views():
                constraint = layer.weight_constraints.get(view.name)
                if constraint is not None and view.tensor.requires_grad:
                    view.tensor.copy_(view.from_keras(constraint(view.to_keras(view.tensor))))

    def record_activity(self, output) -> None:
        """Keep the activity penalty of ``output`` (Keras divides it by the batch size) for ``losses``."""
        if self.activity_regularizer is None:
            return
        outputs = [t for t in (output if isinstance(output, (tuple, list)) else [output])
                   if isinstance(t, torch.Tensor)]
        penalty = sum(self.activity_regularizer(t) / (t.shape[0] if t.ndim else 1) for t in outputs)
        # A layer called twice in one model call (shared) keeps both penalties, as Keras does; a new call
        # of the model, or a direct call outside any, starts afresh.
        if call_depth[0] > 0 and self._activity_call == _outermost_calls[0]:
            self._activity_losses.append(penalty)
        else:
            self._activity_losses, self._activity_call = [penalty], _outermost_calls[0]

    def add_loss(self, loss) -> None:
        """Add a value to the training loss from inside ``call`` (Keras' ``add_loss``; a tensor counts as its
        sum). Listed by ``losses`` until the next call of the model (or training step) that contains the layer."""
        self._added_losses.append(loss if isinstance(loss, torch.Tensor) else torch.as_tensor(float(loss)))
        LayerPenalties.added_loss_calls += 1

    def add_metric(self, *args, **kwargs):
        """Gone from Keras 3, which raises this same advice."""
        raise NotImplementedError(
            f"{type(self).__name__}.add_metric(): Keras 3 removed Layer.add_metric. Pass the metric to "
            "compile(metrics=[...]), or create a metric (e.g. keras.metrics.Mean()) in __init__ or build and "
            "call its update_state() in call; the model's logs then include it.")

    @property
    def losses(self) -> list[torch.Tensor]:
        """Scalar penalties of this layer and the layers inside it: its trainable weights' regularizers
        (computed now), its activity regularizer's value for the last output it produced, and what its
        last call passed to ``add_loss``."""
        return module_losses(self)
