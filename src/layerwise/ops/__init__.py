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
from layerwise.ops import elementwise
from layerwise.ops.elementwise import *  # noqa: F401,F403
from layerwise.ops.numpy import *  # noqa: F401,F403

__all__ = ["arrays", "core", "nn", "numpy", "cast", "cond", "convert_to_numpy", "convert_to_tensor", "scatter",
           "shape", "slice", "stop_gradient", *arrays.__all__, *numpy.__all__, *nn.__all__]
__all__ += ["elementwise", *elementwise.__all__]
from layerwise.ops import matrices, reductions, shaping  # noqa: E402
from layerwise.ops.matrices import *  # noqa: F401,F403,E402
from layerwise.ops.reductions import *  # noqa: F401,F403,E402
from layerwise.ops.shaping import *  # noqa: F401,F403,E402
__all__ += ["matrices", "reductions", "shaping", *matrices.__all__, *reductions.__all__, *shaping.__all__]
from layerwise.ops import convolution, ctc, linalg, nn_extra  # noqa: E402
from layerwise.ops.convolution import *  # noqa: F401,F403,E402
from layerwise.ops.ctc import *  # noqa: F401,F403,E402
from layerwise.ops.linalg import *  # noqa: F401,F403,E402
from layerwise.ops.nn_extra import *  # noqa: F401,F403,E402
__all__ += ["convolution", "ctc", "linalg", "nn_extra", *convolution.__all__, *ctc.__all__, *linalg.__all__,
            *nn_extra.__all__]
from layerwise.ops import control_flow, fourier, image  # noqa: E402
from layerwise.ops.control_flow import *  # noqa: F401,F403,E402
from layerwise.ops.fourier import *  # noqa: F401,F403,E402
__all__ += ["control_flow", "fourier", "image", *control_flow.__all__, *fourier.__all__]
