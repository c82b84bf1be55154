"""BatchNormalization over the last (channels) axis, with Keras' defaults and moving statistics."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise import initializers
from layerwise.layers.base import Layer, Shape, WeightView, new_parameter


class BatchNormalization(Layer):
    """Normalises each channel of ``(batch, ..., channels)`` by batch statistics while training and
    by moving statistics at inference. ``momentum=0.99`` and ``epsilon=1e-3`` as in Keras.

    Keras updates the moving variance with the biased batch variance (PyTorch uses the unbiased
    one), so the moving statistics are updated here rather than by ``F.batch_norm``.
    """

    min_ndim = 2

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)
        if axis not in (-1,):
            raise ValueError("BatchNormalization supports axis=-1 (channels last), Keras' default.")
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.initializers = (beta_initializer, gamma_initializer, moving_mean_initializer,
                             moving_variance_initializer)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        beta, gamma, mean, var = self.initializers
        self.gamma = new_parameter(gamma, (channels,)) if self.scale else None
        self.beta = new_parameter(beta, (channels,)) if self.center else None
        self.register_buffer("moving_mean", initializers.get(mean)((channels,)))
        self.register_buffer("moving_variance", initializers.get(var)((channels,)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xc = x.movedim(-1, 1)  # (batch, channels, ...) view, channels_last memory for 4-D inputs
        if self.training:
            with torch.no_grad():
                dims = [d for d in range(xc.ndim) if d != 1]
                var, mean = torch.var_mean(xc, dim=dims, correction=0)
                self.moving_mean.lerp_(mean, 1 - self.momentum)
                self.moving_variance.lerp_(var, 1 - self.momentum)
            y = F.batch_norm(xc, None, None, self.gamma, self.beta, True, 0.0, self.epsilon)
        else:
            y = F.batch_norm(xc, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0,
                             self.epsilon)
        return y.movedim(1, -1)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = []
        if self.scale:
            views.append(WeightView("gamma", self.gamma))
        if self.center:
            views.append(WeightView("beta", self.beta))
        views += [WeightView("moving_mean", self.moving_mean, trainable=False),
                  WeightView("moving_variance", self.moving_variance, trainable=False)]
        return views
