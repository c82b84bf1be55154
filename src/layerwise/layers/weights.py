"""A layer's weights as Keras sees them: each ``WeightView`` pairs the torch tensor a layer stores (in
PyTorch's layout) with the maps to and from Keras' layout, so ``get_weights``/``set_weights`` speak Keras
while the hot path never transposes."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from layerwise import initializers
from layerwise.backend import float_dtype


def numpy_for_torch(value) -> np.ndarray:
    """``value`` as a numpy array torch can read: the ``ml_dtypes`` floats Keras gives (``bfloat16`` under a
    bfloat16 policy), which torch cannot convert, as float32 (exact for bfloat16)."""
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == "V" else array


class WeightView:
    """One Keras weight: the torch tensor that holds it and the maps to and from Keras' layout. ``key`` names it
    in a saved file (default ``name``): a layer's own sublayers' weights are keyed by attribute path, as Keras
    saves them, so a model rebuilt with other automatic layer names still loads."""

    def __init__(self, name: str, tensor: torch.Tensor, trainable: bool = True,
                 to_keras: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
                 from_keras: Callable[[torch.Tensor], torch.Tensor] = lambda t: t, key: str | None = None):
        self.name, self.tensor, self.trainable = name, tensor, trainable
        self.to_keras, self.from_keras = to_keras, from_keras
        self.key = name if key is None else key

    def held_by(self, layer, name: str | None = None, key: str | None = None) -> "WeightView":
        """This weight as listed by a layer that holds ``layer`` (a wrapper, an RNN's cell, a sublayer): renamed
        when given, and not trainable while ``layer`` is frozen, whatever the holder's own setting."""
        return WeightView(self.name if name is None else name, self.tensor, self.trainable and layer.trainable,
                          self.to_keras, self.from_keras, key=self.key if key is None else key)

    @property
    def keras_shape(self) -> tuple[int, ...]:
        return tuple(self.to_keras(self.tensor.detach()).shape)

    def set_keras_value(self, value, layer_name: str) -> None:
        """Copy ``value`` (Keras' layout) in; a ValueError naming the layer, the weight and both shapes otherwise."""
        value = torch.as_tensor(numpy_for_torch(value), dtype=self.tensor.dtype)
        if tuple(value.shape) != self.keras_shape:
            raise ValueError(f"Layer '{layer_name}' weight '{self.name}' has shape {self.keras_shape}; "
                             f"received {tuple(value.shape)}.")
        with torch.no_grad():
            self.tensor.copy_(self.from_keras(value).to(self.tensor.device))


def new_parameter(initializer, keras_shape: tuple[int, ...], to_torch: Callable = lambda t: t) -> nn.Parameter:
    """A parameter drawn by a Keras initializer in Keras' layout, stored in PyTorch's."""
    value = initializers.get(initializer)(keras_shape, float_dtype())
    return nn.Parameter(to_torch(value).contiguous())
