"""The state a Keras-style metric keeps with ``add_variable``: a tensor with Keras' variable methods.

A ``MetricVariable`` is a ``torch.Tensor`` (as ``nn.Parameter`` is), so ``ops``, torch functions and
arithmetic take it as it is, with no copy and no device sync; what they return is a plain tensor.
``assign``, ``assign_add`` and ``assign_sub`` change it in place, without autograd, and move it to the
accelerator that holds the value they are given: the state stays where the data is, as the built-in
metrics' does.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["MetricVariable"]


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


class MetricVariable(torch.Tensor):
    """A metric's state of shape ``shape``: ``assign(value)``, ``assign_add(value)``, ``assign_sub(value)``,
    ``value`` (a plain tensor), ``numpy()``; ``name``, ``aggregation`` and ``trainable`` (False) as in Keras."""

    # Results of torch functions on a variable are plain tensors, as for nn.Parameter.
    __torch_function__ = torch._C._disabled_torch_function_impl

    def __new__(cls, data: torch.Tensor, name: str, aggregation: str = "sum", owner: str = "metric"):
        variable = torch.Tensor._make_subclass(cls, data.detach(), False)
        variable._name, variable.aggregation, variable.owner = name, aggregation, owner
        return variable

    trainable = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> torch.Tensor:
        """The current value as a plain tensor (shares memory with the variable)."""
        return self.as_subclass(torch.Tensor).detach()

    @property
    def path(self) -> str:
        return f"{self.owner}/{self.name}"

    def numpy(self) -> np.ndarray:
        return self.value.cpu().numpy()

    def assign(self, value) -> "MetricVariable":
        """Set every element to ``value`` (a scalar or an array of this variable's shape)."""
        return self._set(value, lambda current, new: new)

    def assign_add(self, value) -> "MetricVariable":
        return self._set(value, torch.add)

    def assign_sub(self, value) -> "MetricVariable":
        return self._set(value, torch.sub)

    def _set(self, value, combine) -> "MetricVariable":
        new = _as_value(value, self)
        with torch.no_grad():
            if new.device != self.device and new.device.type != "cpu":  # the data is on an accelerator
                self.data = self.data.to(new.device)
            if not _fits(new.shape, self.shape):
                raise ValueError(f"{self.path}: the variable has shape {tuple(self.shape)}; received a value of "
                                 f"shape {tuple(new.shape)}.")
            self.copy_(combine(self.value, new.to(self.device, self.dtype)))
        return self

    def __repr__(self) -> str:
        return f"<MetricVariable path={self.path} shape={tuple(self.shape)} dtype={self.dtype} value={self.value}>"

    def __deepcopy__(self, memo: dict) -> "MetricVariable":
        copied = MetricVariable(self.value.clone(), self.name, self.aggregation, self.owner)
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, protocol):
        return MetricVariable, (self.value.cpu().clone(), self.name, self.aggregation, self.owner)
