"""Keras' ``keras.dtype_policies``: ``DTypePolicy``, and ``get``/``serialize``/``deserialize`` for a layer's
``dtype`` argument and its saved config (see ``dtype_policy.py``; ``autocast.py`` runs layers under them)."""
from __future__ import annotations

from typing import Any

from layerwise._registry import keras_form
from layerwise.dtype_policies.dtype_policy import DTypePolicy, FloatDTypePolicy, dtype_policy, standardize_dtype

__all__ = ["DTypePolicy", "FloatDTypePolicy", "deserialize", "get", "serialize"]

_CLASSES = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": DTypePolicy}


def serialize(dtype_policy: DTypePolicy) -> dict:
    """Keras' form: ``{"module": "keras", "class_name": "DTypePolicy", "config": {"name": ...}, ...}``."""
    return keras_form("keras", "DTypePolicy", dtype_policy.get_config())


def deserialize(config: dict | str, custom_objects: dict | None = None) -> DTypePolicy:
    """The policy ``serialize`` (or Keras) wrote, or a policy's name (Keras returns the name itself there);
    a ValueError naming the known classes otherwise. No custom policy classes exist, so ``custom_objects``
    (Keras' argument) has nothing to find."""
    if isinstance(config, str):
        return DTypePolicy(config)
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown dtype policy class {config.get('class_name')!r}; known: "
                         f"{', '.join(sorted(_CLASSES))}.")
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> DTypePolicy:
    """A layer's policy from its ``dtype`` argument: None (the global policy), a policy, a name
    (``"mixed_bfloat16"``), a saved config dict, or a dtype (``torch.float16``)."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(standardize_dtype(identifier))
    except ValueError:
        raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance of DTypePolicy. "
                         f"Received: dtype={identifier}") from None
