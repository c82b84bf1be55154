"""Pickling estimators fitted on a GPU, so that they unpickle on any machine (the ``PortablePickle`` mixin).

Plain pickle records each tensor's device, and a CUDA tensor cannot be rebuilt where there is no GPU. An
estimator whose state holds tensors or models on an accelerator is therefore pickled as one ``torch.save``
blob, which ``torch.load(map_location=...)`` puts on the reading machine's default device (the GPU when it
has one, else the CPU). CUDA generators cannot move: they are dropped, and the estimators make them again
from their ``random_state``. States on the CPU pickle as they are.
"""
from __future__ import annotations

import io

import torch
from torch import nn

from layerwise.backend import get_device

_PACKED = "_layerwise_torch_state"
_KEPT = ("_sklearn_version",)  # scikit-learn's own key, which its __setstate__ reads


def _on_accelerator(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.device.type != "cpu"
    if isinstance(value, nn.Module):
        return any(p.device.type != "cpu" for p in value.parameters())
    return False


def pack_state(state: dict, always: bool = False) -> dict:
    """``state`` (an estimator's ``__dict__``) ready for pickle; ``always`` packs a CPU state too (tests)."""
    if not always and not any(_on_accelerator(v) for v in state.values()):
        return state
    packed = {k: (None if isinstance(v, torch.Generator) else v) for k, v in state.items() if k not in _KEPT}
    buffer = io.BytesIO()
    torch.save(packed, buffer)
    return {**{k: state[k] for k in _KEPT if k in state}, _PACKED: buffer.getvalue()}


def unpack_state(state: dict) -> dict:
    """The estimator's ``__dict__`` from ``pack_state``'s result, tensors on this machine's default device."""
    if _PACKED not in state:
        return state
    loaded = torch.load(io.BytesIO(state[_PACKED]), map_location=get_device(), weights_only=False)
    return {**{k: v for k, v in state.items() if k != _PACKED}, **loaded}


class PortablePickle:
    """Mixin for estimators (before ``BaseEstimator`` in the bases): pickles through ``pack_state``."""

    def __getstate__(self) -> dict:
        return pack_state(super().__getstate__())

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(unpack_state(state))
