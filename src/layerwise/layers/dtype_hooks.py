"""A layer's dtype policy (``Dense(10, dtype="float32")``, or the global policy when ``dtype`` is left out), as
Keras' layers have it: ``dtype_policy``, ``compute_dtype``, ``variable_dtype`` and ``dtype``. Models share it.
How a policy runs a layer is in ``layerwise/dtype_policies/autocast.py``."""
from __future__ import annotations

from typing import Any, Callable

import torch

from layerwise import dtype_policies
from layerwise.backend import float_dtype
from layerwise.dtype_policies import DTypePolicy
from layerwise.dtype_policies.autocast import is_plain, run
from layerwise.dtype_policies.dtype_policy import FLOAT_DTYPES


class LayerDTypes:
    """Mixin for ``Layer`` and ``Model``: the policy and the dtypes it names, as strings (``"bfloat16"``)."""

    def _init_dtype_policy(self, dtype: Any) -> None:
        """The policy of the constructor's ``dtype`` (a name, a ``DTypePolicy``, a saved config dict, or None
        for the global policy); ``get_config`` records it whichever it is, as Keras."""
        self.dtype_policy = dtype

    @property
    def dtype_policy(self) -> DTypePolicy:
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value: Any) -> None:
        policy = dtype_policies.get(value)
        self._dtype_policy = policy
        self._plain_policy = is_plain(policy)  # read on every call: float32 layers outside autocast pay nothing

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in (and outputs): ``"bfloat16"`` under ``"mixed_bfloat16"``."""
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights: ``"float32"`` under the mixed policies."""
        return self._dtype_policy.variable_dtype

    @property
    def dtype(self) -> str:
        """Keras' alias of ``variable_dtype``; a layer that declares the dtype of its data (``InputLayer``,
        ``HashedCrossing``) sets and reports that one instead."""
        return self.__dict__.get("_declared_dtype") or self._dtype_policy.variable_dtype

    @dtype.setter
    def dtype(self, value: Any) -> None:
        self.__dict__["_declared_dtype"] = value

    def _call_in_policy(self, call: Callable, args: tuple, kwargs: dict, cast_outputs: bool = True):
        """``call(*args, **kwargs)`` under this layer's policy (autocast for a mixed one)."""
        return run(self._dtype_policy, call, args, kwargs, cast_outputs)

    def _weight_dtype(self) -> torch.dtype:
        """The dtype ``add_weight`` creates weights in by default: the policy's variable dtype when a float."""
        name = self._dtype_policy.variable_dtype
        return getattr(torch, name) if name in FLOAT_DTYPES else float_dtype()

    def _cast_weights_to_policy(self) -> None:
        """After ``build``: a policy such as ``"float64"`` or ``"bfloat16"`` keeps the weights in its dtype."""
        dtype = self._weight_dtype()
        if dtype != float_dtype():
            self.to(dtype)
