"""The configs of Sequential and functional models in Keras 3's form, as ``get_config()`` returns them and the
``.keras`` export and ``to_json`` write them (one writer for all three).

A Sequential's config lists its InputLayer (when its input shape is known) and each layer as Keras'
``serialize_keras_object`` writes it (``module``, ``class_name``, ``config``, ``registered_name``,
``build_config``), with ``build_input_shape``. A functional model's lists each layer with ``name`` and the calls
that fed it (``inbound_nodes``: ``{"args", "kwargs"}`` whose tensors are ``__keras_tensor__`` references
``[layer name, call index, output index]``), and ``input_layers`` / ``output_layers`` as such references.

With ``strict`` (the ``.keras`` export) an operation Keras' form cannot name raises ``NotKerasDescribable``;
otherwise (``get_config``, ``to_json``) it is written as layerwise's ``TensorOperation`` entry, which only
layerwise reads back.
"""
from __future__ import annotations

from layerwise import dtype_policies
from layerwise.keras_export import KERAS_NAMED_OPS, layer_entry
from layerwise.layers.core import InputLayer
from layerwise.models.functional import Functional


def input_entry(layer: InputLayer) -> dict:
    """An InputLayer as Keras serializes it in a model's config."""
    return {"module": "keras.layers", "class_name": "InputLayer", "config": layer.get_config(),
            "registered_name": None}


def sequential_config(model, strict: bool = False) -> dict:
    """Keras' ``Sequential.get_config()``: name, trainable, dtype, layers (the Input first once the input shape is
    known) and ``build_input_shape`` (batch axis first) of a built model."""
    has_input = bool(model.batch_input_shape and model._graph)
    first = model._graph[0].node.layer if has_input else None
    batch = first.batch_input_shape[0] if has_input else None
    layers = [input_entry(first)] if has_input else []
    config = {"name": model.name, "trainable": model._trainable,
              "dtype": dtype_policies.serialize(model.dtype_policy),
              "layers": layers + [layer_entry(layer, batch, strict) for layer in model.layers]}
    if has_input:
        config["build_input_shape"] = tuple(first.batch_input_shape)
    return config


def _call_arguments(layer, node) -> tuple[list, dict]:
    """A recorded call's (args, kwargs) as Keras records it: an op's operands as its arguments; Attention and
    AdditiveAttention on one list ``[query, value(, key)]``; the arguments as given, by position or by name."""
    from layerwise.layers.attention import _AttentionCall, _HeadsCall
    from layerwise.layers.operations import TensorOperation

    if isinstance(layer, TensorOperation):  # its node holds the operands as one list
        if layer.op in KERAS_NAMED_OPS and layer.arguments is not None:  # Keras' call: x1, x2 for NotEqual
            return layer.call_options(KERAS_NAMED_OPS[layer.op], list(node.args))[1:]
        return list(node.args), dict(node.kwargs)
    if isinstance(layer, _AttentionCall) and not isinstance(layer, _HeadsCall):
        kwargs = dict(node.kwargs)
        tensors = [node.args, kwargs.pop("value")] + ([kwargs.pop("key")] if "key" in kwargs else [])
        if "query_mask" in kwargs or "value_mask" in kwargs:
            kwargs["mask"] = [kwargs.pop("query_mask", None), kwargs.pop("value_mask", None)]
        return [tensors], kwargs
    if node.first_keyword is not None:  # a call that named every argument: all of them keywords, as Keras records it
        return [], {node.first_keyword: node.args, **node.kwargs}
    return [node.args, *node.more_args], dict(node.kwargs)


def functional_config(model, strict: bool = False) -> dict:
    """Keras' ``Functional.get_config()``: name, trainable, layers (with ``name`` and ``inbound_nodes``),
    ``input_layers`` and ``output_layers``, in the structure (one, list, dict) the model was made with."""
    calls: dict[int, int] = {}  # node -> its index among its layer's calls in this model
    per_layer: dict[int, list] = {}
    for node in model._nodes:
        calls[id(node)] = len(per_layer.setdefault(id(node.layer), []))
        per_layer[id(node.layer)].append(node)

    def reference(tensor) -> list:
        return [tensor.node.layer.name, calls[id(tensor.node)], tensor.index]

    def encode(value):
        if hasattr(value, "node") and hasattr(value, "index"):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(value.shape), "dtype": value.dtype, "keras_history": reference(value)}}
        if isinstance(value, dict):
            return {key: encode(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(item) for item in value]
        return value

    def structure(value):
        if hasattr(value, "node"):  # Keras counts a nested functional model's calls from 1 here (see keras_models)
            name, call, index = reference(value)
            return [name, call + 1 if isinstance(value.node.layer, Functional) else call, index]
        if isinstance(value, dict):
            return {key: structure(item) for key, item in value.items()}
        return [structure(item) for item in value]

    layers = []
    batches = {layer.batch_input_shape[0] for layer in model._layers if isinstance(layer, InputLayer)}
    batch = batches.pop() if len(batches) == 1 else None
    for layer in model._layers:
        if isinstance(layer, InputLayer):
            layers.append(input_entry(layer) | {"name": layer.name, "inbound_nodes": []})
            continue
        nodes = [dict(zip(("args", "kwargs"), map(encode, _call_arguments(layer, node))))
                 for node in per_layer.get(id(layer), [])]
        layers.append(layer_entry(layer, batch, strict) | {"name": layer.name, "inbound_nodes": nodes})
    return {"name": model.name, "trainable": model._trainable, "layers": layers,
            "input_layers": structure(model._input_structure), "output_layers": structure(model._output_structure)}
