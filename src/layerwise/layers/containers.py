"""Layers held in lists and dicts: Keras tracks the layers a layer or model keeps in a list, tuple or dict
attribute (``self.blocks = [Dense(8), Dense(4)]``, or ``self.blocks = []`` then ``append``), so their weights
train and save with it. Here they become an ``nn.ModuleList`` / ``nn.ModuleDict``, which PyTorch tracks and
which behave as the list or dict did."""
from __future__ import annotations

from torch import nn


def _is_layer(value) -> bool:
    return isinstance(value, nn.Module) and hasattr(value, "weight_views")


def tracked_container(value):
    """``value`` as a ModuleList or ModuleDict when it is a non-empty list, tuple or dict of layers, else itself."""
    if isinstance(value, (list, tuple)) and value and all(_is_layer(v) for v in value):
        return nn.ModuleList(value)
    if isinstance(value, dict) and value and all(isinstance(k, str) and _is_layer(v) for k, v in value.items()):
        return nn.ModuleDict(value)
    return value


def track_layers_in_containers(module: nn.Module) -> None:
    """Track the layers appended to plain list or dict attributes since they were set: a container of layers
    only becomes a ModuleList / ModuleDict; layers in a mixed one are registered as ``<attribute>_<index>``."""
    known = {id(m) for m in module.modules()}
    for attr, value in list(module.__dict__.items()):
        if not isinstance(value, (list, tuple, dict)):
            continue
        tracked = tracked_container(value)
        if tracked is not value:
            if any(id(m) not in known for m in (tracked.values() if isinstance(tracked, nn.ModuleDict) else tracked)):
                setattr(module, attr, tracked)
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if _is_layer(item) and id(item) not in known:
                module.add_module(f"{attr}_{key}", item)
                known.add(id(item))
