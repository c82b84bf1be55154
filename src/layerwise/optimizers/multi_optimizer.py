"""``MultiOptimizer`` and ``OptimizerMap``: Keras' way to train different weights with different optimizers (or
learning rates), chosen by each weight's Keras path (``sequential/dense/kernel``) or by any callable
``selector(variable) -> optimizer``.

An optimizer is built on bare tensors, and layerwise's built-in layers hold plain ``nn.Parameter``s without a
``path``: the selector is handed a ``ParameterInfo`` that carries Keras' ``path``, ``name`` and ``shape``, found as
the layout-aware optimizers find them (``layouts``). Each sub-optimizer is built on the weights routed to it and
keeps its own state, step count and learning rate; the MultiOptimizer counts its own steps.
"""
from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Callable

import torch

from layerwise.optimizers.base import Optimizer, unknown_variable
from layerwise.optimizers.layouts import KerasLayout, keras_layouts, registered_layout
from layerwise.optimizers.loss_scale_optimizer import LossScaleOptimizer

_NO_RATE_GET = ("Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on the individual "
                "sub-optimizers instead.")
_NO_RATE_SET = ("Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the individual "
                "sub-optimizers instead.")


def _check_inner(optimizer, where: str) -> None:
    """Keras' refusals for an optimizer a MultiOptimizer would delegate to (``where`` names the asker)."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"{where}: optimizer must be a Keras Optimizer instance. Received: {optimizer!r}")
    if isinstance(optimizer, LossScaleOptimizer):
        raise ValueError(f"{where}: optimizer cannot be LossScaleOptimizer. (LossScaleOptimizer cannot be used "
                         "inside an MultiOptimizer; wrap the MultiOptimizer instead.)")
    if isinstance(optimizer, MultiOptimizer):
        raise ValueError(f"{where}: optimizer cannot be MultiOptimizer. (MultiOptimizer cannot be used inside an "
                         "MultiOptimizer.)")


class ParameterInfo:
    """A weight as a selector sees it: Keras' ``path`` (``sequential/dense/kernel``), ``name`` (``kernel``),
    ``shape`` (Keras' layout, e.g. a Dense kernel ``(in, out)``), ``dtype`` and ``trainable``; ``value`` is the
    tensor itself (PyTorch's layout)."""

    __slots__ = ("path", "name", "shape", "dtype", "trainable", "value")

    def __init__(self, param: torch.Tensor, layout: KerasLayout):
        self.path = layout.path or str(getattr(param, "path", "") or "")
        self.name = self.path.rsplit("/", 1)[-1]
        self.shape, self.value = layout.shape, param
        self.dtype, self.trainable = str(param.dtype).removeprefix("torch."), param.requires_grad

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


class OptimizerMap(MutableMapping):
    """Keras' map from weight paths to optimizers: an exact key first, else the one key that ``re.fullmatch``es
    the path (two matching keys: a ValueError), else ``default_optimizer``. Called with a variable, it looks up
    ``variable.path``."""

    def __init__(self, default_optimizer: Optimizer, optimizer_map: dict[str, Optimizer] | None = None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a Keras Optimizer instance. Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict[str, Optimizer] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}: the patterns {matching} all match "
                             "it; make them exclusive.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key: str, optimizer: Optimizer) -> None:
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value {self._optimizer_map[key]}. "
                             "Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        _check_inner(optimizer, f"OptimizerMap['{key}']")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable) -> Optimizer:
        return self[variable.path]

    def get_config(self) -> dict:
        from layerwise.optimizers import serialize

        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {key: serialize(value) for key, value in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> OptimizerMap:
        from layerwise.optimizers import deserialize

        default = deserialize(config["default_optimizer"], custom_objects)
        mapped = {key: deserialize(value, custom_objects) for key, value in (config.get("optimizer_map") or {}).items()}
        return cls(default, mapped)


class MultiOptimizer(Optimizer):
    """Delegates each weight to the optimizer ``optimizer_map(variable)`` gives (an ``OptimizerMap``, or a callable
    of a ``ParameterInfo``), as Keras does.

    ``optimizers`` lists the sub-optimizers: the map's values, then its default, then any other the selector
    returns, in the order met. ``loss_scale_factor`` (None included) overrides the sub-optimizers' own.
    ``learning_rate`` raises AttributeError (each sub-optimizer has its own); ``iterations`` counts this
    optimizer's steps, each sub-optimizer counting the steps it took part in.
    """

    def __init__(self, optimizer_map: OptimizerMap | Callable, loss_scale_factor: float | None = None,
                 name: str | None = None):
        if not callable(optimizer_map):
            raise TypeError("MultiOptimizer: optimizer_map must be an OptimizerMap or a callable that takes a "
                            f"variable and returns its optimizer. Received: {optimizer_map!r}")
        self._inner_optimizers: list[Optimizer] = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        # Not a rate: code that reads a plain number here (to save or restore it) must find none.
        self._learning_rate = None
        self._optimizer_map = optimizer_map
        known = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        default = getattr(optimizer_map, "default_optimizer", None)
        for optimizer in known + ([default] if default is not None else []):
            if not any(optimizer is seen for seen in self._inner_optimizers):
                optimizer.loss_scale_factor = loss_scale_factor
                self._inner_optimizers.append(optimizer)
        self._routes: list[int] = []  # for each of params, the index of its sub-optimizer
        self._var_to_optimizer_idx: dict[int, int] = {}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._var_to_optimizer_idx = {id(p): i for p, i in zip(self.params, self._routes)}  # the copies' ids

    @property
    def optimizers(self) -> list[Optimizer]:
        return self._inner_optimizers

    @property
    def learning_rate(self):
        raise AttributeError(_NO_RATE_GET)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        raise AttributeError(_NO_RATE_SET)

    @property
    def loss_scale_factor(self) -> float | None:
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value: float | None) -> None:
        self._loss_scale_factor = value
        for optimizer in self.__dict__.get("_inner_optimizers", ()):
            optimizer.loss_scale_factor = value

    # ---- building ---------------------------------------------------------------------------------
    def build(self, params: list[torch.Tensor]) -> None:
        """Route each of ``params`` to its sub-optimizer and build those on their share (once, as Keras)."""
        self._build(list(params), None)

    def build_for(self, model, params: list[torch.Tensor] | None = None) -> None:
        """``build`` on ``params`` (default: all of ``model``'s), with the paths and layouts ``model`` gives."""
        self._build(list(model.parameters()) if params is None else list(params), model)

    def _build(self, params: list[torch.Tensor], model) -> None:
        if self.built:
            return
        known, cache = (keras_layouts(model) if model is not None else {}), {}
        layouts = [known.get(id(p)) or registered_layout(p, cache) for p in params]
        inner = list(self._inner_optimizers)
        routes = []
        for param, layout in zip(params, layouts):
            info = ParameterInfo(param, layout)
            optimizer = self._optimizer_map(info)
            if not isinstance(optimizer, Optimizer):
                raise ValueError(f"MultiOptimizer '{self.name}': Optimizer for variable {info.path or info} is not an "
                                 f"Optimizer instance. Received: {optimizer!r}")
            _check_inner(optimizer, f"MultiOptimizer '{self.name}': the optimizer for variable {info.path or info}")
            if not any(optimizer is seen for seen in inner):
                optimizer.loss_scale_factor = self.loss_scale_factor
                inner.append(optimizer)
            routes.append(next(i for i, seen in enumerate(inner) if seen is optimizer))
        shares = [[p for p, r in zip(params, routes) if r == i] for i in range(len(inner))]
        for optimizer, share in zip(inner, shares):
            if optimizer.built and {id(p) for p in optimizer.params} != {id(p) for p in share}:
                raise ValueError(f"MultiOptimizer '{self.name}': the sub-optimizer '{optimizer.name}' is already "
                                 f"built for {len(optimizer.params)} other variables (another model's or another "
                                 f"MultiOptimizer's); expected a new optimizer for these {len(share)} variables.")
        for optimizer, share in zip(inner, shares):
            if share and not optimizer.built:
                optimizer.build(share) if model is None else optimizer.build_for(model, share)
        self._inner_optimizers = inner
        self.params, self._routes = params, routes
        self._positions = {id(p): i for i, p in enumerate(params)}
        self._var_to_optimizer_idx = {id(p): r for p, r in zip(params, routes)}

    # ---- stepping ---------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self) -> None:
        """One update from the parameters' ``.grad``: each sub-optimizer steps its own weights."""
        if not any(p.grad is not None for p in self.params):
            return
        for optimizer in self._inner_optimizers:
            if optimizer.built:
                optimizer.step()
        self._iterations += 1

    @torch.no_grad()
    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Keras' ``apply``: one gradient per variable the optimizer was built on, each pair handed to that
        variable's sub-optimizer (one ``apply`` each). The first call builds it on ``trainable_variables``."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built on "
                                 "a list of variables. Call `optimizer.build(trainable_variables)` first.")
            variables = self.params
        else:
            variables = list(trainable_variables)
            self.build(variables)
        if len(grads) != len(variables) or len(grads) != len(self.params):
            raise ValueError(f"Gradients must match trainable variables one-to-one. Received {len(grads)} "
                             f"gradients and {len(self.params)} variables (MultiOptimizer '{self.name}').")
        groups: list[tuple[list, list]] = [([], []) for _ in self._inner_optimizers]
        for grad, variable in zip(grads, variables):
            route = self._var_to_optimizer_idx.get(id(variable))
            if route is None:
                raise unknown_variable(variable, f"MultiOptimizer '{self.name}'.apply")
            groups[route][0].append(grad)
            groups[route][1].append(variable)
        for optimizer, (sub_grads, sub_variables) in zip(self._inner_optimizers, groups):
            if sub_grads:
                optimizer.apply(sub_grads, sub_variables)
        self._iterations += 1

    @torch.no_grad()
    def finalize_variable_values(self, var_list: list[torch.Tensor] | None = None) -> None:
        """End of training: each sub-optimizer's ``finalize_variable_values`` on its share of ``var_list`` (by
        default, on its own weights)."""
        if not self.built:
            return
        if var_list is None:
            for optimizer in self._inner_optimizers:
                optimizer.finalize_variable_values()
            return
        shares: list[list[torch.Tensor]] = [[] for _ in self._inner_optimizers]
        for variable in var_list:
            shares[self._var_to_optimizer_idx[id(variable)]].append(variable)
        for optimizer, share in zip(self._inner_optimizers, shares):
            if share:
                optimizer.finalize_variable_values(share)

    # ---- Keras' variables and saving --------------------------------------------------------------
    def _keras_variables(self) -> list[tuple[object, torch.Tensor]]:
        """Keras' order: this optimizer's step count and (unused, 0) learning rate, then each sub-optimizer's
        variables; a sub-optimizer's entries are tagged with its index."""
        entries = [("iterations", torch.tensor(self._iterations, dtype=torch.int32)),
                   ("learning_rate", torch.tensor(0.0, dtype=torch.float32))]
        for i, optimizer in enumerate(self._inner_optimizers):
            entries += [((i, kind), tensor) for kind, tensor in optimizer._keras_variables()]
        return entries

    def _set_variable(self, kind, tensor: torch.Tensor, value: torch.Tensor) -> None:
        if isinstance(kind, tuple):
            self._inner_optimizers[kind[0]]._set_variable(kind[1], tensor, value)
        elif kind == "iterations":
            self._iterations = int(value)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """This optimizer's step count, then each sub-optimizer's state under ``optimizers/<index>/``."""
        tensors = {"iterations": torch.tensor(self._iterations)}
        for i, optimizer in enumerate(self._inner_optimizers):
            tensors.update({f"optimizers/{i}/{k}": v for k, v in optimizer.state_tensors().items()})
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._iterations = int(tensors["iterations"])
        for i, optimizer in enumerate(self._inner_optimizers):
            prefix = f"optimizers/{i}/"
            optimizer.load_state_tensors({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})

    def get_config(self) -> dict:
        return {"optimizer_map": _serialize_selector(self._optimizer_map), "loss_scale_factor": self.loss_scale_factor,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> MultiOptimizer:
        settings = dict(config)
        settings["optimizer_map"] = _deserialize_selector(settings["optimizer_map"], custom_objects)
        return cls(**settings)


def _serialize_selector(selector) -> dict:
    """An ``OptimizerMap`` in Keras' form (``keras.optimizers.OptimizerMap``), a selector function as Keras writes
    functions (its registered name, or its ``__name__`` for ``custom_objects`` to find when loading)."""
    if type(selector) is OptimizerMap:
        return {"module": "keras.optimizers", "class_name": "OptimizerMap", "config": selector.get_config(),
                "registered_name": None}
    from layerwise.saving_registry import keras_function_form, serialize_custom

    saved = serialize_custom(selector, "optimizer selector", unregistered=True)
    return keras_function_form(saved) if isinstance(saved, str) else saved


def _deserialize_selector(config, custom_objects: dict | None):
    """What ``_serialize_selector`` wrote (or an OptimizerMap or selector given as it is)."""
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "OptimizerMap":
        return OptimizerMap.from_config(config["config"], custom_objects)
    from layerwise.saving_registry import deserialize_custom, how_to_load, loading_scope

    with loading_scope(custom_objects, "MultiOptimizer.from_config"):
        found = deserialize_custom(config)
    if found is None:
        name = str(config.get("config") if config.get("class_name") == "function" else config.get("class_name"))
        raise ValueError(f"MultiOptimizer.from_config: unknown optimizer selector {name!r}. " + how_to_load(name))
    return found
