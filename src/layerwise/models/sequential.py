"""Sequential: a stack of layers, built lazily, run through an execution plan."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from layerwise.backend import get_device
from layerwise.layers.base import Layer, Shape, call_in_mode, unique_name
from layerwise.layers.penalties import outermost_call
from layerwise.layers.core import InputLayer
from layerwise.layers.symbolic import KerasTensor, is_symbolic, symbolic_call
from layerwise.models.inputs import (as_input_tensor, carrying_mask, rank_adjusted, reshape_hint, shape_fits,
                                     with_rank_of)
from layerwise.models.model import Model, deserialize_layer
from layerwise.models.plan import build_plan
from layerwise.saving_registry import loading_scope


class Sequential(Model):
    """``Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), ...])`` or built with ``add``.

    The model builds itself as soon as its input shape is known: from an ``Input``, from the first
    layer's ``input_shape``, or from the first batch it sees. Like every Keras model it starts in
    inference mode (dropout off); ``fit`` switches to training mode and back.

    Once built it also has Keras' symbolic graph (``inputs``, ``outputs``, each layer's ``input`` and
    ``output``), so ``Model(model.inputs, [layer.output for layer in model.layers])`` extracts features
    with the same layers. The model itself never runs that graph: it runs its plan.
    """

    def __init__(self, layers: list | None = None, name: str | None = None, trainable: bool = True):
        super().__init__(name)
        self.batch_input_shape: Shape | None = None
        self.output_shapes: list[Shape] = []
        self._plan: list | None = None
        self._built_from_call = False  # built from data rather than an Input: only the last axis is fixed
        # [input, output of layer 0, output of layer 1, ...]: the layers called on symbolic tensors
        self._graph: list[KerasTensor] = []
        self._graph_paused = True  # Keras traces the graph once for the constructor's list, not per layer
        for layer in layers or []:
            self.add(layer)
        self._graph_paused = False
        if self.built:
            self._extend_graph()
        if not trainable:  # as in Keras, the default leaves layers frozen beforehand frozen
            self.trainable = False
        self.eval()

    # ---- structure ----------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; if the model's input shape is known, build it now (a wrong shape fails here)."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Sequential([Input((4,)), ...]): Input returns its symbolic tensor
        if isinstance(layer, (InputLayer, Layer, Model)):
            self._check_new_name(layer.name)
        if isinstance(layer, InputLayer):
            if len(self._layers):
                raise ValueError("An Input can only be the first entry of a Sequential model.")
            self.batch_input_shape = layer.batch_input_shape
            self._graph = [layer.output]
            self._input_name = layer.name  # the user's Input: a layer may not take its name either
            return
        if not isinstance(layer, (Layer, Model)):
            kind = type(layer).__name__
            if kind in ("TextVectorization", "StringLookup"):  # numpy string work, before any tensor
                raise TypeError(f"{kind} cannot be a layer of a model here: it turns numpy strings into ids before "
                                "the model. Call it on the texts first (ids = vectorizer(texts)), or map a dataset "
                                "through it, and start the model with Embedding.")
            raise TypeError(f"Sequential.add expects a layerwise layer or model, got {kind}. "
                            "Wrap PyTorch modules in a Layer subclass.")
        if not len(self._layers) and self.batch_input_shape is None and layer.batch_input_shape is not None:
            self.batch_input_shape = layer.batch_input_shape
        self._layers.append(layer)
        layer.train(self.training)  # it joins in the model's mode (an augmentation layer alone is in training mode)
        self._plan = None
        if self.batch_input_shape is not None:
            try:
                self.build(self.batch_input_shape)
            except ValueError:
                del self._layers[-1]  # leave the model as it was before the failed add
                self._plan = build_plan(self.layers)
                raise

    def _check_new_name(self, name: str) -> None:
        """Keras' rule: the layers of a Sequential (its Input included) have distinct names."""
        taken = [layer.name for layer in self._layers] + [self.__dict__.get("_input_name")]
        if name in taken:
            raise ValueError(f"All layers added to a Sequential model should have unique names. Name '{name}' is "
                             f"already the name of a layer in model '{self.name}'. Update the `name` argument to "
                             "pass a unique name.")

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not len(self._layers):
            raise IndexError(f"Sequential model '{self.name}' has no layers to pop.")
        layer = self._layers[-1]
        del self._layers[-1]
        self._plan, self.output_shapes = None, self.output_shapes[:-1]
        self._graph = self._graph[:len(self._layers) + 1]
        return layer

    # ---- building -----------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return bool(self.output_shapes) and len(self.output_shapes) == len(self._layers)

    def build(self, input_shape: Shape) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first). A fixed batch size, as
        ``Input((5, 3), batch_size=4)``, ``build((4, 5, 3))`` or the first batch (``_build_for_batches``) give, stays in
        the input and output shapes, as in Keras."""
        shape = tuple(input_shape)
        device = self.device()
        shapes = []
        for layer in self._layers:
            shape = layer.build_from(shape, device)
            shapes.append(shape)
        self.batch_input_shape = tuple(input_shape)
        self.output_shapes = shapes
        self._plan = build_plan(self.layers)
        self._extend_graph()

    def _build_for_batches(self, shape: Shape, batch_size: int | None = None) -> None:
        """Build from the first batch's ``shape`` (``batch_size`` rows at most), keeping its batch size in the
        input and output shapes and the summary, as Keras does. As for a layer's weights, only the last axis is
        then fixed: Keras takes other lengths later (the Sequential inside a transformer block)."""
        rows = shape[0] if batch_size is None or shape[0] is None else min(batch_size, shape[0])
        self.build((rows, *shape[1:]))
        self._built_from_call = True

    def _extend_graph(self) -> None:
        """Call the layers not yet in the symbolic graph on its last tensor (a new Input when the input
        shape changed), as Keras' Sequential does once its input shape is known."""
        if self._graph_paused:
            return
        # Keras wraps each traced graph in a new Functional model, which takes the next automatic
        # "functional" name: the user's next Model(...) is named as in Keras.
        unique_name("functional")
        if not self._graph or tuple(self._graph[0].shape[1:]) != tuple(self.batch_input_shape[1:]):
            # Without the user's Input, Keras puts one of the first layer's dtype: ids stay integers for a lookup
            ids = len(self._layers) and getattr(self._layers[0], "takes_ids", False)
            self._graph = [InputLayer(self.batch_input_shape[1:], batch_size=self.batch_input_shape[0],
                                      dtype="int64" if ids else None).output]
        for layer in self._layers[len(self._graph) - 1:]:
            self._graph.append(layer(self._graph[-1]))

    def _graph_end(self, what: str) -> list[KerasTensor]:
        """The graph's [input, output], or an AttributeError naming what is missing."""
        if not len(self._layers):
            reason = "it has no layers"
        elif not self.built:
            reason = "its input shape is not known yet (start it with Input(shape), as in Keras)"
        elif len(self._graph) != len(self._layers) + 1:
            reason = f"layer '{self._layers[len(self._graph) - 1].name}' cannot be called on symbolic tensors"
        else:
            return [self._graph[0], self._graph[-1]]
        raise AttributeError(f"Sequential model '{self.name}' has no {what}: {reason}.")

    @property
    def inputs(self) -> list[KerasTensor]:
        """``[Input]`` of the model's symbolic graph (known once its input shape is)."""
        return self._graph_end("inputs")[:1]

    @property
    def outputs(self) -> list[KerasTensor]:
        """``[symbolic output]`` of the last layer in the model's symbolic graph."""
        return self._graph_end("outputs")[1:]

    @property
    def input(self) -> KerasTensor:
        return self._graph_end("input")[0]

    @property
    def output(self) -> KerasTensor:
        return self._graph_end("output")[1]

    def build_from(self, input_shape: Shape, device: torch.device | None = None) -> Shape:
        """Used as a layer of another model (Keras' nested models): build or check, return the output shape."""
        if self.built:
            self.check_input(tuple(input_shape))
        else:
            self.to(device or get_device())
            self.build(input_shape)
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for inputs of ``input_shape``: the built model's, with their batch size."""
        if not self.built:
            self.build(input_shape)
        return (tuple(input_shape)[0], *self.output_shape[1:])

    @property
    def input_shape(self) -> Shape | None:
        return self.batch_input_shape

    @property
    def output_shape(self) -> Shape | None:
        return self.output_shapes[-1] if self.built else None

    @property
    def input_names(self) -> list[str]:
        return ["input"]

    @property
    def output_names(self) -> list[str]:
        """One output, named after the last layer as in Keras (``y={name: array}`` is accepted)."""
        return [self._layers[-1].name if len(self._layers) else "output"]

    def check_input(self, shape: tuple) -> None:
        """Raise a ValueError naming the first layer if inputs of ``shape`` do not fit the model."""
        expected = self.batch_input_shape
        got = tuple(shape)
        if expected is None:
            return
        if self._built_from_call:
            expected = (*[None] * (len(expected) - 1), expected[-1])
        if not shape_fits(expected, rank_adjusted(expected, got)):
            first = self._layers[0] if len(self._layers) else None
            name = f"layer '{first.name}' ({type(first).__name__})" if first is not None else "the model"
            raise ValueError(f"Input to {name} of model '{self.name}' has the wrong shape: expected "
                             f"{expected} (batch first), received {got}." + reshape_hint(expected, got))

    # ---- copying ------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        # The plan's steps are closures over this model's layers: a deepcopy would keep computing
        # with the original's weights and pickle cannot store them, so copies rebuild their own plan.
        state = super().__getstate__()
        return {**state, "_plan": None}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if self.built:
            self._plan = build_plan(self.layers)

    # ---- running ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = getattr(x, "_keras_mask", None)
        if self.batch_input_shape is not None and x.dim() != len(self.batch_input_shape):
            x = with_rank_of(self.batch_input_shape, x)  # (n, 28, 28) images for Input((28, 28, 1)), as Keras
        if mask is not None:  # a masked input (this model nested in a masked graph): each layer's call hands it along
            x._keras_mask = mask
            for layer in self.layers:
                x = layer(x)
            return x
        for step in self._plan:
            x = step(x)
        return x

    def __call__(self, x, *args, **kwargs):
        # [x] or (x,) is the one input in a list, as Keras takes it (a nested list of numbers is data).
        if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], (np.ndarray, torch.Tensor, KerasTensor)):
            x = x[0]
        if is_symbolic(x):
            return symbolic_call(self, x, kwargs)
        mask = kwargs.pop("mask", None)  # Keras' Sequential.call(inputs, mask=...), else the input's own
        mask = getattr(x, "_keras_mask", None) if mask is None else mask
        x = as_input_tensor(x, self.device(), self._graph[0].dtype if self._graph else "float32")
        if mask is not None:
            x = carrying_mask(x, mask)
        if not self.built:
            self._build_for_batches(tuple(x.shape))
        self.check_input(x.shape)
        with outermost_call(self):
            return call_in_mode(self, kwargs.pop("training", None), nn.Module.__call__, self, x, *args, **kwargs)

    # Keras' summary arguments (show_trainable, expand_nested, layer_range, ...) on top of Model.summary's print_fn.

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras' config: ``name``, ``trainable``, ``dtype``, ``layers`` (the Input first once the input shape is
        known, each layer as Keras serializes it) and ``build_input_shape`` (``models/model_config.py``)."""
        from layerwise.models.model_config import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        """The model ``get_config`` described (Keras' form, rebuilt as ``model_from_json`` rebuilds it), its user's
        classes looked up in ``custom_objects`` too; the form earlier layerwise versions wrote (``input_shape`` and
        ``{"class_name", "config"}`` layers) still loads."""
        from layerwise.keras_models import model_from_keras_config

        if "input_shape" not in config:  # layerwise's earlier form always has input_shape
            return model_from_keras_config({"class_name": "Sequential", "config": config}, custom_objects)
        model = cls(name=config["name"])
        if config.get("input_shape"):
            model.batch_input_shape = tuple(config["input_shape"])
        with loading_scope(custom_objects, "from_config"):
            for spec in config["layers"]:
                model.add(deserialize_layer(spec))
        model._trainable = config.get("trainable", True)  # the layers' own settings came with their configs
        return model
