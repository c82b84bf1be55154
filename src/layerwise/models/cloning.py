"""Keras' ``clone_model``: the same architecture with new layers (new weights, unless the clone
function returns the original layers)."""
from __future__ import annotations

from copy import deepcopy
from typing import Callable

from layerwise.layers.core import InputLayer
from layerwise.models.functional import Functional
from layerwise.models.model import Model, deserialize_layer
from layerwise.models.sequential import Sequential


def _fresh_copy(layer):
    """A layer of the same class and config, with newly initialised weights."""
    if isinstance(layer, Model) and not isinstance(layer, (Sequential, Functional)):  # a subclassed model: its class
        return type(layer).from_config(layer.get_config())
    return deserialize_layer({"class_name": type(layer).__name__, "config": layer.get_config()})


def clone_model(model, input_tensors=None, clone_function: Callable | None = None, call_function=None,
                recursive: bool = False):
    """A new Sequential or functional model with the architecture of ``model``.

    Each layer is replaced by ``clone_function(layer)`` (default: a fresh layer of the same config, so the
    clone starts from new random weights; ``lambda layer: layer`` shares them). With ``recursive``,
    nested Sequential and functional models are cloned layer by layer rather than passed to
    ``clone_function`` whole. A compiled model's clone is compiled as Keras compiles it: with the same loss,
    metrics and settings and a new optimizer of the same config.
    """
    if input_tensors is not None or call_function is not None:
        raise NotImplementedError("clone_model's input_tensors and call_function are not supported; build the "
                                  "new graph with the functional API instead.")
    if not isinstance(model, (Sequential, Functional)):
        raise ValueError(f"clone_model needs a Sequential or functional model; {model.name!r} is a subclassed "
                         f"{type(model).__name__}, whose architecture lives in its code: create a new instance.")
    clone = clone_function or _fresh_copy

    def clone_layer(layer):
        if recursive and isinstance(layer, (Sequential, Functional)):
            return clone_model(layer, clone_function=clone_function, recursive=True)
        return clone(layer)

    if isinstance(model, Sequential):
        copy = Sequential(name=model.name)
        if model._graph:  # its Input, under its name, as Keras' clone keeps it
            copy.add(_fresh_copy(model._graph[0].node.layer))
        else:
            copy.batch_input_shape = model.batch_input_shape  # so that each added layer builds at once
        for layer in model.layers:
            copy.add(clone_layer(layer))
        copy._trainable = model._trainable
        return _compiled_as(copy, model)
    config = model.get_config()
    layers = [_fresh_copy(layer) if isinstance(layer, InputLayer) else clone_layer(layer)
              for layer in model._layers]
    return _compiled_as(Functional.from_config(config, layers=layers), model)


def _compiled_as(clone, model):
    """``clone`` compiled as ``model`` is, if it is: metric objects are copied so that the two models never
    share running totals, and the optimizer is a new one (its state belongs to the original's weights)."""
    if model._compile_config is not None:
        arguments = {key: value for key, value in model._compile_config.items() if key != "optimizer"}
        optimizer = model._compile_config["optimizer"]
        clone.compile(optimizer=type(optimizer).from_config(optimizer.get_config()), **deepcopy(arguments))
    return clone
