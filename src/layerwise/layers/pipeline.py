"""Keras 3's ``Pipeline``: a plain layer that runs a list of layers one after another, typically an image
augmentation pipeline (``Pipeline([RandomFlip(), RandomRotation(0.1), MixUp()])``)."""
from __future__ import annotations

from typing import Any

from torch import nn

from layerwise import saving_registry
from layerwise.layers.base import Layer


class Pipeline(Layer):
    """Applies ``layers`` in order to its input (a tensor, or a dict such as ``{"images": ..., "labels": ...}``
    for layers that take one). Unlike a ``Sequential`` model it is a layer, not a model. As Keras', a pipeline
    called on its own runs its layers in training mode (augmenting); ``training=False``, or the mode of the
    model holding it, runs them in inference mode. The mask each layer's output carries goes to the next."""

    config_trainable = False  # as Keras, whose config of this layer has no "trainable"

    def __init__(self, layers: list, name: str | None = None):
        super().__init__(name=name)
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"Pipeline layers must be layers; layers[{i}] is {layer!r} "
                                 f"({type(layer).__name__}).")
        self._pipeline_layers = nn.ModuleList(layers)
        self.training = True  # Keras' Pipeline.call defaults to training=True

    @property
    def layers(self) -> list[Layer]:
        return list(self._pipeline_layers)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        """Each layer's output shape in turn (building the layers); a dict of shapes passes through."""
        if isinstance(input_shape, dict):
            return input_shape
        shape = tuple(input_shape)
        for layer in self._pipeline_layers:
            shape = layer.build_from(shape)
        return shape

    def forward(self, inputs):
        for layer in self._pipeline_layers:
            inputs = layer(inputs, training=self.training)
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {"layers": saving_registry.serialize_keras_object(self.layers), "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Pipeline":
        from layerwise.models.model import deserialize_layer  # models import the layers package

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"Pipeline config must hold 'layers', a list of serialized layers; received "
                             f"layers={layers!r}.")
        # Keras' entries name "keras.layers" as their module: those are read by class name, as a model's layers.
        restored = [saving_registry.deserialize_keras_object(spec)
                    if not isinstance(spec, dict) or str(spec.get("module", "")).startswith("layerwise")
                    else deserialize_layer(spec) for spec in layers]
        return cls(**{**config, "layers": restored})
