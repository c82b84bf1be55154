"""Keras 3's ``keras.ops`` on PyTorch: ``from layerwise import ops`` then ``ops.mean(x, axis=-1)``.

Every op takes torch tensors, numpy arrays and Python numbers and returns torch tensors with Keras'
semantics, argument names and defaults. Called on symbolic tensors (``Input``...) an op records a node
of the functional model instead, which the model runs, summarises and saves like arithmetic on
symbolic tensors (see ``layers/operations.py``).

Modules: ``core`` (conversion, ``cast``, ``shape``, ``cond``, ``slice``, ``scatter``), ``numpy`` (element-wise
maths, reductions, products), ``elementwise`` (the rest of the element-wise maths), ``reductions`` (statistics),
``arrays``, ``matrices`` and ``shaping`` (creation, shapes, indexing, sorting), ``nn`` and ``nn_extra``
(activations, normalizations, attention), ``convolution``, ``ctc``, ``linalg``, ``image``, ``fourier`` (FFT,
STFT) and ``control_flow`` (``scan``, ``while_loop``, ``segment_sum``...). As in Keras, ``ops.numpy``,
``ops.nn``, ``ops.linalg`` and ``ops.image`` also name their families.
"""
from layerwise.ops import (arrays, control_flow, convolution, core, ctc, elementwise, fourier, image, linalg,
                           matrices, nn, nn_extra, numpy, reductions, shaping)
from layerwise.ops.arrays import *  # noqa: F401,F403
from layerwise.ops.control_flow import *  # noqa: F401,F403
from layerwise.ops.convolution import *  # noqa: F401,F403
from layerwise.ops.core import (cast, cond, convert_to_numpy, convert_to_tensor, scatter, shape, slice,
                                stop_gradient)
from layerwise.ops.ctc import *  # noqa: F401,F403
from layerwise.ops.elementwise import *  # noqa: F401,F403
from layerwise.ops.fourier import *  # noqa: F401,F403
from layerwise.ops.linalg import *  # noqa: F401,F403
from layerwise.ops.matrices import *  # noqa: F401,F403
from layerwise.ops.nn import *  # noqa: F401,F403
from layerwise.ops.nn_extra import *  # noqa: F401,F403
from layerwise.ops.numpy import *  # noqa: F401,F403
from layerwise.ops.reductions import *  # noqa: F401,F403
from layerwise.ops.shaping import *  # noqa: F401,F403

_NUMPY_LIKE = (arrays, elementwise, matrices, numpy, reductions, shaping)
__all__ = ["arrays", "control_flow", "convolution", "core", "ctc", "elementwise", "fourier", "image", "linalg",
           "matrices", "nn", "nn_extra", "numpy", "reductions", "shaping", "cast", "cond", "convert_to_numpy",
           "convert_to_tensor", "scatter", "shape", "slice", "stop_gradient",
           *[name for module in (*_NUMPY_LIKE, nn, nn_extra, convolution, ctc, linalg, control_flow, fourier)
             for name in module.__all__]]

# keras.ops.numpy names every NumPy-like op, wherever it is written here.
for _module in _NUMPY_LIKE:
    for _name in _module.__all__:
        setattr(numpy, _name, getattr(_module, _name))
numpy.slogdet, numpy.vectorize = linalg.slogdet, control_flow.vectorize  # Keras lists these there too
