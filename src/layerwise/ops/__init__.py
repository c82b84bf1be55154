"""Keras 3's ``keras.ops`` on PyTorch: ``from layerwise import ops`` then ``ops.mean(x, axis=-1)``.

Every op takes torch tensors, numpy arrays and Python numbers and returns torch tensors with Keras'
semantics, argument names and defaults. Called on symbolic tensors (``Input``...) an op records a node
of the functional model instead, which the model runs, summarises and saves like arithmetic on
symbolic tensors (see ``layers/operations.py``).

Modules: ``core`` (conversion, ``cast``, ``shape``, ``cond``, ``slice``, ``scatter``), ``numpy``
(element-wise maths, reductions, products), ``arrays`` (creation, shapes, indexing, sorting), ``nn``
(activations, ``one_hot``, crossentropies, ``moments``, ``normalize``).
"""
from layerwise.ops import arrays, core, nn, numpy
from layerwise.ops.arrays import *  # noqa: F401,F403
from layerwise.ops.core import (cast, cond, convert_to_numpy, convert_to_tensor, scatter, shape, slice,
                                stop_gradient)
from layerwise.ops.nn import *  # noqa: F401,F403
from layerwise.ops.numpy import *  # noqa: F401,F403

__all__ = ["arrays", "core", "nn", "numpy", "cast", "cond", "convert_to_numpy", "convert_to_tensor", "scatter",
           "shape", "slice", "stop_gradient", *arrays.__all__, *numpy.__all__, *nn.__all__]
