"""Saving and loading the small objects layers take as arguments (regularizers, constraints): Keras'
``{"module": ..., "class_name": ..., "config": ..., "registered_name": None}`` for built-in classes, and
a ``"registered_name"`` for a user's class registered with ``register_keras_serializable`` (see
``saving_registry.py``)."""
from __future__ import annotations

import inspect

from layerwise import saving_registry


def serialize(obj, built_in: dict[str, type], kind: str):
    """Keras' ``{"module": "keras.regularizers", "class_name": "L2", "config": {...}, "registered_name": None}``;
    a registered object as ``serialize_custom`` saves it; a TypeError naming ``obj`` and the fixes otherwise."""
    cls = type(obj)
    if built_in.get(cls.__name__) is cls:
        return keras_form(f"keras.{kind}s", cls.__name__, obj.get_config())
    return saving_registry.serialize_custom(obj, kind)


def keras_form(module: str, class_name: str, config: dict) -> dict:
    """How Keras 3 serializes one of its own objects."""
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def deserialize(config: dict, by_name: dict[str, type], kind: str):
    """The object ``serialize`` described; a ValueError naming the known classes otherwise."""
    name = config.get("class_name")
    if config.get("registered_name") or name not in by_name:
        found = saving_registry.deserialize_custom(config)
        if found is not None:
            return found
        raise ValueError(f"Unknown {kind} {config.get('registered_name') or name!r}; known: "
                         f"{', '.join(sorted(by_name))}. {saving_registry.how_to_load(name)}")
    return by_name[name].from_config(config.get("config", {}))


def get(identifier, by_name: dict[str, type], base: type, kind: str, example: str):
    """``None``, a name (a registered or custom object's name too), a config dict, a class or instance of
    ``base``, or any function of a tensor."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier, by_name, kind)
    if isinstance(identifier, str):
        found = saving_registry.find_custom_object(identifier, built_in=identifier in by_name)
        if found is not None:
            return saving_registry.instance_of(found)
        if identifier not in by_name:
            raise ValueError(f"Unknown {kind} {identifier!r}; known: {', '.join(sorted(by_name))}. "
                             f"{saving_registry.how_to_load(identifier)}")
        return by_name[identifier]()
    if inspect.isclass(identifier) and issubclass(identifier, base):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} {identifier!r}: pass a name, a {kind} such as "
                     f"{example}, or a function of a tensor.")
