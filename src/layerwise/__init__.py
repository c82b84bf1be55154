"""layerwise: the Keras API for classic deep-learning models, running as native PyTorch.

``import layerwise as keras`` then write Keras code: ``keras.Sequential``, ``keras.Model(inputs, outputs)``,
``keras.layers.Dense``, ``keras.Input``, ``keras.optimizers.Adam``, ``keras.utils.to_categorical``.
"""
from layerwise import (activations, callbacks, config, initializers, layers, losses, metrics, models,
                       optimizers, utils)
from layerwise.layers import Input
from layerwise.layers.symbolic import KerasTensor
from layerwise.models import Model, Sequential, load_model

__version__ = "0.1.0"

__all__ = ["Input", "KerasTensor", "Model", "Sequential", "activations", "callbacks", "config", "initializers",
           "layers", "load_model", "losses", "metrics", "models", "optimizers", "utils"]
