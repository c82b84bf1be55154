"""How a layer's constructor arguments become its config: JSON-able values, and Keras' forms of them for
layerwise's own layers (no activation is "linear", an initializer given by name is its serialized dict); and
Keras' error for keyword arguments no constructor takes."""
from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any

from layerwise import activations, constraints, initializers, regularizers


def jsonable(value: Any) -> Any:
    if inspect.isclass(value) and issubclass(value, (initializers.Initializer, regularizers.Regularizer,
                                                     constraints.Constraint)):
        value = value()  # kernel_initializer=initializers.he_uniform, as Keras allows
    if isinstance(value, initializers.Initializer):
        return initializers.serialize(value)
    if isinstance(value, regularizers.Regularizer):
        return regularizers.serialize(value)
    if isinstance(value, constraints.Constraint):
        return constraints.serialize(value)
    if callable(value):
        # A built-in activation's name, or a registered function or class by its registered name; the
        # error for anything else names register_keras_serializable and custom_objects as the fixes.
        return activations.serialize(value)
    if isinstance(value, tuple):
        return list(value)
    return value


SERIALIZED = (("_initializer", initializers), ("_regularizer", regularizers), ("_constraint", constraints))


def in_keras_forms(config: dict) -> None:
    """Keras' forms of the values a built-in layer's config holds as given: no activation is "linear", and an
    initializer, regularizer or constraint given by name (``"glorot_uniform"``) is its serialized dict."""
    for key, value in config.items():
        if value is None and key in ("activation", "recurrent_activation"):
            config[key] = "linear"
        elif isinstance(value, str):
            module = next((module for suffix, module in SERIALIZED if key.endswith(suffix)), None)
            if module is not None:
                config[key] = module.serialize(module.get(value))


def built_in(cls: type) -> bool:
    """Whether ``cls`` is one of layerwise's layers (their configs take Keras' forms; a user's stay as given)."""
    return cls.__module__.startswith("layerwise.")


@functools.lru_cache(maxsize=None)
def takes_trainable(cls: type) -> bool:
    """Whether a built-in layer's constructor takes ``trainable`` (as Keras writes it in every config); a user's
    layer records it only when frozen, so that a constructor without ``**kwargs`` still rebuilds from its config."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return built_in(cls) and any(p.name == "trainable" or p.kind == p.VAR_KEYWORD for p in parameters)


def unrecognized_keywords(cls: type, kwargs: dict) -> ValueError:
    """Keras' error for keywords that no constructor of ``cls`` takes (``Dense(4, activaton="relu")``), with the
    closest name each may have meant."""
    known = sorted({name for klass in cls.__mro__ if "__init__" in klass.__dict__
                    for name, p in inspect.signature(klass.__init__).parameters.items()
                    if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)})
    guesses = [f"'{match[0]}' for '{key}'" for key in kwargs
               for match in [difflib.get_close_matches(key, known, n=1)] if match]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return ValueError(f"Unrecognized keyword arguments passed to {cls.__name__}: {kwargs}{hint}")
