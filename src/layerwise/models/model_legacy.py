"""The reader of the functional-model config earlier layerwise versions wrote (``get_config()`` and the
``model_config`` of layerwise's own files before they took Keras' form), so that those files still load.

That form lists the layers as ``{"class_name", "config"}`` and the calls in order as ``nodes``
(``{"layer": index, "args", "kwargs", "more_args"?}``), whose tensors are ``{"node": k, "output": i}``
references; ``inputs`` and ``outputs`` are such references in the model's structure (dicts as ``{"dict": ...}``).
"""
from __future__ import annotations

from layerwise.layers.core import InputLayer
from layerwise.layers.symbolic import KerasTensor
from layerwise.models.model import deserialize_layer
from layerwise.models.outputs import flat_outputs
from layerwise.saving_registry import loading_scope


def legacy_functional(cls: type, config: dict, custom_objects: dict | None = None, layers: list | None = None):
    """A ``cls`` model from the earlier form; ``layers`` (one per entry of ``config["layers"]``) replaces the
    layers it would create."""
    if layers is None:
        with loading_scope(custom_objects, "from_config"):
            layers = [deserialize_layer(spec) for spec in config["layers"]]
    produced: list[list[KerasTensor]] = []

    def decode(value):
        if isinstance(value, dict) and "node" in value:
            return produced[value["node"]][value["output"]]
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value["dict"].items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    for spec in config["nodes"]:
        layer = layers[spec["layer"]]
        if isinstance(layer, InputLayer):
            produced.append([layer.output])
            continue
        out = layer(decode(spec["args"]), *decode(spec.get("more_args", [])), **decode(spec["kwargs"]))
        produced.append(flat_outputs(out))
    model = cls(decode(config["inputs"]), decode(config["outputs"]), name=config["name"])
    model._trainable = config.get("trainable", True)  # the layers' own settings came with their configs
    return model
