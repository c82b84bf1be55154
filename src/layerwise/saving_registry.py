"""Keras' registry of custom objects, so that models using your own functions and classes save and load.

``@register_keras_serializable(package="my_package")`` records a function or class under the name
``"my_package>name"``; ``custom_object_scope({...})`` and ``load_model(path, custom_objects={...})`` name
objects for a while. A file records such an object by its name only (a function's name, or a class's
name and ``get_config()``) and finds it here again when it is loaded: files never hold code.

This module sits below activations, losses and the rest, which use its lookups; the two
``*_keras_object`` functions import them when called.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}  # registered name -> object, what get_custom_objects() returns
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}  # object -> registered name
_scope = threading.local()  # .objects: the innermost custom_object_scope's dict, per thread as in Keras


def _scope_objects() -> dict[str, Any]:
    return getattr(_scope, "objects", {})


def _check_objects(custom_objects, owner: str) -> dict[str, Any]:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict) or not all(isinstance(key, str) for key in custom_objects):
        raise TypeError(f"{owner}: custom_objects must be a dict of {{name: function or class}}, e.g. "
                        f"{{'my_loss': my_loss}}; received {custom_objects!r}.")
    return custom_objects


class CustomObjectScope:
    """``with CustomObjectScope({"my_loss": my_loss}):`` lets saving and loading find these objects by
    those names. As in Keras 3, an inner scope replaces an outer one until it ends."""

    def __init__(self, custom_objects: dict[str, Any] | None = None):
        self.custom_objects = _check_objects(custom_objects, "CustomObjectScope")
        self.backup: dict[str, Any] | None = None

    def __enter__(self) -> "CustomObjectScope":
        self.backup = _scope_objects()
        _scope.objects = dict(self.custom_objects)
        return self

    def __exit__(self, *exc_info) -> None:
        _scope.objects = self.backup or {}


custom_object_scope = CustomObjectScope


def loading_scope(custom_objects: dict | None, owner: str) -> CustomObjectScope:
    """A scope holding ``custom_objects`` on top of the active scope's objects, for the whole of one load
    (``owner`` names the function in the error for a bad ``custom_objects``)."""
    return CustomObjectScope({**_scope_objects(), **_check_objects(custom_objects, owner)})


def get_custom_objects() -> dict[str, Any]:
    """The live global dict of registered objects (``"package>name" -> object``); objects of a
    ``custom_object_scope`` are not in it. Adding an entry by hand registers that name too."""
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """A decorator that registers a function or class as ``"package>name"`` (``name``: its ``__name__`` by
    default). A class needs ``get_config()``. Registering a name again replaces the object, as in Keras 3."""
    if not isinstance(package, str):
        raise TypeError(f"register_keras_serializable(package=...) takes a string; received {package!r}. Write "
                        "the decorator with parentheses: @register_keras_serializable() or "
                        "@register_keras_serializable(package='my_package').")

    def decorator(arg):
        object_name = name if name is not None else getattr(arg, "__name__", None)
        if object_name is None:
            # Keras fails here too (an AttributeError on __name__); this one says what to do.
            raise AttributeError(f"register_keras_serializable cannot name {arg!r} ({type(arg).__name__}): it "
                                 "has no __name__. Decorate a function or a class, or pass name='...'.")
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError(f"Cannot register a class that does not have a get_config() method: {arg.__name__} "
                             "needs get_config() returning its constructor arguments.")
        registered_name = f"{package}>{object_name}"
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj) -> str:
    """``"package>name"`` for a registered object, otherwise its ``__name__`` (Keras' rule)."""
    if obj in _GLOBAL_CUSTOM_NAMES:
        return _GLOBAL_CUSTOM_NAMES[obj]
    return obj.__name__


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object called ``name`` in the active scope, the registry, ``custom_objects`` or
    ``module_objects`` (searched in that order, as Keras does), or None."""
    for objects in (_scope_objects(), _GLOBAL_CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in objects:
            return objects[name]
    return None


def saved_name(obj) -> str | None:
    """The name a file records for the user's function or class ``obj``: its registered name, else its key
    in the active scope or ``get_custom_objects()``; None when it has none."""
    try:
        registered = _GLOBAL_CUSTOM_NAMES.get(obj)
    except TypeError:  # unhashable objects are never registered
        return None
    if registered is not None:
        return registered
    for objects in (_scope_objects(), _GLOBAL_CUSTOM_OBJECTS):
        for key, value in objects.items():
            if value is obj:
                return key
    return None


def find_custom_object(name: str, built_in: bool = False):
    """The user's object a file or an argument names ``name``, or None.

    An exact name of the active scope (which holds ``load_model``'s ``custom_objects``) or the registry
    comes first; then ``"package>fn"`` is also found as ``"fn"`` (a file saved with the decorator, loaded
    with ``custom_objects={"fn": fn}``), and, unless ``name`` is a built-in name, ``"fn"`` as any
    ``"package>fn"`` (Keras' rule for files saved before the function was registered).
    """
    found = get_registered_object(name)
    if found is not None:
        return found
    if name.startswith("ops."):
        return _op_at(name)
    if ">" in name:
        return get_registered_object(name.rsplit(">", 1)[1])
    if not built_in:
        for objects in (_scope_objects(), _GLOBAL_CUSTOM_OBJECTS):
            for key, value in objects.items():
                if key.endswith(">" + name):
                    return value
    return None


_OP_NAMESPACES = ("", "image", "linalg", "nn", "numpy")  # keras.ops and its submodules of the same names


def op_path(fn) -> str | None:
    """Where ``fn`` lies in ``layerwise.ops`` as Keras names it in ``keras.ops`` (``"ops.abs"``,
    ``"ops.image.resize"``), or None for a function that is not one of its ops."""
    from layerwise import ops

    for namespace in _OP_NAMESPACES:
        module = getattr(ops, namespace) if namespace else ops
        prefix = f"ops.{namespace}." if namespace else "ops."
        public = module.__all__  # not the helpers a module imports
        name = getattr(fn, "__name__", None)
        if name in public and getattr(module, name) is fn:
            return prefix + name
        alias = next((key for key in sorted(public) if getattr(module, key, None) is fn), None)  # abs is "absolute"
        if alias is not None:
            return prefix + alias
    return None


def _op_at(path: str):
    """The op ``op_path`` named ``path``, or None."""
    from layerwise import ops

    *namespaces, name = path.split(".")[1:]
    if len(namespaces) > 1 or (namespaces and namespaces[0] not in _OP_NAMESPACES):
        return None
    module = getattr(ops, namespaces[0]) if namespaces else ops
    found = getattr(module, name, None) if name in module.__all__ else None
    return found if inspect.isroutine(found) else None


def how_to_save(obj) -> str:
    """The two fixes for an object a file cannot name, for error messages."""
    name = getattr(obj, "__name__", None) or type(obj).__name__
    if name == "<lambda>":
        return ("Write it as a named function (def my_function(...)), then decorate it with "
                "@layerwise.saving.register_keras_serializable() or save and load it inside "
                "layerwise.saving.custom_object_scope({'my_function': my_function}).")
    return (f"Decorate it with @layerwise.saving.register_keras_serializable() (it is then saved as "
            f"'Custom>{name}'), or save inside layerwise.saving.custom_object_scope({{'{name}': {name}}}) and load "
            f"with load_model(path, custom_objects={{'{name}': {name}}}).")


def how_to_load(name: str) -> str:
    """The fix for a name a file holds that nothing here knows, for error messages."""
    return (f"If '{name}' is your own function or class, import the code that decorates it with "
            f"@register_keras_serializable, or pass custom_objects={{'{name}': ...}} to load_model (or use "
            "custom_object_scope).")


def keras_function_form(name: str) -> dict:
    """How Keras 3 writes any function (``serialize_keras_object``): its registered name, or its ``__name__``, as
    the config of a ``builtins.function``. An op's ``op_path`` gets module ``keras``, where Keras finds
    ``keras.ops.<...>`` by that path (Keras writes ``keras.ops.abs`` as ``builtins`` "abs", which it cannot load)."""
    module = "keras" if name.startswith("ops.") else "builtins"
    return {"module": module, "class_name": "function", "config": name, "registered_name": "function"}


def serialize_custom(obj, kind: str, error: type[Exception] = TypeError, unregistered: bool = False):
    """A user's function or class as its saved name, or an instance of a user's class as
    ``{"class_name", "config", "registered_name"}``; ``error`` naming ``obj`` and the fixes otherwise.

    With ``unregistered`` an object nothing names is written as Keras writes it (losses and metrics): a named
    function as ``keras_function_form(obj.__name__)``, an instance as its class's name (``registered_name`` too)
    and ``get_config()``, to be found again in ``load_model``'s ``custom_objects``. Lambdas and classes still
    raise: Keras stores a lambda's bytecode and cannot save a class given in place of an object."""
    if inspect.isclass(obj) or inspect.isroutine(obj):
        name = saved_name(obj)
        if name is not None:
            return name
        path = op_path(obj) if inspect.isroutine(obj) else None
        if path is not None:
            return keras_function_form(path)
        if unregistered and inspect.isroutine(obj) and getattr(obj, "__name__", "<lambda>") != "<lambda>":
            return keras_function_form(obj.__name__)
    elif hasattr(obj, "get_config"):
        config = obj.get_config()  # a class that lacks its own raises the base's NotImplementedError, as in Keras
        cls = type(obj)
        name = saved_name(cls)
        if name is not None:
            return {"class_name": cls.__name__, "config": config, "registered_name": name}
        if unregistered:  # Keras names the module, None for a class of the script itself
            module = None if cls.__module__ == "__main__" else cls.__module__
            return {"module": module, "class_name": cls.__name__, "config": config, "registered_name": cls.__name__}
    raise error(f"Cannot save the custom {kind} {obj!r}: only built-in {kind}s and registered objects are saved. "
                + how_to_save(obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)))


def deserialize_custom(config: dict):
    """The instance (or function) a ``serialize_custom`` dict describes, or None when no registered or
    custom object has its name."""
    if config.get("class_name") == "function" and isinstance(config.get("config"), str):
        return find_custom_object(config["config"])  # Keras' form of a function: its registered name in "config"
    found = find_custom_object(config.get("registered_name") or config.get("class_name", ""))
    if found is None or not inspect.isclass(found):
        return found
    return found.from_config(config.get("config") or {})


def instance_of(found):
    """What a name resolves to: a class found by name is built with its defaults, as built-in names are."""
    return found() if inspect.isclass(found) else found


# ---- Keras' public (de)serialization entry points, over layerwise's own forms -------------------------
def _kinds() -> list[tuple[str, type, Callable, Callable]]:
    """(module, base class, serialize, deserialize) of each kind of object a model file holds; the modules are
    Keras' names, as Keras writes them (``layerwise.<kind>`` is read too). A module's last part names the kind in
    the longer modules Keras writes for some objects (``keras.src.backend.torch.optimizers.torch_adam``), so
    schedules come before optimizers."""
    from layerwise import constraints, dtype_policies, initializers, losses, metrics, optimizers, regularizers
    from layerwise.layers.base import Layer
    from layerwise.models.model import Model, deserialize_layer
    from layerwise.optimizers import schedules

    def layer_config(layer) -> dict:
        name = saved_name(type(layer))
        return {"class_name": type(layer).__name__, "config": layer.get_config(),
                **({"registered_name": name} if name else {})}

    return [("keras.models", Model, _model_config, _model_from_config),
            ("keras.layers", Layer, layer_config, deserialize_layer),
            ("keras.initializers", initializers.Initializer, initializers.serialize, initializers.get),
            ("keras.regularizers", regularizers.Regularizer, regularizers.serialize, regularizers.get),
            ("keras.constraints", constraints.Constraint, constraints.serialize, constraints.get),
            ("keras.losses", losses.Loss, losses.serialize, losses.deserialize),
            ("keras.metrics", metrics.Metric, metrics.serialize, metrics.deserialize),
            ("keras.optimizers.schedules", schedules.LearningRateSchedule, schedules.serialize,
             schedules.deserialize),
            ("keras.optimizers", optimizers.Optimizer, optimizers.serialize, optimizers.deserialize),
            ("keras.dtype_policies", dtype_policies.DTypePolicy, dtype_policies.serialize,
             dtype_policies.deserialize)]


def _model_config(model) -> dict:
    """A model as Keras writes it (``keras_export.keras_model_config``); an operation Keras' form cannot describe
    is written in layerwise's form."""
    from layerwise.keras_export import keras_model_config

    return keras_model_config(model, strict=False)


def _model_from_config(config: dict):
    """The model ``_model_config`` (or Keras' ``serialize_keras_object``) described."""
    from layerwise.keras_models import is_keras_config, model_from_keras_config
    from layerwise.models.model import deserialize_layer

    if config.get("class_name") not in ("Sequential", "Functional", "Model"):
        found = deserialize_custom(config)
        if found is None:
            raise ValueError(f"Unknown model class {config.get('class_name')!r} in a saved config. "
                             + how_to_load(str(config.get("class_name"))))
        return found
    return model_from_keras_config(config) if is_keras_config(config) else deserialize_layer(config)


def _function_name(fn) -> str:
    """The name Keras records for a function: a built-in activation's name, a registered one's, or its own."""
    from layerwise import activations

    if getattr(fn, "__name__", "<lambda>") == "<lambda>":
        raise ValueError(f"Cannot save the custom function {fn!r}. " + how_to_save(fn))
    built_in = next((name for name, known in activations.ACTIVATIONS.items() if known is fn), None)
    return built_in or saved_name(fn) or op_path(fn) or fn.__name__


def serialize_keras_object(obj):
    """A JSON-able description of ``obj`` in Keras 3's form: plain values and containers as themselves, a NumPy
    array as ``{"class_name": "__numpy__", ...}`` (a NumPy scalar as its value); a model, layer, initializer,
    regularizer, constraint, loss, metric, optimizer, schedule or dtype policy as its kind saves it, with
    ``"module"`` naming the kind; a function as ``{"module": "builtins", "class_name": "function", "config": its
    name, "registered_name": "function"}``; a class as its registered name."""
    import numpy as np

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, (np.ndarray, np.generic)):
        if obj.ndim == 0:  # Keras treats NumPy scalars as plain values
            return obj.item()
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
    for module, base, serialize, _ in _kinds():
        if isinstance(obj, base):
            form = serialize(obj)
            if "class_name" in form:  # Keras writes registered_name, None for its own classes
                form = {**form, "registered_name": form.get("registered_name")}
            return {"module": module, **form}
    if inspect.isclass(obj):
        name = saved_name(obj) or (obj.__name__ if obj.__module__.startswith("layerwise.") else None)
        return name if name is not None else serialize_custom(obj, "class")
    if inspect.isroutine(obj):
        return keras_function_form(_function_name(obj))
    if hasattr(obj, "get_config"):
        return serialize_custom(obj, "object", unregistered=True)
    raise TypeError(f"serialize_keras_object cannot describe {obj!r} ({type(obj).__name__}): pass a layer, model, "
                    "loss, metric, initializer, regularizer, constraint, optimizer, schedule, a NumPy array or a "
                    "function.")


def deserialize_keras_object(config, custom_objects: dict | None = None, safe_mode: bool = True):
    """The object ``serialize_keras_object`` (layerwise's or Keras') described, looking names up in
    ``custom_objects`` as well. A string names a custom object or stays a string (a built-in name, which layers
    and ``compile`` take). ``safe_mode`` is accepted for Keras code: configs name objects, they never hold code."""
    with loading_scope(custom_objects, "deserialize_keras_object"):
        return _deserialize(config)


def _deserialize(config):
    import numpy as np

    if isinstance(config, str):
        found = find_custom_object(config, built_in=True)
        return config if found is None else found
    if isinstance(config, list):
        return [_deserialize(item) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "function":
        return _function(config["config"])
    if config.get("class_name") == "__numpy__":
        return np.array(config["config"]["value"], dtype=config["config"]["dtype"])
    module = str(config.get("module") or "")
    ours = module.split(".")[0] in ("keras", "layerwise")  # one of Keras' (or layerwise's) own objects
    if config.get("registered_name"):
        found = deserialize_custom(config)
        if found is not None:
            return found
        if not ours:
            raise ValueError(f"Unknown object {config['registered_name']!r} in a saved config. "
                             + how_to_load(config["registered_name"]))
    if "module" not in config:
        return {key: _deserialize(value) for key, value in config.items()}
    kinds = _kinds()
    deserialize = _deserializer(module, config.get("class_name"), kinds) if ours else None
    if deserialize is None:
        raise ValueError(f"deserialize_keras_object: {config['module']!r} is no kind of object layerwise saves; "
                         f"expected one of {', '.join(kind[0] for kind in kinds)}, as serialize_keras_object "
                         "writes.")
    return deserialize({key: value for key, value in config.items() if key != "module"})


def _deserializer(module: str, class_name, kinds) -> Callable | None:
    """The deserializer of the kind ``module`` names: ``keras.<kind>``, ``layerwise.<kind>``, a longer module with
    the kind as one of its parts (``keras.src.backend.torch.optimizers.torch_adam``), or ``keras`` itself, where
    Keras puts Sequential and DTypePolicy."""
    by_kind = {kind_module.rsplit(".", 1)[1]: deserialize for kind_module, _, _, deserialize in kinds}
    if module == "keras":
        kind = {"Sequential": "models", "Functional": "models", "Model": "models", "DTypePolicy": "dtype_policies",
                "FloatDTypePolicy": "dtype_policies"}.get(class_name)
        return by_kind.get(kind)
    parts = module.split(".")[1:]
    for kind_module, _, _, deserialize in kinds:
        if kind_module.rsplit(".", 1)[1] in parts:
            return deserialize
    return by_kind["layers"] if "applications" in parts else None  # ConvNeXt's LayerScale...


def _function(name: str):
    """The function Keras' form names: the user's (``custom_objects``, registered), else a built-in activation,
    loss or metric function of that name."""
    from layerwise import activations, losses, metrics

    built_ins = {key: getattr(module, key) for module in (losses, metrics) for key in module.__all__
                 if inspect.isfunction(getattr(module, key)) and key not in ("get", "serialize", "deserialize")}
    built_ins.update(activations.ACTIVATIONS)
    found = find_custom_object(name, built_in=name in built_ins)
    if found is not None:
        return found
    if name in built_ins:
        return built_ins[name]
    raise ValueError(f"Could not locate function {name!r} named in a saved config. " + how_to_load(name))


__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object"]
