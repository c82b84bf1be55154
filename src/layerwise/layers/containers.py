"""Layers held in lists and dicts: Keras tracks the layers a layer or model keeps in a list, tuple or dict
attribute (``self.blocks = [Dense(8), Dense(4)]``, or ``self.blocks = []`` then ``append``), so their weights
train and save with it. The container stays the user's own list or dict; its layers are registered as PyTorch
children named ``<attribute>/<index or key>`` (so ``parameters()``, ``to(device)`` and ``state_dict`` see them),
when it is set and again around the first build (for layers appended since)."""
from __future__ import annotations

from torch import nn


def _is_layer(value) -> bool:
    return isinstance(value, nn.Module) and hasattr(value, "weight_views")


# nn.Module's own bookkeeping dicts (``_modules``...), which are never the user's containers.
_TORCH_INTERNALS = frozenset(nn.Module().__dict__)


def register_contained_layers(module: nn.Module, attribute: str, value) -> None:
    """Register the layers in ``value`` (set as ``module.<attribute>``) as children, replacing the ones registered
    for that attribute before (a reassigned attribute leaves nothing behind; an unchanged one keeps its place)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return
    found = [(f"{attribute}/{str(key).replace('.', '_')}", item) for key, item in items if _is_layer(item)]
    registered = module.__dict__.setdefault("_contained_layers", {})  # attribute -> its children's names
    before = registered.get(attribute, [])
    if [name for name, _ in found] == before and all(module._modules.get(n) is item for n, item in found):
        return
    for name in before:
        module._modules.pop(name, None)
    for name, item in found:
        module.add_module(name, item)
    registered[attribute] = [name for name, _ in found]


def track_layers_in_containers(module: nn.Module) -> None:
    """Register again the layers in every list, tuple or dict attribute (layers appended since it was set)."""
    for attribute, value in list(module.__dict__.items()):
        if isinstance(value, (list, tuple, dict)) and attribute not in _TORCH_INTERNALS and \
                attribute != "_contained_layers":
            register_contained_layers(module, attribute, value)
