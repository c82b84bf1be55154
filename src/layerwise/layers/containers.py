"""Layers held in lists and dicts: Keras tracks the layers a layer or model keeps in a list, tuple or dict
attribute (``self.blocks = [Dense(8), Dense(4)]``, or ``self.blocks = []`` then ``append``, also in ``build``), so
their weights train and save with it. Here such a container becomes an ``nn.ModuleList`` / ``nn.ModuleDict``,
which PyTorch tracks (``parameters()``, ``state_dict`` as ``blocks.0.kernel``) and which behaves as the list or dict
for the common uses (indexing, iteration, ``append``, ``pop``, ``len``, ``items``); ``index``, ``remove``, slice
assignment and ``dict.get`` are not among them."""
from __future__ import annotations

from torch import nn

# nn.Module's own bookkeeping and a layer's recorded constructor arguments: never the user's containers.
_NOT_CONTAINERS = frozenset(nn.Module().__dict__) | {"_config"}


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
    """Track the layers put in plain list or dict attributes since they were set: a container of layers only
    becomes a ModuleList / ModuleDict; layers in a mixed one are registered as ``<attribute>_<index>``."""
    known = {id(m) for m in module.modules()}
    for attr, value in list(module.__dict__.items()):
        if not isinstance(value, (list, tuple, dict)) or attr in _NOT_CONTAINERS:
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
