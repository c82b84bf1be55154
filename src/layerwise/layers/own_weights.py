"""The weights a layer or a model makes itself, as in Keras (where ``Model`` is a ``Layer``): ``add_weight``,
its alias ``add_variable``, and a ``keras.Variable`` set as an attribute (``self.v = layerwise.Variable(...)``).

Each is a ``Variable`` (an ``nn.Parameter``) registered on the owner and listed in ``_added_weights`` as a
``WeightView`` in creation order; ``own_weight_views`` gives them in Keras' order, trainable ones first. A weight's
regularizer and constraint are kept by its view's name in ``weight_regularizers`` and ``weight_constraints``, which
``layers/penalties.py`` reads.
"""
from __future__ import annotations

from typing import Callable

import torch

from layerwise import constraints, initializers, regularizers
from layerwise.backend import get_device, unique_name
from layerwise.layers.weights import LayerState, WeightView
from layerwise.variables import Variable

OWN = "own"  # the key prefix of a model's own weights in layerwise's files (its layers' are their indices)


class OwnWeights:
    """Mixin of ``Layer`` and ``Model``, which set ``name`` and ``_trainable`` and have ``_weight_dtype()``
    (``LayerDTypes``); ``_init_own_weights`` runs in their ``__init__``."""

    def _init_own_weights(self) -> None:
        self._added_weights: list[WeightView] = []  # from add_weight and Variable attributes, in creation order
        self.weight_regularizers: dict[str, Callable] = {}
        self.weight_constraints: dict[str, Callable] = {}

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True, regularizer=None,
                   constraint=None, name: str | None = None, *, autocast: bool = True, aggregation: str | None = "none",
                   overwrite_with_gradient: bool = False) -> Variable:
        """A new weight of ``shape`` drawn by ``initializer`` (Keras' default: glorot_uniform), as in Keras.

        It is a ``torch.nn.Parameter`` of this layer or model with Keras' variable methods (``assign``,
        ``assign_add``, ``numpy()``...; see ``variables.py``), listed by ``get_weights()`` before the weights of
        the layers it holds, trainable ones first. ``autocast`` is accepted for Keras code: under a mixed policy
        ``torch.autocast`` picks each operation's dtype. ``aggregation`` (``"none"``, ``"mean"``, ``"sum"``,
        ``"only_first_replica"``) and ``overwrite_with_gradient`` are kept on the variable, as Keras keeps them.
        """
        count = len(self._added_weights)
        keras_name = name or unique_name("variable")  # Keras' name: "variable", "variable_1"... unless named
        # The view's name is unique within the owner and the same in every session: saved files and the
        # regularizers and constraints go by it.
        if name is None or any(v.name == name for v in self._added_weights):
            name = f"{name or 'weight'}_{count}"
        shape = tuple(int(d) for d in (shape or ()))
        if isinstance(dtype, str):  # Keras code names dtypes: add_weight(..., dtype="float32")
            dtype = getattr(torch, dtype.removeprefix("torch."))
        value = initializers.get(initializer or "glorot_uniform")(shape, dtype or self._weight_dtype())
        # Drawn where the initializer draws (the same values on every device), kept where the layers compute.
        param = Variable(value.to(get_device()), trainable=bool(trainable) and self._trainable, name=keras_name,
                         owner=self.name, aggregation=aggregation)
        param.overwrite_with_gradient = overwrite_with_gradient
        self.register_parameter(f"_added_{count}", param)
        self._added_weights.append(WeightView(name, param, bool(trainable)))
        if regularizer is not None:
            self.weight_regularizers = {**self.weight_regularizers, name: regularizers.get(regularizer)}
        if constraint is not None:
            self.weight_constraints = {**self.weight_constraints, name: constraints.get(constraint)}
        return param

    def add_variable(self, shape, initializer, dtype=None, trainable: bool = True, autocast: bool = True,
                     regularizer=None, constraint=None, name: str | None = None) -> Variable:
        """Keras' alias of ``add_weight``, with its own argument order (``autocast`` before ``regularizer``)."""
        return self.add_weight(shape=shape, initializer=initializer, dtype=dtype, trainable=trainable,
                               regularizer=regularizer, constraint=constraint, name=name, autocast=autocast)

    def _track_variable_attribute(self, attribute: str, value) -> None:
        """A ``keras.Variable`` set as an attribute (``self.v = keras.Variable(...)``) is a weight, as in Keras,
        named by its own name (by ``attribute`` when another weight has that name)."""
        if not isinstance(value, Variable) or "_added_weights" not in self.__dict__ or \
                any(view.tensor is value for view in self._added_weights):
            return
        if value.device != get_device():
            value.data = value.data.to(get_device())
        view_name = value.name if all(v.name != value.name for v in self._added_weights) else attribute
        self._added_weights.append(WeightView(view_name, value, value.requires_grad))

    def _apply(self, fn, recurse: bool = True):
        """torch's ``_apply`` (``.to(device)``, ``.double()``), keeping Keras' statistics ``LayerState``: the torch
        functions it runs return plain tensors."""
        states = [name for name, buffer in self._buffers.items() if isinstance(buffer, LayerState)]
        moved = super()._apply(fn, recurse)
        for name in states:
            if not isinstance(self._buffers[name], LayerState):
                self.register_buffer(name, LayerState(self._buffers[name]),
                                     persistent=name not in self._non_persistent_buffers_set)
        return moved

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        # A copied or unpickled layer registers nothing, so its weights could not find it (their Keras path).
        from layerwise.optimizers.layouts import record_registrations  # the optimizers import the layers
        record_registrations(self)

    def own_weight_views(self) -> list[WeightView]:
        """The weights this layer or model made itself, in Keras' order: trainable ones first, each in creation
        order (Keras' ``_trainable_variables + _non_trainable_variables``)."""
        return [v for v in self._added_weights if v.trainable] + [v for v in self._added_weights if not v.trainable]
