"""Saving and loading the small built-in objects layers take as arguments (regularizers, constraints):
``{"class_name": ..., "config": ...}`` as in Keras, for built-in classes only."""
from __future__ import annotations

import inspect


def serialize(obj, built_in: dict[str, type], kind: str) -> dict:
    """``{"class_name": "L2", "config": {...}}``; a TypeError naming ``obj`` when it is not built in."""
    cls = type(obj)
    if built_in.get(cls.__name__) is not cls:
        raise TypeError(f"Cannot save the custom {kind} {obj!r}: only layerwise's built-in {kind}s "
                        f"({', '.join(built_in)}) are saved. Use one of them to make the model saveable, "
                        "or save the weights with model.get_weights().")
    return {"class_name": cls.__name__, "config": obj.get_config()}


def deserialize(config: dict, by_name: dict[str, type], kind: str):
    """The object ``serialize`` described; a ValueError naming the known classes otherwise."""
    name = config.get("class_name")
    if name not in by_name:
        raise ValueError(f"Unknown {kind} {name!r}; known: {', '.join(sorted(by_name))}.")
    return by_name[name].from_config(config.get("config", {}))


def get(identifier, by_name: dict[str, type], base: type, kind: str, example: str):
    """``None``, a name, a config dict, a class or instance of ``base``, or any function of a tensor."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier, by_name, kind)
    if isinstance(identifier, str):
        if identifier not in by_name:
            raise ValueError(f"Unknown {kind} {identifier!r}; known: {', '.join(sorted(by_name))}.")
        return by_name[identifier]()
    if inspect.isclass(identifier) and issubclass(identifier, base):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} {identifier!r}: pass a name, a {kind} such as "
                     f"{example}, or a function of a tensor.")
