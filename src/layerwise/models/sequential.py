"""Sequential: a stack of layers, built lazily, run through an execution plan."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from layerwise import layers as layers_module
from layerwise.backend import floatx, get_device
from layerwise.layers.base import Layer, Shape, WeightView, unique_name
from layerwise.layers.core import InputLayer
from layerwise.models.plan import build_plan
from layerwise.models.summary import print_summary
from layerwise.models.trainer import Trainer


class Sequential(Trainer, nn.Module):
    """``Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), ...])`` or built with ``add``.

    The model builds itself as soon as its input shape is known: from an ``Input``, from the first
    layer's ``input_shape``, or from the first batch it sees. Like every Keras model it starts in
    inference mode (dropout off); ``fit`` switches to training mode and back.
    """

    def __init__(self, layers: list | None = None, name: str | None = None, trainable: bool = True):
        nn.Module.__init__(self)
        Trainer.__init__(self)
        self.name = name or unique_name("sequential")
        self._layers = nn.ModuleList()
        self.batch_input_shape: Shape | None = None
        self.output_shapes: list[Shape] = []
        self._plan: list | None = None
        for layer in layers or []:
            self.add(layer)
        self.trainable = trainable
        self.eval()

    # ---- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        """Append a layer; if the model's input shape is known, build it now (a wrong shape fails here)."""
        if isinstance(layer, InputLayer):
            if len(self._layers):
                raise ValueError("An Input can only be the first entry of a Sequential model.")
            self.batch_input_shape = layer.batch_input_shape
            return
        if not isinstance(layer, (Layer, Sequential)):
            raise TypeError(f"Sequential.add expects a layerwise layer or model, got {type(layer).__name__}. "
                            "Wrap PyTorch modules in a Layer subclass.")
        if not len(self._layers) and self.batch_input_shape is None and layer.batch_input_shape is not None:
            self.batch_input_shape = layer.batch_input_shape
        self._layers.append(layer)
        self._plan = None
        if self.batch_input_shape is not None:
            try:
                self.build(self.batch_input_shape)
            except ValueError:
                del self._layers[-1]  # leave the model as it was before the failed add
                self._plan = build_plan(self.layers)
                raise

    def pop(self) -> Layer:
        layer = self._layers[-1]
        del self._layers[-1]
        self._plan, self.output_shapes = None, self.output_shapes[:-1]
        return layer

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}. Layers: {[layer.name for layer in self._layers]}.")

    # ---- building -----------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return bool(self.output_shapes) and len(self.output_shapes) == len(self._layers)

    def device(self) -> torch.device:
        return next((p.device for p in self.parameters()), get_device())

    def build(self, input_shape: Shape) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first, may be None)."""
        shape = (None, *tuple(input_shape)[1:])
        device = self.device()
        shapes = []
        for layer in self._layers:
            shape = layer.build_from(shape, device)
            shapes.append(shape)
        self.batch_input_shape = (None, *tuple(input_shape)[1:])
        self.output_shapes = shapes
        self._plan = build_plan(self.layers)

    def build_from(self, input_shape: Shape, device: torch.device | None = None) -> Shape:
        """Used as a layer of another model (Keras' nested models): build or check, return the output shape."""
        if self.built:
            self.check_input(tuple(input_shape))
        else:
            self.to(device or get_device())
            self.build(input_shape)
        return (None, *self.output_shape[1:])

    @property
    def input_shape(self) -> Shape | None:
        return self.batch_input_shape

    @property
    def output_shape(self) -> Shape | None:
        return self.output_shapes[-1] if self.built else None

    def check_input(self, shape: tuple) -> None:
        """Raise a ValueError naming the first layer if inputs of ``shape`` do not fit the model."""
        expected = self.batch_input_shape
        got = tuple(shape)
        if expected is None:
            return
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], got[1:])):
            first = self._layers[0] if len(self._layers) else None
            name = f"layer '{first.name}' ({type(first).__name__})" if first is not None else "the model"
            raise ValueError(f"Input to {name} of model '{self.name}' has the wrong shape: expected "
                             f"{expected} (batch first), received {got}.")

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
        for step in self._plan:
            x = step(x)
        return x

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x), dtype=floatx(), device=self.device())
        elif x.dtype == torch.float64:
            x = x.to(floatx())
        if not self.built:
            self.build(tuple(x.shape))
        self.check_input(x.shape)
        return super().__call__(x, *args, **kwargs)

    @property
    def losses(self) -> list[torch.Tensor]:
        """The layers' regularization penalties (see ``Layer.losses``); ``fit`` adds them to the loss."""
        return [penalty for layer in self._layers for penalty in layer.losses]

    def apply_constraints(self) -> None:
        """Project every constrained weight (see ``Layer.apply_constraints``); ``fit`` does it each step."""
        for layer in self._layers:
            layer.apply_constraints()

    # ---- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """All weights in Keras' shapes and order, layer by layer."""
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: list) -> None:
        weights = list(weights)
        expected = sum(len(layer.weight_views()) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}' expects {expected} weight arrays, got {len(weights)}.")
        for layer in self._layers:
            n = len(layer.weight_views())
            layer.set_weights(weights[:n])
            weights = weights[n:]

    def weight_views(self) -> list[WeightView]:
        """Every layer's weights, named ``<layer index>/<weight>`` so that a nested model's are unique."""
        return [WeightView(f"{i}/{view.name}", view.tensor, view.trainable, view.to_keras, view.from_keras)
                for i, layer in enumerate(self._layers) for view in layer.weight_views()]

    @property
    def weights(self) -> list[torch.Tensor]:
        return [w for layer in self._layers for w in layer.weights]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"Model '{self.name}' is not built yet: give it an Input, an input_shape, "
                             "or call it on data first.")
        return sum(layer.count_params() for layer in self._layers)

    @property
    def trainable(self) -> bool:
        return all(layer.trainable for layer in self._layers) if len(self._layers) else self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def summary(self, print_fn=None) -> None:
        """Print Keras' table: layer (type), output shape, parameter count, and the totals."""
        print_summary(self, print_fn or print)

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "input_shape": list(self.batch_input_shape or []) or None,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self._layers]}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        model = cls(name=config["name"])
        if config.get("input_shape"):
            model.batch_input_shape = tuple(config["input_shape"])
        for spec in config["layers"]:
            layer_class = cls if spec["class_name"] == "Sequential" else layers_module.get(spec["class_name"])
            model.add(layer_class.from_config(spec["config"]))
        return model

    def save(self, filepath, overwrite: bool = True) -> None:
        """Write architecture, weights and optimizer state to one file (atomically)."""
        from layerwise.saving import save_model
        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        from layerwise.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        from layerwise.saving import load_weights
        load_weights(self, filepath)
