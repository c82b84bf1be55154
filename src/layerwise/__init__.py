"""layerwise: the Keras API for classic deep-learning models, running as native PyTorch.

``import layerwise as keras`` then write Keras code: ``keras.Sequential``, ``keras.Model(inputs, outputs)``,
``keras.layers.Dense``, ``keras.Input``, ``keras.optimizers.Adam``, ``keras.utils.to_categorical``.
"""
from layerwise import (activations, callbacks, config, initializers, layers, losses, metrics, models,
                       optimizers, utils)
from layerwise import applications, ops, random
from layerwise import dtype_policies, mixed_precision, tree, wrappers
from layerwise.backend import device
from layerwise.constraints import Constraint
from layerwise.dtype_policies import DTypePolicy, FloatDTypePolicy
from layerwise.initializers import Initializer
from layerwise.layers import Input, InputSpec, Layer
from layerwise.layers.symbolic import KerasTensor
from layerwise.losses import Loss
from layerwise.metrics import Metric
from layerwise.models import Model, Sequential, load_model
from layerwise.optimizers import Optimizer
from layerwise.regularizers import Regularizer
from layerwise.scopes import name_scope
from layerwise.variables import Variable

__version__ = "0.1.0"


def version() -> str:
    """The installed version, as ``keras.version()``."""
    return __version__


__all__ = ["Constraint", "Initializer", "Layer", "Loss", "Metric", "Optimizer", "Regularizer", "version"]
__all__ += ["Input", "InputSpec", "KerasTensor", "Model", "Sequential", "activations", "callbacks", "config",
            "initializers", "layers", "load_model", "losses", "metrics", "models", "optimizers", "utils"]
__all__ += ["Variable", "applications", "ops", "random"]
__all__ += ["dtype_policies", "mixed_precision", "wrappers"]
__all__ += ["DTypePolicy", "FloatDTypePolicy", "device", "name_scope", "tree"]
