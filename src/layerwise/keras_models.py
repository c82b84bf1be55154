"""Models Keras wrote, rebuilt in layerwise: the model configs of Keras 3 (``model.to_json()``, the
``config.json`` of a ``.keras`` archive) and of Keras 2 (its JSON and legacy ``.h5`` model files), with their
weights and compile settings.

A Keras config names each layer by class and holds its constructor arguments in Keras' forms, which layerwise's
layers take (tests/layers/test_config_parity.py). A Sequential lists its layers. A functional model lists each
layer with the calls that fed it (``inbound_nodes``), whose tensors are ``[layer name, call index, output index]``
references: calling the layers again on layerwise's symbolic tensors, each call once its inputs exist, rebuilds
the graph. The weights then load by Keras' layout (``keras_weights.py``).
"""
from __future__ import annotations

import io
import warnings
import zipfile
from typing import Any

from layerwise.keras_assets import read_assets
from layerwise.keras_weights import (load_keras_weights, open_archive, open_h5, parse_json, read_member,
                                     reading_h5)
from layerwise.saving_registry import find_custom_object, how_to_load, loading_scope

_MODELS = ("Sequential", "Functional", "Model")


def is_keras_config(spec: Any) -> bool:
    """Whether ``spec`` (a parsed model JSON) is in Keras' form rather than layerwise's own."""
    if not isinstance(spec, dict) or spec.get("class_name") not in _MODELS:
        return False
    config = spec.get("config") or {}
    return ("module" in spec or "keras_version" in spec or "input_layers" in config
            or any("module" in entry or {"batch_shape", "batch_input_shape"} & set(entry.get("config", {}))
                   for entry in config.get("layers", [])))


def model_from_keras_config(spec: dict, custom_objects: dict | None = None, layers: list | None = None,
                            cls: type | None = None):
    """The Sequential or functional model a Keras config describes (``{"class_name", "config", ...}``), with new
    weights. The user's classes it names are found as for layerwise's own files (``custom_objects``, registered
    names). For a functional model, ``layers`` (one per entry of its ``layers``, as ``clone_model`` passes them)
    replaces the layers it would create, and ``cls`` (a ``Functional`` class) is the class of the model made."""
    with loading_scope(custom_objects, "model_from_json"):
        if layers is not None or cls is not None:
            model = _functional(spec["config"], layers, cls)
            if spec["config"].get("trainable") is False:
                model.trainable = False
            return model
        return _model(spec)


def load_keras_model(path: str, custom_objects: dict | None = None, compile: bool = True):
    """A model saved by Keras (``.keras`` archive, or a legacy ``.h5`` model file): architecture, weights and, with
    ``compile``, the compile settings and, from archives Keras 3.15 or layerwise wrote, the optimizer's state)."""
    spec, compile_config, legacy = _read_model_file(path)
    model = model_from_keras_config(spec, custom_objects)
    load_keras_weights(model, path)
    if zipfile.is_zipfile(path):
        with open_archive(path) as archive:
            read_assets(model, archive)
    if compile and compile_config:
        with loading_scope(custom_objects, "load_model"):  # a model class's own compile_from_config too, as Keras
            model.compile_from_config(_legacy_compile_config(compile_config) if legacy else compile_config)
        _load_optimizer_slots(model, path)
    return model


def _load_optimizer_slots(model, path: str) -> None:
    """The optimizer's state: from ``model.weights.h5``'s optimizer variables in an archive layerwise or Keras 3.15
    wrote (Keras' order of them changed between Keras 3 versions), or from the member layerwise adds for an
    optimizer Keras' order does not cover. State the file holds but this cannot restore is named in a warning:
    training then restarts from a fresh optimizer state."""
    from safetensors.torch import load as load_bytes

    from layerwise.keras_export import EXTRAS_MEMBER
    from layerwise.keras_optimizer_state import keras_variable_plan, read_optimizer_variables
    from layerwise.saving import load_optimizer_tensors

    if not zipfile.is_zipfile(path):
        return
    with open_archive(path) as archive:
        names = archive.namelist()
        if EXTRAS_MEMBER in names:
            load_optimizer_tensors(model, load_bytes(read_member(archive, EXTRAS_MEMBER, path)), path)
            return
        metadata = _json_object(read_member(archive, "metadata.json", path), path, "metadata.json") \
            if "metadata.json" in names else {}
        with open_h5(io.BytesIO(read_member(archive, "model.weights.h5", path)), path) as f, reading_h5(path):
            stored = f["optimizer/vars"] if "optimizer/vars" in f else {}
            # iterations: no step yet (a LossScaleOptimizer's own count stays 0; its inner optimizer's counts)
            counts = f["optimizer/inner_optimizer/vars"] if "optimizer/inner_optimizer/vars" in f else stored
            if not len(stored) or model.optimizer is None or int(counts["0"][()]) == 0:
                return
            version = str(metadata.get("keras_version"))
            if metadata.get("written_by") != "layerwise" and not version.startswith("3.15."):
                reason = f"it was written by Keras {version}, whose order of optimizer variables is not read here"
            elif read_optimizer_variables(model, f):
                return
            elif keras_variable_plan(model) is None:
                reason = f"Keras' order of {type(model.optimizer).__name__}'s variables is not known here"
            else:
                reason = (f"its {len(stored)} optimizer variables do not match the "
                          f"{len(keras_variable_plan(model))} of the model's {type(model.optimizer).__name__}")
    warnings.warn(f"{path!r}: skipping the optimizer state: {reason}. Training goes on from a fresh optimizer "
                  "state.", stacklevel=4)


def _read_model_file(path: str) -> tuple[dict, dict | None, bool]:
    """(model config, compile config, whether the file is Keras 2's legacy HDF5)."""
    if zipfile.is_zipfile(path):
        with open_archive(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(f"{path!r} is a zip archive without config.json, so not a Keras .keras file.")
            spec = _json_object(read_member(archive, "config.json", path), path, "config.json")
        compiled = spec.get("compile_config")
        if compiled is not None and not isinstance(compiled, dict):
            raise ValueError(f"{path!r} is corrupt: the compile_config of its config.json is a "
                             f"{type(compiled).__name__}, not an object.")
        return spec, compiled, False
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise ValueError(f"{path!r} starts as a zip archive (a Keras .keras file) but is truncated or corrupt.")
    with open_h5(path, path) as f, reading_h5(path):
        if "model_config" not in f.attrs:
            raise ValueError(f"{path!r} holds weights only, not a model: build the model in layerwise with the code "
                             "that built it in Keras, then call model.load_weights on this file.")
        spec = _json_object(_text(f.attrs["model_config"]), path, "model_config")
        training = _json_object(_text(f.attrs["training_config"]), path, "training_config") \
            if "training_config" in f.attrs else None
    return spec, training, True


def _json_object(data, path: str, part: str) -> dict:
    """The JSON object (a dict) ``part`` of the file at ``path``; anything else is reported as damage."""
    value = parse_json(data, path, part)
    if not isinstance(value, dict):
        raise ValueError(f"{path!r} is corrupt: its {part} holds a {type(value).__name__}, not a JSON object.")
    return value


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _legacy_compile_config(training: dict) -> dict:
    """Keras 2's ``training_config`` (``optimizer_config``, ``loss``, ``metrics``...) as Keras 3's compile config."""
    return {"optimizer": training["optimizer_config"], "loss": training.get("loss"),
            "loss_weights": training.get("loss_weights"), "metrics": _flat_metrics(training.get("metrics")),
            "weighted_metrics": _flat_metrics(training.get("weighted_metrics"))}


def _flat_metrics(metrics):
    # Keras 2 writes a single output's metrics as [[...]]; compile takes the inner list.
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list):
        return metrics[0]
    return metrics


def _model(spec: dict):
    if spec.get("class_name") not in _MODELS:
        return _subclassed_model(spec)
    config = spec["config"]
    model = _sequential(config) if spec["class_name"] == "Sequential" else _functional(config)
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _subclassed_model(spec: dict):
    """A subclassed model from its class (registered, or in ``custom_objects``) and config, built as its
    ``build_config`` records so that its weights can load, as Keras rebuilds one."""
    name = str(spec.get("class_name"))
    found = _model_class(spec)
    if found is None:
        raise ValueError(f"A Keras config of a {name!r} is not a Sequential or functional model, and no model class "
                         f"of that name is known: a subclassed model needs its own code. {how_to_load(name)}")
    model = found.from_config(spec.get("config") or {})
    model.build_from_config(spec.get("build_config"))
    return model


def _model_class(spec: dict) -> type | None:
    """The user's model class (registered, or in ``custom_objects``) that ``spec`` names, or None."""
    from layerwise.models.model import Model

    name = str(spec.get("class_name"))
    found = find_custom_object(spec.get("registered_name") or name) or find_custom_object(name)
    return found if isinstance(found, type) and issubclass(found, Model) else None


def _layer(entry: dict):
    """A layer (or nested model) from its ``{"class_name", "config", "build_config"?}`` entry."""
    if entry["class_name"] in _MODELS or _model_class(entry) is not None:  # a nested subclassed model too
        return _model(entry)
    from layerwise import layers

    config = dict(entry["config"])
    batch_input_shape = config.pop("batch_input_shape", None)  # Keras 2 wrote the input shape on the first layer
    if batch_input_shape is not None:
        config["input_shape"], config["batch_size"] = tuple(batch_input_shape[1:]), batch_input_shape[0]
    layer = layers.get(entry["class_name"]).from_config(config)
    if entry.get("build_config"):
        layer.build_from_config(entry["build_config"])
    return layer


def _input(config: dict):
    """``layers.Input`` from an InputLayer's Keras 3 (``batch_shape``) or Keras 2 (``batch_input_shape``) config."""
    from layerwise.layers import Input

    batch_shape = config.get("batch_shape") or config.get("batch_input_shape")
    return Input(batch_shape=tuple(batch_shape), dtype=config.get("dtype"), name=config.get("name"))


def _sequential(config: dict):
    from layerwise.models import Sequential

    model = Sequential(name=config.get("name"))
    for entry in config["layers"]:
        model.add(_input(entry["config"]) if entry["class_name"] == "InputLayer" else _layer(entry))
    if not model.built and config.get("build_input_shape"):
        model.build(tuple(config["build_input_shape"]))
    return model


def _functional(config: dict, layers: list | None = None, cls: type | None = None):
    from layerwise.models import Model

    outputs: dict[tuple[str, int], list] = {}  # (layer name, call index) -> that call's output tensors, flattened
    waiting = []  # per layer: [layer, its calls still to make, index of the next call]
    for i, entry in enumerate(config["layers"]):
        name = entry.get("name") or entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            outputs[(name, 0)] = [layers[i].output if layers is not None else _input(entry["config"])]
        elif entry.get("inbound_nodes"):
            layer = layers[i] if layers is not None else _operation(entry) if _is_operation(entry) else _layer(entry)
            waiting.append([name, layer, list(entry["inbound_nodes"]), 0])
    made = {item[0]: item[1] for item in waiting}  # name -> layer: a nested functional model counts calls from 1
    while waiting:
        progressed = False
        for item in waiting:
            name, layer, calls, index = item
            while calls:
                args, kwargs = _call_arguments(calls[0])
                try:
                    args, kwargs = _resolve(args, outputs), _resolve(kwargs, outputs)
                except KeyError:
                    break  # an input of this call is made by a later call: come back to it
                if _is_operation_layer(layer):
                    result = layer(_operands(layer, args, kwargs))
                else:
                    result = layer(*args, **kwargs)
                outputs[(name, index)] = _flatten(result)
                calls.pop(0)
                item[3] = index = index + 1
                progressed = True
        waiting = [item for item in waiting if item[2]]
        if waiting and not progressed:
            names = ", ".join(repr(item[0]) for item in waiting)
            raise ValueError(f"The Keras config's graph cannot be rebuilt: the inputs of layers {names} are never "
                             "made by any layer in it.")
    inputs = _resolve(_model_references(_references(config["input_layers"]), made, outputs), outputs)
    model_outputs = _resolve(_model_references(_references(config["output_layers"]), made, outputs), outputs)
    return (cls or Model)(inputs=inputs, outputs=model_outputs, name=config.get("name"))


def _is_operation(entry: dict) -> bool:
    """Whether a functional config's entry is one of Keras' ops (``x + y``, ``ops.add``...), not a layer."""
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _operation(entry: dict):
    """The operation an op entry names: the arithmetic ones (Add, Subtract, Multiply, TrueDivide, Power, Negative,
    Absolute) as a layer called on its operands; comparisons, logical ops, Any and All as a function that records
    the op, with the options Keras keeps in its config, on the call's arguments."""
    from layerwise.keras_export import KERAS_ARITHMETIC, KERAS_NAMED_OPS
    from layerwise.layers.base import to_snake_case
    from layerwise.layers.operations import TensorOperation, record_operation

    op = to_snake_case(entry["class_name"])
    name = entry["config"].get("name")
    if op in KERAS_NAMED_OPS:
        options = {key: entry["config"][key] for key in KERAS_NAMED_OPS[op] if key in entry["config"]}
        return lambda *args, **kwargs: record_operation(op, args, {**options, **kwargs}, name=name)
    if op not in KERAS_ARITHMETIC:
        raise ValueError(f"The Keras config applies the operation {entry['class_name']} ({entry['module']}) to "
                         "symbolic tensors; layerwise rebuilds the arithmetic ones (+, -, *, /, ** and abs), "
                         "comparisons, logical ops, any and all. Build the model in layerwise with its code, then "
                         "load the file's weights with load_weights.")
    return TensorOperation(op, name=name)


def _is_operation_layer(layer) -> bool:
    from layerwise.layers.operations import TensorOperation

    return isinstance(layer, TensorOperation)


def _call_arguments(node) -> tuple[list, dict]:
    """(args, kwargs) of one recorded call: Keras 3's ``{"args", "kwargs"}`` or Keras 2's list of
    ``[name, call index, output index, kwargs]`` (one tensor, or a list of them, as the first argument).

    Left out: ``training`` (Keras records ``training=False`` for every call, and its functional models set it
    for every call when they run, as layerwise's do) and ``mask`` when it is None (nested models' calls take
    none here). A mask Keras recorded (its ``NotEqual`` for an Embedding(mask_zero=True)) stays, as in Keras.
    """
    if isinstance(node, dict):
        def kept(key, value):
            return key != "training" and not (key == "mask" and value is None)
        kwargs = {key: value for key, value in node.get("kwargs", {}).items() if kept(key, value)}
        return list(node.get("args", [])), kwargs
    tensors = [_Reference(*ref[:3]) for ref in node]
    kwargs = node[0][3] if len(node[0]) > 3 else {}
    return [tensors[0] if len(tensors) == 1 else tensors], dict(kwargs)


class _Reference(tuple):
    """``(layer name, call index, output index)`` of a tensor in a Keras config."""

    def __new__(cls, name: str, node: int, index: int):
        return super().__new__(cls, (name, node, index))


def _references(value):
    """``input_layers`` / ``output_layers``: one ``[name, node, index]``, a list of them, or a dict of them."""
    if isinstance(value, dict):
        return {key: _references(item) for key, item in value.items()}
    if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return _Reference(*value)
    return [_references(item) for item in value]


def _model_references(value, made: dict, outputs: dict):
    """``input_layers`` / ``output_layers`` (``_references``) with each reference to a nested functional model's
    call made 0-based: Keras counts those from 1 there (the model's first node is its own graph's), and reads 0 as
    its last call."""
    from layerwise.models.functional import Functional

    if isinstance(value, _Reference):
        if not isinstance(made.get(value[0]), Functional):
            return value
        count = sum(1 for name, _ in outputs if name == value[0])
        return _Reference(value[0], value[1] - 1 if value[1] >= 1 else count - 1, value[2])
    if isinstance(value, dict):
        return {key: _model_references(item, made, outputs) for key, item in value.items()}
    return [_model_references(item, made, outputs) for item in value]


def _resolve(value, outputs: dict):
    """``value`` with every tensor reference replaced by the symbolic tensor it names (KeyError: not made yet)."""
    if isinstance(value, _Reference):
        return outputs[(value[0], value[1])][value[2]]
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return _resolve(_Reference(*value["config"]["keras_history"]), outputs)
        return {key: _resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(item, outputs) for item in value]
    return value


def _operands(operation, args: list, kwargs: dict) -> list:
    """What an op layer is called on: an arithmetic op its operands as recorded (tensors and numbers); a named op
    (one of a clone's) its symbolic inputs, in the order its recorded arguments hold them."""
    from layerwise.layers.symbolic import flatten_tensors

    return list(args) if operation.arguments is None else flatten_tensors([args, list(kwargs.values())])


def _flatten(value) -> list:
    if isinstance(value, dict):
        return [t for item in value.values() for t in _flatten(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    return [value]
