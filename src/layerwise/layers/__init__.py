"""Keras layers as PyTorch modules. Inputs are channels-last, as in Keras."""
from layerwise.layers.base import Layer
from layerwise.layers.convolutional import Conv1D, Conv2D, Conv2DTranspose
from layerwise.layers.core import Activation, Dense, Input, InputLayer
from layerwise.layers.normalization import BatchNormalization
from layerwise.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                                      MaxPooling1D, MaxPooling2D)
from layerwise.layers.regularization import Dropout, GaussianNoise
from layerwise.layers.reshaping import Flatten, Reshape, UpSampling2D

__all__ = [
    "Activation", "AveragePooling1D", "AveragePooling2D", "BatchNormalization", "Conv1D", "Conv2D",
    "Conv2DTranspose", "Dense", "Dropout", "Flatten", "GaussianNoise", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer",
    "MaxPooling1D", "MaxPooling2D", "Reshape", "UpSampling2D",
]


def get(class_name: str) -> type:
    """The layer class called ``class_name`` (used when loading a saved model)."""
    if class_name not in __all__ or class_name in ("Input", "Layer"):
        raise ValueError(f"Unknown layer class {class_name!r}.")
    return globals()[class_name]
