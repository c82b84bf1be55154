"""Model: what Sequential, functional and subclassed models share (weights, freezing, penalties,
summary, saving).

As in Keras, ``Model(inputs, outputs)`` makes a functional model (``layerwise.models.functional``),
``Sequential`` is a Model too, and a subclass that sets layers as attributes in ``__init__`` and
defines ``call(self, inputs)`` is a model as well (``class Autoencoder(Model)``); it learns from its
first data whether ``inputs`` is one tensor, a list or a dict. ``layers`` lists
the layers in Keras' order, which is the order of ``get_weights()`` and of the summary's rows:
Sequential and functional models keep them in ``self._layers``; a subclassed model's are its
attributes, in the order they were set (lists and dicts of layers included, each layer once).
"""
from __future__ import annotations

import functools
import inspect
import json

import numpy as np
import torch
from torch import nn

from layerwise import dtype_policies
from layerwise.backend import float_dtype, get_device
from layerwise.dtype_policies.autocast import region
from layerwise.layers.base import Layer, call_in_mode, to_snake_case, unique_name
from layerwise.layers.config_forms import built_in, unrecognized_keywords
from layerwise.layers.containers import track_layers_in_containers, tracked_container
from layerwise.layers.dtype_hooks import LayerDTypes
from layerwise.layers.own_weights import OwnWeights
from layerwise.layers.penalties import LayerPenalties, outermost_call
from layerwise.layers.saving_hooks import overrides
from layerwise.layers.weight_lists import WeightLists
from layerwise.datasets.adapt import as_array_tensor, split_parts
from layerwise.datasets.iterable import first_item
from layerwise.layers.symbolic import is_symbolic, symbolic_call
from layerwise.models.auto_config import auto_config, record_arguments
from layerwise.models.inputs import as_input_tensor
from layerwise.models.model_weights import ModelWeights
from layerwise.models.summary import model_summary
from layerwise.models.trainer import Trainer
from layerwise.models.user_build import first_call, free_axes, recording_build, run_user_build


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    return next((t for t in value if isinstance(t, torch.Tensor)), None) if isinstance(value, (list, tuple)) \
        else None


def _forward_in_policy(forward):
    """A model's ``forward`` run under the model's dtype policy: a mixed model enters ``torch.autocast`` once,
    for all its layers (see ``dtype_policies/autocast.py``); a float32 one outside autocast runs as it is."""

    @functools.wraps(forward)
    def forward_in_policy(self, *args, **kwargs):
        if self._plain_policy and region.dtype is None:
            return forward(self, *args, **kwargs)
        return self._call_in_policy(functools.partial(forward, self), args, kwargs, cast_outputs=False)

    return forward_in_policy


_FUNCTIONAL_KINDS: dict[type, type] = {}


def _functional_kind(cls: type) -> type:
    """The class ``cls(inputs, outputs)`` makes for ``class CustomModel(Model)``: as in Keras, such a model is
    functional, so it is an instance of a class of the same name deriving from ``cls`` and ``Functional``
    (made once per subclass); ``cls``'s overrides (``train_step``...) come first."""
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    if issubclass(cls, (Functional, Sequential)):
        return cls
    if cls not in _FUNCTIONAL_KINDS:
        _FUNCTIONAL_KINDS[cls] = type(cls.__name__, (cls, Functional),
                                      {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _FUNCTIONAL_KINDS[cls]


# Keras 2 methods that Keras 3 removed, with what to write instead (for the error message).
_KERAS2_METHODS = {
    "predict_classes": "np.argmax(model.predict(x), axis=-1), or (model.predict(x) > 0.5).astype('int32') for "
                       "one sigmoid output",
    "predict_proba": "model.predict(x)",
    "fit_generator": "model.fit(generator, steps_per_epoch=..., validation_data=..., validation_steps=...)",
    "evaluate_generator": "model.evaluate(generator, steps=...)",
    "predict_generator": "model.predict(generator, steps=...)",
}


class Model(OwnWeights, ModelWeights, WeightLists, Trainer, LayerPenalties, LayerDTypes, nn.Module):
    """``Model(inputs, outputs)`` builds a functional model from symbolic tensors (see ``Input``);
    subclass it and define ``call(self, inputs[, training])`` for a model written as Python code; such a model may
    make weights of its own as a layer does (``add_weight``, ``add_variable``, a ``Variable`` attribute), listed
    before its layers' weights (``layers/own_weights.py``, ``models/model_weights.py``).
    ``dtype`` is the model's dtype policy (the global one when left out), as in Keras: a mixed model's
    forward runs under ``torch.autocast``, and ``compile`` under ``"mixed_float16"`` scales the loss."""

    unbuilt_hint = " A model is also built by an Input as its first layer, or by calling it on data."

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _forward_in_policy(cls.__dict__["forward"])
        if "build" in cls.__dict__ and not built_in(cls):  # a user's model's own build
            cls.build = recording_build(cls.__dict__["build"])

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs):
            from layerwise.models.functional import Functional
            return object.__new__(Functional)
        if is_symbolic(args[:1] or kwargs.get("inputs")) and (len(args) == 2 or "outputs" in kwargs):
            return object.__new__(_functional_kind(cls))
        model = object.__new__(cls)
        if not built_in(cls):  # a user's model: its config when it defines none (auto_config.py)
            record_arguments(model, args, kwargs)
        return model

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None, **kwargs):
        if kwargs:  # a subclass's misspelt argument, passed on with the rest (Keras' ValueError)
            raise unrecognized_keywords(type(self), kwargs)
        nn.Module.__init__(self)
        Trainer.__init__(self)
        self.name = name or unique_name(default_model_name(self))
        self._init_dtype_policy(dtype)
        self._layers = nn.ModuleList()
        self._trainable = bool(trainable)
        self._called_output_shape = None  # a subclassed model's, from its first call (see build)
        self._marked_built = False  # Keras' ``self.built = True`` in a model without a call (see built)
        self._call_takes_training = "training" in inspect.signature(self.call).parameters
        self._input_keys: int | list | None = None  # a subclassed model's inputs: one, a list of n, dict keys
        self._output_keys: int | list | None = None  # and its outputs, from its first call
        self._added_losses: list[torch.Tensor] = []  # add_loss (LayerPenalties'), as a layer's
        self._activity_losses: list[torch.Tensor] = []  # none: a model has no activity regularizer
        self._init_own_weights()  # add_weight, as a layer's (Keras' Model is a Layer)
        self.eval()

    def __setattr__(self, name: str, value) -> None:
        value = tracked_container(value)  # Keras tracks layers in lists and dicts (containers.py)
        super().__setattr__(name, value)
        self._track_variable_attribute(name, value)
        if isinstance(value, nn.Module) and "training" in self.__dict__:
            value.train(self.training)  # a layer joins in the model's mode (inference until fit)

    # ---- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        tracked: dict[int, Layer] = {}  # by identity: a layer set under two names is one layer
        for module in self._modules.values():
            items = module.values() if isinstance(module, nn.ModuleDict) else \
                module if isinstance(module, nn.ModuleList) else [module]
            tracked.update((id(m), m) for m in items if isinstance(m, (Layer, Model)))
        return list(tracked.values())

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or the one at ``index`` in ``layers`` (negative counts from the end);
        give exactly one of them. Errors use Keras' wording."""
        if name is not None and index is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: index={index}, name={name}.")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(self.layers)} layers.")
            return self.layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")

    def device(self) -> torch.device:
        return next((p.device for p in self.parameters()), get_device())

    # ---- subclassed models: call, build, shapes ----------------------------------------------------
    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(
            f"Model '{self.name}' has no call(): subclass layerwise.Model, create layers in __init__ and define "
            "call(self, inputs), or build the model with Model(inputs, outputs) or Sequential([...]).")

    def forward(self, *inputs):
        """A subclassed model's ``call`` on its inputs as it takes them (one tensor, a list or a dict),
        given ``training`` when its signature takes it (as Keras does)."""
        if isinstance(self._input_keys, list):
            inputs = (dict(zip(self._input_keys, inputs)),)
        elif self._input_keys is not None:
            inputs = (list(inputs),)
        if self._call_takes_training:
            return self.call(*inputs, training=self.training)
        return self.call(*inputs)

    def _adopt_input_structure(self, x) -> None:
        """A subclassed model learns from its first data whether it takes one array, a list or a dict."""
        if type(self).call is Model.call or self.built:
            return
        if isinstance(x, dict):
            self._input_keys = list(x)
        elif isinstance(x, (list, tuple)) and len(x) > 1 and all(isinstance(v, (np.ndarray, torch.Tensor))
                                                                  for v in x):
            self._input_keys = len(x)

    def __call__(self, *args, **kwargs):
        if is_symbolic(args) or is_symbolic(kwargs):  # a part of a functional model, as in Keras
            return symbolic_call(self, args[0], kwargs, args[1:])
        if len(args) == 1 and isinstance(args[0], (list, tuple, dict)):
            self._adopt_input_structure(args[0])
            if self._input_keys is not None:  # several inputs travel flat, as the trainer passes them
                args = tuple(args[0][k] for k in self._input_keys) if isinstance(args[0], dict) else tuple(args[0])
            elif isinstance(args[0], dict) or all(isinstance(v, (np.ndarray, torch.Tensor)) for v in args[0]):
                raise ValueError(f"Model '{self.name}' was built for one input; received a "
                                 f"{type(args[0]).__name__} of {len(args[0])}.")
        device = self.device()
        args = tuple(as_input_tensor(a, device) if isinstance(a, (np.ndarray, torch.Tensor)) else a for a in args)
        if not self.built:
            self._build_by_calling(args)
        with outermost_call(self):
            return call_in_mode(self, kwargs.pop("training", None), nn.Module.__call__, self, *args, **kwargs)

    @property
    def built(self) -> bool:
        return self._called_output_shape is not None or self._marked_built

    @built.setter
    def built(self, value: bool) -> None:
        # A model with a call records its shapes at its first call, which nothing else can stand for; one
        # without (a GAN wrapping two models, driven by its own train_step) has nothing to build.
        self._marked_built = bool(value) and type(self).call is Model.call

    def build(self, input_shape) -> None:
        """Build a subclassed model by calling it once on one row of zeros of ``input_shape`` (a list of
        shapes for several inputs)."""
        # A subclass's own build has run already (this is its super().build()): it must not run again, which
        # would make its add_weight weights twice.
        self._build_by_calling(self._zeros_for(input_shape), user_build=False)

    def _zeros_for(self, input_shape, size: int = 1) -> tuple:
        """One row of zeros per input of ``input_shape`` (a list, or a dict by input name, of shapes for several
        inputs), ``size`` where an axis is unknown; the model learns how many inputs it takes from it."""
        if isinstance(input_shape, dict):
            if self._input_keys is None:
                self._input_keys = list(input_shape)
            input_shape = list(input_shape.values())
        several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (tuple, list))
        shapes = input_shape if several else [input_shape]
        if several and self._input_keys is None:
            self._input_keys = len(shapes)
        return tuple(torch.zeros((1, *(size if d is None else d for d in tuple(shape)[1:])), dtype=float_dtype(),
                                 device=self.device()) for shape in shapes)

    def build_from(self, input_shape, device: torch.device | None = None, more_args: tuple = ()):
        """Used as a layer of another model (a Sequential's, or called on ``Input`` tensors), as in Keras: built
        once by calling it on zeros of ``input_shape``; returns its output shape(s), ``None`` on each axis that
        follows an unknown input axis."""
        if more_args:
            raise NotImplementedError(f"Model '{self.name}' ({type(self).__name__}) was called on symbolic tensors "
                                      "as several positional arguments: pass its inputs as one list or dict.")
        if not self.built:
            if device is not None:
                self.to(device)
            self._build_by_calling(self._zeros_for(input_shape))
            shapes = list(input_shape.values()) if isinstance(input_shape, dict) else \
                input_shape if isinstance(self._input_keys, int) else [input_shape]
            if any(None in tuple(shape)[1:] for shape in shapes):  # which output axes follow them: call once more
                self._called_output_shape = free_axes(self._called_output_shape,
                                                      first_call(self, self._zeros_for(input_shape, 2)))
        return self._called_output_shape

    def _build_by_calling(self, args: tuple, user_build: bool = True) -> None:
        """Run ``call`` once in inference mode without gradients, recording input and output shapes (after the
        subclass's own ``build``, unless that is what is running)."""
        if user_build and run_user_build(self, args):
            return
        track_layers_in_containers(self)
        seen: dict[int, tuple] = {}

        def record(layer, _inputs, output):
            first = _first_tensor(output)
            if first is not None:
                seen.setdefault(id(layer), (None, *first.shape[1:]))

        hooks = [layer.register_forward_hook(record) for layer in self.layers]
        try:
            out = first_call(self, args)
        finally:
            for hook in hooks:
                hook.remove()
        outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
        if isinstance(out, dict):
            self._output_keys, self._output_structure = list(out), dict.fromkeys(out)  # predict returns a dict
        elif isinstance(out, (list, tuple)):
            self._output_keys, self._output_structure = len(out), type(out)()  # predict returns a tuple for one
        first = args[0]
        # Plain attributes, as Sequential keeps them: each layer's output shape ("?" if call did not use it).
        self.batch_input_shape = (None, *first.shape[1:])
        self._built_input_shapes = [(None, *a.shape[1:]) for a in args if isinstance(a, torch.Tensor)]
        self.output_shapes = [seen.get(id(layer), "?") for layer in self.layers]
        shapes = [(None, *o.shape[1:]) for o in outs]
        self._called_output_shape = shapes if self._output_keys is not None else shapes[0]

    @property
    def input_shape(self):
        return getattr(self, "batch_input_shape", None)

    @property
    def output_shape(self):
        return self._called_output_shape

    def check_input(self, shape) -> None:
        """A subclassed model's own layers check their inputs (naming the layer)."""

    @property
    def input_names(self) -> list[str]:
        if isinstance(self._input_keys, list):
            return self._input_keys
        return ["input"] if self._input_keys is None else [f"input_{i + 1}" for i in range(self._input_keys)]

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._output_keys, list):
            return self._output_keys
        return ["output"] if self._output_keys is None else [f"output_{i + 1}" for i in range(self._output_keys)]

    def _outputs_known(self) -> bool:
        """Whether ``output_names`` is final: a subclassed model knows its outputs once it has been called."""
        return type(self).call is Model.call or self.built

    def _build_from_data(self, x) -> None:
        """Build an unbuilt subclassed model by calling it on the first row of ``x`` (arrays, or the first
        batch of a dataset)."""
        if self._outputs_known():
            return
        if not isinstance(x, (np.ndarray, torch.Tensor, list, tuple, dict)):
            batch = first_item(x)
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            self._adopt_input_structure(x)
        names = self.input_names
        parts = split_parts(x, names, "x", "input")
        rows = tuple(as_array_tensor(p[:1], f"x '{n}'", self.device()) for p, n in
                     zip(parts if isinstance(parts, tuple) else (parts,), names))
        self._build_by_calling(rows)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        """``Model.from_config(model.get_config())``: the functional model the config describes, its user's
        classes looked up in ``custom_objects`` too; a subclassed model is ``cls(**config)``, as in Keras."""
        from layerwise.models.functional import Functional
        if cls is Model:
            return Functional.from_config(config, custom_objects)
        try:
            return cls(**config)
        except TypeError as error:  # as Keras, which cannot revive it either
            raise TypeError(f"{cls.__name__} cannot be rebuilt from its config {config}: {error}. Its __init__ must "
                            "take every key of its get_config() (take **kwargs and pass them to super().__init__), "
                            "or the class must define from_config.") from error

    def get_config(self) -> dict:
        """A subclassed model's base config, which its own ``get_config`` extends (``{**super().get_config(),
        "units": ...}``) as in Keras; without one, the config is made from the constructor's arguments when they
        are simple (strings, numbers, bools, None, lists and dicts of these), else NotImplementedError, as in Keras
        (``auto_config.py``). ``save`` then writes the model whole and ``load_model`` rebuilds it from its class
        (registered, or in ``custom_objects``)."""
        base = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policies.serialize(self.dtype_policy)}
        return base if type(self).get_config is not Model.get_config else auto_config(self, base)

    def get_build_config(self) -> dict | None:
        """``{"input_shape": ...}`` a built subclassed model was built for (a list of shapes for several inputs),
        as Keras records it; None before it is built or for dict inputs, which shapes alone cannot rebuild."""
        shapes = getattr(self, "_built_input_shapes", None)
        if shapes is None or isinstance(self._input_keys, list):
            return None
        return {"input_shape": list(shapes[0]) if self._input_keys is None else [list(s) for s in shapes]}

    def build_from_config(self, config: dict | None) -> None:
        """Build as ``get_build_config`` recorded (what ``load_model`` does before loading the weights)."""
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            several = bool(shape) and isinstance(shape[0], (list, tuple))
            self.build([tuple(s) for s in shape] if several else tuple(shape))

    # ---- weights (the lists are ModelWeights') ---------------------------------------------------
    @property
    def trainable(self) -> bool:
        """The model's own setting, as in Keras: True with some layers frozen (their weights are not trained)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self._set_own_requires_grad()
        for layer in self.layers:
            layer.trainable = value

    summary = model_summary  # Keras' table: layer (type), output shape, parameter count, and the totals

    # ---- files --------------------------------------------------------------------------------
    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (``json.dumps`` keywords pass through), in Keras 3's config form so that
        ``keras.models.model_from_json`` reads it too; ``models.model_from_json`` rebuilds it with new weights.
        An operation Keras' form cannot name is written as layerwise's (which only layerwise reads back). Compile
        settings are not included (``get_compile_config`` gives them)."""
        from layerwise.keras_export import keras_model_config
        return json.dumps(keras_model_config(self, strict=False), **kwargs)

    def _own_spec(self) -> dict:
        """The architecture as layerwise's files hold it (``save`` to a name not ending in ``.keras``):
        ``{"class_name", "config"}``, ``get_config()``'s Keras form (files of earlier versions hold layerwise's earlier
        form, which still loads). A subclassed model is described as Keras describes it (class, config, build)."""
        from layerwise.keras_export import keras_model_config
        from layerwise.keras_weights import is_graph_model

        if is_graph_model(self):
            return {"class_name": type(self).__name__, "config": self.get_config()}
        return keras_model_config(self)

    def compile_from_config(self, config: dict) -> None:
        """Compile with what ``get_compile_config`` returned (Keras' form) or a layerwise file recorded;
        ``load_model`` calls it."""
        from layerwise.saving import compile_from_config
        compile_from_config(self, config)

    def save(self, filepath, overwrite: bool = True, zipped: bool | None = None) -> None:
        """Write architecture, weights and optimizer state to one file (atomically)."""
        from layerwise.saving import save_model
        save_model(self, filepath, overwrite=overwrite, zipped=zipped)

    def save_weights(self, filepath, overwrite: bool = True, max_shard_size: float | None = None) -> None:
        from layerwise.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def export(self, filepath, format: str = "tf_saved_model", verbose: bool | None = None, input_signature=None,
               **kwargs) -> None:
        """Write the built model for inference, as Keras: ``format="torch"`` (a ``.pt2`` ExportedProgram; ``kwargs``
        go to ``torch.export.export``) or ``"onnx"`` (``opset_version=``); see ``models/export.py``."""
        from layerwise.models.export import export_model
        export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def reset_states(self) -> None:
        """Forget the state each stateful layer carries between batches (Keras 2's ``model.reset_states()``, still
        in the courses' stateful LSTM loops; Keras 3 resets each layer, ``layer.reset_states()``)."""
        for module in self.modules():
            if module is not self and getattr(module, "stateful", False) and hasattr(module, "reset_states"):
                module.reset_states()

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name not in _KERAS2_METHODS:
                raise
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}' (Keras 2's, removed in "
                                 f"Keras 3): write {_KERAS2_METHODS[name]}.") from None

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        from layerwise.saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)


Model.forward = _forward_in_policy(Model.forward)


def default_model_name(model) -> str:
    """Keras' automatic name: the class's in snake case (``sequential``; a user's ``CustomModel(inputs, outputs)``
    ``custom_model``, a Sequential subclass ``my_seq``), ``functional`` for ``Model(inputs, outputs)``."""
    cls = type(model)
    return "functional" if cls.__module__.startswith("layerwise.") and cls.__name__ == "Functional" else \
        to_snake_case(cls.__name__)


def layer_spec(layer) -> dict:
    """``{"class_name": ..., "config": ...}`` of a layer in a model's config, with the ``build_config`` of a
    layer whose class defines how it is built from one (see ``layers/saving_hooks.py``)."""
    spec = {"class_name": type(layer).__name__, "config": layer.get_config()}
    if overrides(layer, "get_build_config") or overrides(layer, "build_from_config"):
        spec["build_config"] = layer.get_build_config()
    return spec


def deserialize_layer(spec: dict):
    """A layer or a nested model from ``layer_spec``'s dict, built from its ``build_config`` when it has one."""
    from layerwise import layers as layers_module
    from layerwise.saving_registry import find_custom_object
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    model_classes = {"Sequential": Sequential, "Functional": Functional}
    own = find_custom_object(spec["class_name"])  # a user's model nested in this one (registered, custom_objects)
    cls = model_classes.get(spec["class_name"]) or \
        (own if isinstance(own, type) and issubclass(own, Model) else layers_module.get(spec["class_name"]))
    layer = cls.from_config(spec["config"])
    if spec.get("build_config"):
        layer.build_from_config(spec["build_config"])
    return layer
