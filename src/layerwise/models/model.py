"""Model: what Sequential and functional models share (weights, freezing, penalties, summary, saving).

As in Keras, ``Model(inputs, outputs)`` makes a functional model (``layerwise.models.functional``)
and ``Sequential`` is a Model too. Both keep their layers in ``self._layers`` in Keras' order, which is
the order of ``get_weights()`` and of the summary's rows.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from layerwise.backend import floatx, get_device
from layerwise.layers.base import Layer, WeightView
from layerwise.models.summary import print_summary
from layerwise.models.trainer import Trainer


def shape_fits(expected: tuple, got: tuple) -> bool:
    """Same rank, and every size the model knows (after the batch axis) matches."""
    return len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected[1:], got[1:]))


def as_input_tensor(x, device: torch.device) -> torch.Tensor:
    """Data given to a model call as a tensor: arrays and lists become float32 on ``device``, float64 narrows."""
    if not isinstance(x, torch.Tensor):
        return torch.as_tensor(np.asarray(x), dtype=floatx(), device=device)
    return x.to(floatx()) if x.dtype == torch.float64 else x


class Model(Trainer, nn.Module):
    """``Model(inputs, outputs)`` builds a functional model from symbolic tensors (see ``Input``)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            from layerwise.models.functional import Functional
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, name: str):
        nn.Module.__init__(self)
        Trainer.__init__(self)
        self.name = name
        self._layers = nn.ModuleList()

    # ---- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}. Layers: {[layer.name for layer in self._layers]}.")

    def device(self) -> torch.device:
        return next((p.device for p in self.parameters()), get_device())

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

    # ---- files --------------------------------------------------------------------------------
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


def deserialize_layer(spec: dict):
    """A layer or a nested model from ``{"class_name": ..., "config": ...}``, as models' configs hold them."""
    from layerwise import layers as layers_module
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    model_classes = {"Sequential": Sequential, "Functional": Functional}
    cls = model_classes.get(spec["class_name"]) or layers_module.get(spec["class_name"])
    return cls.from_config(spec["config"])
