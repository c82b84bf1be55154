"""Models and weights written as Keras 3 writes them, so Keras (and the tools that read its files) loads them.

- ``.keras`` (``model.save``): a zip of ``config.json`` (the model's ``get_config()``, which is Keras' form, written
  by ``models/model_config.py`` with ``layer_entry`` here for each layer: its ``get_config`` with ``module``,
  ``registered_name``, ``build_config``), ``metadata.json`` and ``model.weights.h5``.
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

from layerwise.keras_assets import write_assets
from layerwise.keras_optimizer_state import keras_variable_plan, write_optimizer_variables
from layerwise.keras_weights import (holds_layers_by_attribute, is_graph_model, keras_layout, keras_unique_name,
                                     own_weight_views, require_h5py, sublayer_groups)
from layerwise.layers.attention import _HeadsCall
from layerwise.layers.base import to_snake_case
from layerwise.layers.config_forms import built_in
from layerwise.layers.saving_hooks import overrides
from layerwise.saving_registry import saved_name

EXTRAS_MEMBER = "layerwise.safetensors"
KERAS_VERSION = "3.15.1"  # the Keras whose files these match (tests/test_keras_export.py loads them in Keras)


# layerwise's arithmetic operations on symbolic tensors that Keras' config form names (as ops, not layers).
KERAS_ARITHMETIC = ("add", "subtract", "multiply", "true_divide", "power", "negative", "absolute")


# layerwise.ops functions recorded on symbolic tensors that Keras' config form also names: each with the options
# Keras' op class takes in its constructor (its config), the other arguments going to its call. Masks recorded
# for Embedding(mask_zero=True), Masking and the merge layers are such ops (NotEqual, Any, LogicalOr...), as in
# Keras' own graphs.
KERAS_NAMED_OPS = {op: () for op in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                                     "logical_and", "logical_or", "logical_not")}
KERAS_NAMED_OPS |= {"any": ("axis", "keepdims"), "all": ("axis", "keepdims"), "expand_dims": ("axis",),
                    "concatenate": ("axis",), "zeros_like": ("dtype",), "ones_like": ("dtype",),
                    "convert_to_tensor": ("dtype", "sparse", "ragged")}
KERAS_OP_MODULES = {"convert_to_tensor": "keras.src.ops.core"}  # the others are in keras.src.ops.numpy


# Keras' public names of the layers whose class is named otherwise here.
KERAS_CLASS_NAMES = {"GroupedQueryAttention": "GroupQueryAttention"}


class NotKerasDescribable(ValueError):
    """The model holds something Keras' config form cannot describe."""


def keras_model_config(model, strict: bool = True) -> dict:
    """``model`` as Keras' ``config.json`` describes it, without compile settings: a Sequential or functional model
    (its ``get_config()``, ``models/model_config.py``), or a subclassed one (its class's name and its config, its own
    ``get_config``'s or the one made from its constructor's arguments; rebuilt from the class). With ``strict`` an
    operation Keras cannot rebuild raises ``NotKerasDescribable``; without, it is written in layerwise's form."""
    from layerwise.models.functional import Functional
    from layerwise.models.model_config import functional_config, sequential_config
    from layerwise.models.sequential import Sequential

    if isinstance(model, Sequential):
        entry = {"module": "keras", "class_name": "Sequential", "config": sequential_config(model, strict),
                 "registered_name": None}
    elif isinstance(model, Functional):
        entry = {"module": "keras.src.models.functional", "class_name": "Functional",
                 "config": functional_config(model, strict), "registered_name": "Functional"}
    else:  # a subclassed model: its class and config (NotImplementedError, as in Keras, when it has none)
        entry = {"module": type(model).__module__, "class_name": type(model).__name__, "config": model.get_config(),
                 "registered_name": saved_name(type(model)) or type(model).__name__}
    if model.built:  # as Keras, which otherwise builds the model it loads (and its optimizer) for no input shape
        build = model.get_build_config() if hasattr(model, "get_build_config") else None
        if isinstance(model, Sequential):  # Keras': the shape it was built for
            build = {"input_shape": model.batch_input_shape}
        entry["build_config"] = build or {"input_shape": None}
    # As Keras' serialize_keras_object writes every model: {} when it is not compiled (its loader then skips it)
    entry["compile_config"] = keras_compile_config(model) or {}
    return entry


def layer_entry(layer, batch: int | None = None, strict: bool = True) -> dict:
    """``layer``'s entry in a model's config, as Keras' ``serialize_keras_object`` writes it; ``batch`` is the model
    input's fixed batch size, if it has one. ``strict``: see ``keras_model_config``."""
    from layerwise.layers.core import Lambda
    from layerwise.layers.operations import TensorOperation
    from layerwise.models.model import Model

    if isinstance(layer, Model):
        return keras_model_config(layer, strict) | {"name": layer.name}
    if isinstance(layer, TensorOperation):
        if layer.op in KERAS_ARITHMETIC and layer.key is None and layer.arguments is None:
            # Keras' arithmetic op classes, whose calls take the operands as they are (tensors and numbers).
            return {"module": "keras.src.ops.numpy", "class_name": layer.type_name, "config": {"name": layer.name},
                    "registered_name": layer.type_name}
        if layer.op in KERAS_NAMED_OPS and layer.arguments is not None:
            options = layer.call_options(KERAS_NAMED_OPS[layer.op])[0]
            return {"module": KERAS_OP_MODULES.get(layer.op, "keras.src.ops.numpy"), "class_name": layer.type_name,
                    "config": {"name": layer.name, **options}, "registered_name": layer.type_name}
        if strict:
            raise NotKerasDescribable(f"layer '{layer.name}' is the operation {layer.op!r} on symbolic tensors, which "
                                      "this Keras export does not write (it writes +, -, *, /, ** and abs, "
                                      "comparisons, logical ops, any, all and the ops of masks).")
        return {"module": TensorOperation.__module__, "class_name": "TensorOperation", "config": layer.get_config(),
                "registered_name": None}
    # Keras 2's ways to fix a first layer's batch size, which Keras 3's layers refuse: the Input carries it
    config = {key: value for key, value in _nested_in_keras_form(layer.get_config()).items()
              if key not in ("batch_size", "batch_input_shape")}
    # Keras writes a function (by its name, never code) as an object of its own: a Lambda's, and a registered
    # activation ("package>name"; built-in ones stay names).
    functions = ("function", "output_shape") if isinstance(layer, Lambda) else ()
    config |= {key: {"module": "builtins", "class_name": "function", "config": value, "registered_name": "function"}
               for key, value in config.items() if isinstance(value, str) and
               (key in functions or (key.endswith("activation") and ">" in value))}
    module = _module_of(type(layer))
    entry = {"module": module["module"],
             "class_name": KERAS_CLASS_NAMES.get(type(layer).__name__, type(layer).__name__), "config": config,
             "registered_name": module["registered_name"]}
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
    if cls.__module__.startswith("layerwise.applications."):  # ConvNeXt's LayerScale...: Keras' module of the same name
        module = "keras.src.applications." + cls.__module__.rpartition(".")[2]
        return {"module": module, "registered_name": cls.__name__}
    if built_in(cls):
        return {"module": "keras.layers", "registered_name": None}
    # A class known only by its key in a custom_object_scope keeps that key, as its functions do (saved_name).
    return {"module": cls.__module__, "registered_name": saved_name(cls) or cls.__name__}


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
        own = _vars_group(group, "", layer)
        for key, value in store.items():
            own.create_dataset(key, data=_numpy(value))
        return
    if holds_layers_by_attribute(layer):
        own = _vars_group(group, "", layer)
        for i, view in enumerate(own_weight_views(layer)):
            own.create_dataset(str(i), data=_numpy(view.to_keras(view.tensor.detach())))
        for name, sub in sublayer_groups(layer):
            _write_any(sub, group.require_group(name))
        return
    _vars_group(group, "", layer)
    for path, views in keras_layout(layer):
        target = _vars_group(group, path, layer)
        for i, view in enumerate(views):
            target.create_dataset(str(i), data=_numpy(view.to_keras(view.tensor.detach())))


def _vars_group(group, path: str, owner):
    """The ``<path>/vars`` group of ``owner``'s part at ``path`` (``"forward_layer/cell"``), with Keras' ``name``
    attribute (the part's name) on it and on the ``vars`` groups of the named parts on the way."""
    _name_group(group.require_group("vars"), owner)
    keys, part = [key for key in path.split("/") if key], owner
    for depth, key in enumerate(keys):
        part = getattr(part, key, None)
        if isinstance(getattr(part, "name", None), str):
            _name_group(group.require_group("/".join(keys[:depth + 1]) + "/vars"), part)
    return group.require_group(f"{path}/vars" if path else "vars")


def _name_group(group, owner) -> None:
    """Keras' ``name`` attribute on a ``vars`` group: what ``KerasFileEditor`` and h5 viewers show."""
    if isinstance(getattr(owner, "name", None), str):
        group.attrs["name"] = owner.name


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
    own = _vars_group(group, "", model)  # a subclassed model's own weights (add_weight), as Keras writes them
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
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "written_by": "layerwise"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(spec))
        archive.writestr("model.weights.h5", weights_h5_bytes(model, optimizer=True), zipfile.ZIP_STORED)
        write_assets(model, archive)
        if keras_variable_plan(model) is None:  # an optimizer whose variables Keras' order does not hold
            slots = optimizer_tensors(model)
            if slots:
                archive.writestr(EXTRAS_MEMBER, save_bytes(slots))
    return buffer.getvalue()
