"""RMSNormalization: scales each sample by the reciprocal root mean square over ``axis``, then by ``scale``."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import WeightView, new_parameter


class RMSNormalization(Layer):
    """``x * rsqrt(mean(x ** 2, axis) + epsilon) * scale`` on any shape; ``scale`` (initially ones) has the sizes
    of the ``axis`` axes (an int or a list of ints, default the last). Same in training and inference.

    As Keras, building turns ``axis`` into a sorted list (which ``get_config`` then gives) and ``scale`` has the
    sizes of the axes in that order. Trailing axes run PyTorch's fused ``rms_norm``.
    """

    def __init__(self, axis=-1, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(axis, int) or (isinstance(axis, (list, tuple)) and axis
                                          and all(isinstance(a, int) for a in axis))):
            raise ValueError(f"RMSNormalization axis must be an int or a list of ints, got {axis!r}.")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = epsilon

    def _keras_axes(self) -> list[int]:
        return sorted(self.axis) if isinstance(self.axis, list) else [self.axis]

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        n = len(input_shape)
        axes = self._keras_axes()
        if any(not -n <= a < n for a in axes):
            raise ValueError(self._shape_message(f"an input with the axes {self.axis}", input_shape))
        if any(a % n == 0 for a in axes):  # over the batch axis, each sample's output would depend on the others'
            raise ValueError(self._shape_message(f"non-batch axes (axis 0 is the batch), got axis={self.axis}",
                                                 input_shape))
        if len({a % n for a in axes}) != len(axes):
            raise ValueError(self._shape_message(f"distinct axes, got axis={self.axis}", input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(self._shape_message(f"known sizes along axis {self.axis}", input_shape))
        if self.built and tuple(input_shape[a] for a in axes) != tuple(self.scale.shape):
            raise ValueError(self._shape_message(f"sizes {tuple(self.scale.shape)} along axis {self.axis} (what "
                                                 "its scale was built for)", input_shape))

    def build(self, input_shape: Shape) -> None:
        self.axis = self._keras_axes()
        self.scale = new_parameter("ones", tuple(input_shape[a] for a in self.axis))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape -> the same shape."""
        positive = [a % x.ndim for a in self.axis]
        trailing = list(range(x.ndim - len(positive), x.ndim))
        if positive == trailing:  # PyTorch's fused kernel normalises the trailing axes
            return F.rms_norm(x, tuple(x.shape[a] for a in positive), self.scale, self.epsilon)
        y = x * torch.rsqrt(x.square().mean(dim=positive, keepdim=True) + self.epsilon)
        # scale's axes follow Keras' sorted axis list; lay them out in the input's order, then broadcast.
        order = sorted(range(len(positive)), key=positive.__getitem__)
        broadcast = [x.shape[d] if d in positive else 1 for d in range(x.ndim)]
        return y * self.scale.permute(order).reshape(broadcast)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}

    def weight_views(self) -> list[WeightView]:
        return [WeightView("scale", self.scale)] if self.built else []
