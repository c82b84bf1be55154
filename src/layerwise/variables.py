"""Tensors with Keras' variable methods: ``assign``, ``assign_add``, ``assign_sub``, ``value``, ``numpy()``.

Keras code changes state in place through these methods (``self.total.assign_add(ops.sum(x, 0))`` in a
layer's ``call``, ``self.true_positives.assign_add(...)`` in a metric). Here both kinds of state stay
``torch.Tensor`` subclasses, so torch functions, ``ops`` and arithmetic take them as they are, with no
copy; what those return is a plain tensor, as for ``nn.Parameter``.

- ``Variable``: a weight made by ``Layer.add_weight``, an ``nn.Parameter`` (optimizers, ``state_dict``
  and ``.to(device)`` treat it as one). Keras' layout is its layout, so ``assign`` takes Keras' shapes.
- ``MetricVariable``: the state of a metric's ``add_variable``; never trained, and it moves to the
  accelerator that holds the values it is given, so a metric's state stays where the data is.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

__all__ = ["MetricVariable", "Variable"]

# Open stateless scopes (layers/shape_inference.py), each a list of (variable, first value) made in it.
_scopes: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
_building_owners: list[str] = []  # the names of the layers and models building now, innermost last


def _as_value(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.as_tensor(np.asarray(value), device=like.device)


def _fits(shape: torch.Size, target: torch.Size) -> bool:
    """Whether a value of ``shape`` broadcasts to exactly ``target``."""
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


class _KerasVariableMethods:
    """What Keras' ``Variable`` offers, for a tensor subclass with ``_name`` and ``owner`` attributes."""

    _follows_value_device = False  # move to the accelerator holding an assigned value (metric state)

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        """``<layer name>/<name>`` for a weight a layer or model made (``add_weight``, or a ``Variable`` created in
        its ``build``), the name alone otherwise."""
        return f"{self.owner}/{self.name}" if self.owner else self.name

    @property
    def value(self) -> torch.Tensor:
        """The current value as a plain tensor (shares memory with the variable, no gradient)."""
        return self._plain()

    def _plain(self) -> torch.Tensor:
        return self.as_subclass(torch.Tensor).detach()

    def numpy(self) -> np.ndarray:
        return self._plain().cpu().numpy()

    def assign(self, value):
        """Set every element to ``value`` (a scalar or an array that broadcasts to this variable's shape)."""
        return self._set(value, lambda current, new: new)

    def assign_add(self, value):
        return self._set(value, torch.add)

    def assign_sub(self, value):
        return self._set(value, torch.sub)

    def _set(self, value, combine):
        new = _as_value(value, self)
        with torch.no_grad():
            if self._follows_value_device and new.device != self.device and new.device.type != "cpu":
                self.data = self.data.to(new.device)
            if not _fits(new.shape, self.shape):
                raise ValueError(f"{self.path}: the variable has shape {tuple(self.shape)}; received a value of "
                                 f"shape {tuple(new.shape)}.")
            self.copy_(combine(self._plain(), new.to(self.device, self.dtype)))
        return self


AGGREGATIONS = ("none", "mean", "sum", "only_first_replica")  # Keras' multi-replica aggregations


@contextlib.contextmanager
def owning_variables(owner: str):
    """While layer or model ``owner`` builds, the variables it creates are its own: their ``path`` is
    ``<owner>/<name>``, as Keras' name scope makes it (those made in ``__init__`` keep their bare name)."""
    _building_owners.append(owner)
    try:
        yield
    finally:
        _building_owners.pop()


def _checked_aggregation(aggregation) -> str:
    if aggregation not in (None, *AGGREGATIONS):
        raise ValueError("Invalid value for argument `aggregation`. Expected one of `None`, `'none'`, `'mean'`, "
                         f"`'sum'`, `'only_first_replica'`. Received: aggregation={aggregation}")
    return aggregation or "none"


class TrainableByGradient:
    """Keras' ``trainable`` of a weight held as a torch parameter: whether gradients reach it now (False while its
    layer is frozen, or for a non-trainable weight)."""

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.requires_grad_(bool(value))


class Variable(TrainableByGradient, _KerasVariableMethods, nn.Parameter):
    """Keras' ``keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``, an
    ``nn.Parameter``: ``initializer`` is the value (an array or tensor) or, with ``shape``, an initializer (a
    name such as ``"zeros"``, an Initializer or a function ``fn(shape, dtype)``). ``add_weight`` makes these;
    one set as an attribute of a Keras-style layer becomes one of its weights, as in Keras. ``aggregation`` and
    ``overwrite_with_gradient`` are kept as Keras keeps them, for code that reads them (one device: no replicas
    to aggregate)."""

    def __new__(cls, initializer=None, shape=None, dtype=None, trainable: bool = True, name: str | None = None,
                owner: str | None = None, aggregation: str | None = "none", **kwargs):
        if shape is not None or isinstance(initializer, str) or (callable(initializer) and
                                                                   not isinstance(initializer, torch.Tensor)):
            from layerwise import initializers
            torch_dtype = getattr(torch, str(dtype).removeprefix("torch.")) if dtype else torch.float32
            value = initializers.weight_initializer(initializer)(tuple(shape or ()), torch_dtype)
        else:
            value = initializer.detach() if isinstance(initializer, torch.Tensor) else \
                torch.as_tensor(np.asarray(initializer, dtype=str(dtype).removeprefix("torch.") if dtype else None))
            if value.is_floating_point() and dtype is None:
                value = value.to(torch.float32)
        variable = nn.Parameter.__new__(cls, value.contiguous(), bool(trainable))
        variable._name, variable.aggregation = name or "variable", _checked_aggregation(aggregation)
        variable.owner = (_building_owners[-1] if _building_owners else "") if owner is None else owner
        variable._overwrite_with_gradient = False
        for created in _scopes:  # a stateless call puts a variable it creates back to its first value
            created.append((variable, variable.detach().clone()))
        return variable

    @property
    def overwrite_with_gradient(self) -> bool:
        """Keras' flag for a variable the optimizer sets to its gradient (float8 scales) instead of updating."""
        return self._overwrite_with_gradient

    @overwrite_with_gradient.setter
    def overwrite_with_gradient(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"`overwrite_with_gradient` must be a boolean. Received: {value}")
        self._overwrite_with_gradient = value

    @property
    def value(self) -> "Variable":
        """The parameter itself, as Keras' torch backend gives it: ``v.value.grad`` is its gradient after
        ``backward()``, as in Keras' guide "Customizing what happens in fit() with PyTorch"."""
        return self

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={tuple(self.shape)}, dtype={self.dtype}, value={self._plain()}>"

    def __deepcopy__(self, memo: dict) -> "Variable":
        copied = _rebuilt_variable(self._plain().clone(), self.requires_grad, self.name, self.owner,
                                   self.aggregation, self.overwrite_with_gradient)
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, protocol):
        return _rebuilt_variable, (self._plain().cpu().clone(), self.requires_grad, self.name, self.owner,
                                   self.aggregation, self.overwrite_with_gradient)


def _rebuilt_variable(value: torch.Tensor, trainable: bool, name: str, owner: str, aggregation: str = "none",
                      overwrite_with_gradient: bool = False) -> Variable:
    """A pickled or copied ``Variable`` back."""
    variable = Variable(value, trainable=trainable, name=name, owner=owner, aggregation=aggregation)
    variable.overwrite_with_gradient = overwrite_with_gradient
    return variable


class MetricVariable(_KerasVariableMethods, torch.Tensor):
    """A metric's state of shape ``shape``; ``aggregation`` and ``trainable`` (False) as in Keras."""

    # Results of torch functions on a variable are plain tensors, as for nn.Parameter.
    __torch_function__ = torch._C._disabled_torch_function_impl
    _follows_value_device = True
    trainable = False

    def __new__(cls, data: torch.Tensor, name: str, aggregation: str = "sum", owner: str = "metric"):
        variable = torch.Tensor._make_subclass(cls, data.detach(), False)
        variable._name, variable.aggregation, variable.owner = name, aggregation, owner
        return variable

    def __repr__(self) -> str:
        return f"<MetricVariable path={self.path} shape={tuple(self.shape)} dtype={self.dtype} value={self.value}>"

    def __deepcopy__(self, memo: dict) -> "MetricVariable":
        copied = MetricVariable(self.value.clone(), self.name, self.aggregation, self.owner)
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, protocol):
        return MetricVariable, (self.value.cpu().clone(), self.name, self.aggregation, self.owner)
