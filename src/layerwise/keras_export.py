"""Models and weights written as Keras 3 writes them, so Keras (and the tools that read its files) loads them.

- ``.keras`` (``model.save``): a zip of ``config.json`` (the model in Keras' config form: each layer's
  ``get_config``, which is Keras' already, with ``module``, ``registered_name``, ``build_config`` and, in a
  functional model, the ``inbound_nodes`` of each call), ``metadata.json`` and ``model.weights.h5``.
- ``.weights.h5`` (``model.save_weights``): HDF5 groups ``layers/<class name in snake case, made unique in
  order>/vars/<i>`` holding each layer's weights in Keras' layout, with a layer's Keras sublayers (an LSTM's
  ``cell``, a Bidirectional's ``forward_layer``...) as subgroups (``keras_weights.keras_layout``, which the reader
  shares), and the optimizer's variables under ``optimizer/vars`` in Keras 3's order, so Keras resumes training.

An optimizer whose variables Keras' order does not cover (``keras_optimizer_state.py``) travels in one more zip
member, ``layerwise.safetensors`` (its slots in PyTorch's layout), which Keras ignores and layerwise's
``load_model`` reads back. A model Keras' form
cannot describe (a subclassed model, operations on symbolic tensors other than arithmetic) is refused with the
reason, so the caller can save it in layerwise's own format instead.
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile
from typing import Any

import numpy as np
from safetensors.torch import save as save_bytes

from layerwise.keras_optimizer_state import keras_variable_plan, write_optimizer_variables
from layerwise.keras_weights import (holds_layers_by_attribute, is_graph_model, keras_layout, keras_unique_name,
                                     own_weight_views, require_h5py, sublayer_groups)
from layerwise.layers.attention import _HeadsCall
from layerwise.layers.base import to_snake_case
from layerwise.layers.config_forms import built_in
from layerwise.layers.core import InputLayer
from layerwise.layers.saving_hooks import overrides
from layerwise.saving_registry import saved_name

EXTRAS_MEMBER = "layerwise.safetensors"
KERAS_VERSION = "3.15.1"  # the Keras whose files these match (tests/test_keras_export.py loads them in Keras)


# layerwise's arithmetic operations on symbolic tensors that Keras' config form names (as ops, not layers).
KERAS_ARITHMETIC = ("add", "subtract", "multiply", "true_divide", "power", "negative", "absolute")


# Keras' public names of the layers whose class is named otherwise here.
KERAS_CLASS_NAMES = {"GroupedQueryAttention": "GroupQueryAttention"}


class NotKerasDescribable(ValueError):
    """The model holds something Keras' config form cannot describe."""


def keras_model_config(model) -> dict:
    """``model`` as Keras' ``config.json`` describes it, without compile settings: a Sequential or functional model,
    or a subclassed one (its class's name and its config, its own ``get_config``'s or the one made from its
    constructor's arguments; rebuilt from the class)."""
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    if isinstance(model, Sequential):
        has_input = bool(model.batch_input_shape and model._graph)
        layers = [_input_entry(model._graph[0].node.layer)] if has_input else []
        batch = model._graph[0].node.layer.get_config().get("batch_size") if has_input else None
        config = {"name": model.name, "trainable": model._trainable, "layers": layers + [
            _layer_entry(layer, batch) for layer in model.layers]}
        entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
    elif isinstance(model, Functional):
        entry = {"module": "keras.src.models.functional", "class_name": "Functional",
                 "config": _functional_config(model), "registered_name": "Functional"}
    else:  # a subclassed model: its class and config (NotImplementedError, as in Keras, when it has none)
        entry = {"module": type(model).__module__, "class_name": type(model).__name__, "config": model.get_config(),
                 "registered_name": saved_name(type(model)) or type(model).__name__}
    if model.built:  # as Keras, which otherwise builds the model it loads (and its optimizer) for no input shape
        build = model.get_build_config() if hasattr(model, "get_build_config") else None
        entry["build_config"] = build or {"input_shape": None}
    return entry


def _input_entry(layer: InputLayer) -> dict:
    config = layer.get_config()
    batch_shape = [config.get("batch_size")] + list(config["shape"])
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": layer.name,
            "config": {"batch_shape": batch_shape, "dtype": config.get("dtype") or "float32", "sparse": False,
                       "ragged": False, "name": layer.name, "optional": False}}


def _layer_entry(layer, batch: int | None = None) -> dict:
    """``layer``'s entry in a model's config; ``batch`` is the model input's fixed batch size, if it has one."""
    from layerwise.layers.core import Lambda
    from layerwise.layers.operations import TensorOperation
    from layerwise.models.model import Model

    if isinstance(layer, Model):
        return keras_model_config(layer) | {"name": layer.name}
    if isinstance(layer, TensorOperation):
        if layer.op not in KERAS_ARITHMETIC or layer.key is not None or layer.arguments is not None:
            raise NotKerasDescribable(f"layer '{layer.name}' is the operation {layer.op!r} on symbolic tensors, which "
                                      "this Keras export does not write (it writes +, -, *, /, ** and abs).")
        # Keras' arithmetic op classes, whose calls take the operands as they are (tensors and numbers).
        return {"module": "keras.src.ops.numpy", "class_name": layer.type_name, "config": {"name": layer.name},
                "registered_name": layer.type_name}
    # Keras 2's ways to fix a first layer's batch size, which Keras 3's layers refuse: the Input carries it
    config = {key: value for key, value in _nested_in_keras_form(layer.get_config()).items()
              if key not in ("batch_size", "batch_input_shape")}
    # Keras writes a function (by its name, never code) as an object of its own: a Lambda's, and a registered
    # activation ("package>name"; built-in ones stay names).
    functions = ("function", "output_shape") if isinstance(layer, Lambda) else ()
    config |= {key: {"module": "builtins", "class_name": "function", "config": value, "registered_name": "function"}
               for key, value in config.items() if isinstance(value, str) and
               (key in functions or (key.endswith("activation") and ">" in value))}
    entry = {**_module_of(type(layer)), "class_name": KERAS_CLASS_NAMES.get(type(layer).__name__, type(layer).__name__),
             "config": config}
    build = layer.get_build_config()
    # Keras builds attention layers from a query and a value shape ("shapes_dict"); a model's graph builds them.
    if build is not None and build.get("input_shape") is not None and not isinstance(layer, _HeadsCall):
        entry["build_config"] = build
        if getattr(layer, "stateful", False) and build["input_shape"][0] is None:
            # Keras rebuilds a stateful layer only for a fixed batch size: the states' or the model input's
            states = getattr(layer, "states", None)
            own = (layer.batch_input_shape or (None,))[0]  # LSTM(batch_input_shape=...), Keras 2's spelling
            fixed = int(states[0].shape[0]) if states else batch or own
            entry["build_config"] = {"input_shape": [fixed, *build["input_shape"][1:]]}
    return entry


def _module_of(cls: type) -> dict:
    from layerwise.saving_registry import get_registered_name

    if cls.__module__.startswith("layerwise.applications."):  # ConvNeXt's LayerScale...: Keras' module of the same name
        module = "keras.src.applications." + cls.__module__.rpartition(".")[2]
        return {"module": module, "registered_name": cls.__name__}
    if built_in(cls):
        return {"module": "keras.layers", "registered_name": None}
    return {"module": cls.__module__, "registered_name": get_registered_name(cls)}


def _nested_in_keras_form(value: Any) -> Any:
    """A layer config whose inner layers (a Bidirectional's ``layer``, an RNN's ``cell``...) name their module, as
    Keras' ``serialize_keras_object`` writes them: Keras looks classes up by module."""
    from layerwise import layers

    if isinstance(value, list):
        return [_nested_in_keras_form(item) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: _nested_in_keras_form(item) for key, item in value.items()}
    if "class_name" in value and "config" in value and "module" not in value:
        try:
            cls = layers.get(value["class_name"])
        except (ValueError, KeyError):
            return value
        value = {**_module_of(cls), **value}
    return value


def _keras_call(layer, node) -> tuple[list, dict]:
    """A recorded call's (args, kwargs) as Keras records it: an op's operands as its arguments; Attention and
    AdditiveAttention on one list ``[query, value(, key)]``."""
    from layerwise.layers.attention import _AttentionCall, _HeadsCall
    from layerwise.layers.operations import TensorOperation

    if isinstance(layer, TensorOperation):  # its node holds the operands as one list
        return list(node.args), dict(node.kwargs)
    if isinstance(layer, _AttentionCall) and not isinstance(layer, _HeadsCall):
        kwargs = dict(node.kwargs)
        tensors = [node.args, kwargs.pop("value")] + ([kwargs.pop("key")] if "key" in kwargs else [])
        if "query_mask" in kwargs or "value_mask" in kwargs:
            kwargs["mask"] = [kwargs.pop("query_mask", None), kwargs.pop("value_mask", None)]
        return [tensors], kwargs
    return [node.args, *node.more_args], dict(node.kwargs)


def _functional_config(model) -> dict:
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
        if hasattr(value, "node"):
            return reference(value)
        if isinstance(value, dict):
            return {key: structure(item) for key, item in value.items()}
        return [structure(item) for item in value]

    layers = []
    batches = {layer.get_config().get("batch_size") for layer in model._layers if isinstance(layer, InputLayer)}
    batch = batches.pop() if len(batches) == 1 else None
    for layer in model._layers:
        if isinstance(layer, InputLayer):
            layers.append(_input_entry(layer) | {"inbound_nodes": []})
            continue
        nodes = [dict(zip(("args", "kwargs"), map(encode, _keras_call(layer, node))))
                 for node in per_layer.get(id(layer), [])]
        layers.append(_layer_entry(layer, batch) | {"name": layer.name, "inbound_nodes": nodes})
    return {"name": model.name, "trainable": model._trainable, "layers": layers,
            "input_layers": structure(model._input_structure), "output_layers": structure(model._output_structure)}


def keras_compile_config(model) -> dict | None:
    """``compile``'s arguments as Keras 3 writes them (losses by name or ``keras.losses`` config), None before it;
    a model class's own ``get_compile_config``, serialized as Keras serializes it, when it defines one."""
    from layerwise.models.trainer import Trainer
    from layerwise.saving import compile_config  # saving imports this module
    from layerwise.saving_registry import serialize_keras_object

    config = compile_config(model)
    if config is None:
        return None
    if type(model).get_compile_config is not Trainer.get_compile_config:  # its compile_from_config reads it back
        return serialize_keras_object(model.get_compile_config())
    several = isinstance(config["loss"], list)
    losses = [_keras_loss(item) for item in (config["loss"] if several else [config["loss"]])]
    weights = config.get("loss_weights")
    optimizer = config["optimizer"]
    rate = optimizer["config"].get("learning_rate")
    if isinstance(rate, dict):  # a schedule, which Keras looks up in its module
        optimizer = {**optimizer, "config": {**optimizer["config"],
                                             "learning_rate": _with_module(rate, "keras.optimizers.schedules")}}
    return {"optimizer": optimizer, "loss": losses if several else losses[0],
            "loss_weights": None if weights is None or all(w == 1.0 for w in weights) else weights,
            "metrics": _keras_metrics(config.get("metrics")),
            "weighted_metrics": _keras_metrics(config.get("weighted_metrics")),
            "run_eagerly": model.run_eagerly, "steps_per_execution": model.steps_per_execution,
            "jit_compile": model.jit_compile}


def _keras_loss(item: Any) -> Any:
    """A saved loss in Keras' form: a built-in function by its name, one with options as its Keras class."""
    from layerwise.losses import LOSS_CLASSES

    if item is None or isinstance(item, str):
        return item
    if "class_name" in item:
        return _with_module(item, "keras.losses")
    options = {key: value for key, value in item.items() if key != "name"}
    if not options:
        return item["name"]
    cls = LOSS_CLASSES.get("".join(part.capitalize() for part in item["name"].split("_")))
    return item["name"] if cls is None else {"module": "keras.losses", "class_name": cls.__name__,
                                            "config": cls(**options).get_config(), "registered_name": None}


def _keras_metrics(value: Any) -> Any:
    if not value:
        return None
    if isinstance(value, list):
        return [_keras_metrics(item) if isinstance(item, list) else
                (_with_module(item, "keras.metrics") if isinstance(item, dict) else item) for item in value]
    return value


def _with_module(entry: dict, module: str) -> dict:
    if "module" in entry:
        return entry
    return {"module": module if entry.get("registered_name") is None else "builtins", **entry,
            "registered_name": entry.get("registered_name")}


# ---- weights ----------------------------------------------------------------------------------------
def _write_layer(layer, group) -> None:
    if overrides(layer, "save_own_variables"):
        store: dict = {}
        layer.save_own_variables(store)
        own = group.create_group("vars")
        for key, value in store.items():
            own.create_dataset(key, data=_numpy(value))
        return
    if holds_layers_by_attribute(layer):
        own = group.require_group("vars")
        for i, view in enumerate(own_weight_views(layer)):
            own.create_dataset(str(i), data=_numpy(view.to_keras(view.tensor.detach())))
        for name, sub in sublayer_groups(layer):
            _write_any(sub, group.require_group(name))
        return
    group.require_group("vars")
    for path, views in keras_layout(layer):
        target = group.require_group(f"{path}/vars" if path else "vars")
        for i, view in enumerate(views):
            target.create_dataset(str(i), data=_numpy(view.to_keras(view.tensor.detach())))


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def write_model_weights(model, group) -> None:
    """``model``'s layers into ``group`` (an h5py group) in Keras 3's layout."""
    if is_graph_model(model):
        layers, used = group.create_group("layers"), {}
        for layer in model.layers:
            _write_any(layer, layers.create_group(keras_unique_name(to_snake_case(type(layer).__name__), used)))
    else:
        for name, layer in sublayer_groups(model):
            _write_any(layer, group.require_group(name))
    own = group.require_group("vars")  # a subclassed model's own weights (add_weight), as Keras writes them
    for i, view in enumerate(own_weight_views(model)):
        own.create_dataset(str(i), data=_numpy(view.to_keras(view.tensor.detach())))


def _write_any(layer, group) -> None:
    (write_model_weights if hasattr(layer, "layers") else _write_layer)(layer, group)


def weights_h5_bytes(model, optimizer: bool = False) -> bytes:
    """The bytes of a Keras 3 ``.weights.h5`` file of ``model`` (with its optimizer's variables if asked)."""
    h5py = require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_model_weights(model, f)
        if optimizer:
            write_optimizer_variables(model, f)
    return buffer.getvalue()


def keras_archive_bytes(model) -> bytes:
    """The bytes of a Keras 3 ``.keras`` archive of ``model`` (NotKerasDescribable when it cannot be one)."""
    from layerwise.saving import optimizer_tensors

    spec = keras_model_config(model)
    compile_config = keras_compile_config(model)
    if compile_config is not None:
        spec["compile_config"] = compile_config
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "written_by": "layerwise"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(spec))
        archive.writestr("model.weights.h5", weights_h5_bytes(model, optimizer=True), zipfile.ZIP_STORED)
        if keras_variable_plan(model) is None:  # an optimizer whose variables Keras' order does not hold
            slots = optimizer_tensors(model)
            if slots:
                archive.writestr(EXTRAS_MEMBER, save_bytes(slots))
    return buffer.getvalue()
