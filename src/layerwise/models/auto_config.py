"""The config Keras makes for a subclassed model that does not define ``get_config``.

Keras records the arguments a model's constructor was given when every one is simple (a string, number, bool or
None, or lists, tuples and dicts of these); ``get_config`` then returns them with the base keys (``name``,
``trainable``, ``dtype``), so ``model.save`` and ``load_model(..., custom_objects=...)`` rebuild the model as
``cls(**config)``. Otherwise ``get_config`` raises NotImplementedError, as in Keras. ``name`` is left out when the
constructor takes neither ``name`` nor ``**kwargs`` (Keras' rule, which looks for that exact name).

Keras 3.15's ``Model.__new__`` drops the arguments before recording them, so Keras records the constructor's
defaults (and refuses a model with a required argument); here the arguments given are recorded, as Keras records a
layer's (README, "Where layerwise differs from Keras").
"""
from __future__ import annotations

import inspect

from layerwise import tree

SIMPLE = (str, int, float, bool, type(None))
_POSITIONAL = "positional"  # what kept a config from being recorded: positional-only or *args arguments...
_VALUES = "values"  # ...or a value of another type


def record_arguments(model, args: tuple, kwargs: dict) -> None:
    """Keep on ``model`` (made by ``type(model)(*args, **kwargs)``, not yet initialised) the config its arguments
    give, or why there is none."""
    signature = inspect.signature(type(model).__init__)
    parameters = list(signature.parameters.values())[1:]
    config, problem = None, None
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:  # the constructor itself will say what is wrong
        problem = _VALUES
    else:
        bound.apply_defaults()
        arguments = dict(list(bound.arguments.items())[1:])
        for parameter in parameters:
            if parameter.kind is parameter.VAR_KEYWORD:
                arguments |= arguments.pop(parameter.name)
        arguments.pop("name", None)  # get_config writes the model's own name
        extra = [arguments.pop(p.name) for p in parameters if p.kind is p.VAR_POSITIONAL]
        if any(p.kind is p.POSITIONAL_ONLY for p in parameters) or any(extra):
            problem = _POSITIONAL
        elif all(isinstance(leaf, SIMPLE) for leaf in tree.flatten(arguments)):
            config = arguments
        else:
            problem = _VALUES
    model.__dict__["_auto_config"], model.__dict__["_auto_config_problem"] = config, problem


def auto_config(model, base: dict) -> dict:
    """``model``'s config from its recorded arguments: ``name`` first, then the arguments, then ``base``'s other
    keys (``trainable``, ``dtype``), as Keras orders them; NotImplementedError when there is none."""
    recorded = model.__dict__.get("_auto_config")
    cls = type(model)
    if recorded is None:
        how = ("define get_config (and from_config) that return and take them, as Keras' guide shows: "
               "config = super().get_config(); config.update({'units': self.units}); return config")
        if model.__dict__.get("_auto_config_problem") == _POSITIONAL:
            raise NotImplementedError(
                f"Model '{model.name}' ({cls.__name__}) cannot make its config automatically: its __init__ takes "
                f"positional-only or variadic (*args) arguments, which a config cannot hold. Remove them, or {how}.")
        raise NotImplementedError(
            f"Model '{model.name}' ({cls.__name__}) cannot make its config automatically: its __init__ was given "
            "values other than strings, numbers, bools, None and lists, tuples or dicts of these, so the model "
            f"must define its own get_config to be saved whole: {how}. Or save its weights (save_weights).")
    parameters = inspect.signature(cls.__init__).parameters
    takes_kwargs = "kwargs" in parameters and parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    config = {"name": base["name"], **recorded} if "name" in parameters or takes_kwargs else dict(recorded)
    return config | {key: value for key, value in base.items() if key != "name"}
