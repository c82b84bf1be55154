"""``keras.utils.legacy``: Keras 2's serialization, ``{"class_name": ..., "config": {...}}`` without Keras 3's
``module`` and ``registered_name``, for code and files of Keras 2. Names resolve through the active
``custom_object_scope``, the registry, ``custom_objects`` and ``module_objects``, in that order, as in Keras."""
from __future__ import annotations

import inspect
from typing import Any

from layerwise.saving_registry import CustomObjectScope, get_custom_objects, get_registered_name, get_registered_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]

_PASSIVE = "__passive_serialization__"  # marks a config item that was an object, so loading rebuilds it


def serialize_keras_object(instance) -> dict | str | None:
    """An object with ``get_config`` as ``{"class_name", "config"}`` (its object-valued items serialized
    in turn), a function or class by its registered name, None as None."""
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            try:
                serialized = item if isinstance(item, str) else serialize_keras_object(item)
            except ValueError:  # numbers, lists, dicts: kept as they are
                serialized = item
            if isinstance(serialized, dict) and not isinstance(item, dict):
                serialized = {**serialized, _PASSIVE: True}
            config[key] = serialized
        return {"class_name": get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return get_registered_name(instance)
    raise ValueError(f"serialize_keras_object: cannot serialize {instance!r}, which has no get_config().")


def _lookup(name: str, module_objects, custom_objects, what: str):
    found = get_registered_object(name, custom_objects, module_objects)
    if found is None:
        raise ValueError(f"Unknown {what}: {name!r}. Pass it in custom_objects or module_objects, register it "
                         "with layerwise.saving.register_keras_serializable, or use a custom_object_scope.")
    return found


def deserialize_keras_object(identifier, module_objects: dict | None = None, custom_objects: dict | None = None,
                             printable_module_name: str = "object") -> Any:
    """The object a Keras 2 form describes: a ``{"class_name", "config"}`` dict (built with ``from_config``,
    its serialized items rebuilt), a name (a class is instantiated, a function returned), or a function."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(f"deserialize_keras_object expects a dict with 'class_name' and 'config'; received "
                             f"{identifier!r}.")
        cls = _lookup(identifier["class_name"], module_objects, custom_objects, printable_module_name)
        config = identifier["config"]
        if isinstance(config, dict):
            config = {key: _config_item(key, item, module_objects, custom_objects) for key, item in config.items()}
        if not hasattr(cls, "from_config"):
            with CustomObjectScope(custom_objects or {}):
                return cls(**config)
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(config, custom_objects={**get_custom_objects(), **(custom_objects or {})})
        with CustomObjectScope(custom_objects or {}):
            return cls.from_config(config)
    if isinstance(identifier, str):
        found = _lookup(identifier, module_objects, custom_objects, printable_module_name)
        return found() if inspect.isclass(found) else found
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier!r}.")


def _config_item(key: str, item, module_objects, custom_objects):
    """A config item as Keras 2 loads it: serialized objects rebuilt, names of functions resolved."""
    if key == "name":
        return item
    if isinstance(item, dict) and _PASSIVE in item:
        return deserialize_keras_object(item, module_objects, custom_objects, "config_item")
    if isinstance(item, str) and inspect.isfunction(get_registered_object(item, custom_objects, module_objects)):
        return get_registered_object(item, custom_objects, module_objects)
    return item
