"""BatchNormalization (over the channels axis, with moving statistics), LayerNormalization (over the
features of each sample), GroupNormalization (over groups of channels of each sample) and UnitNormalization
(to unit L2 norm), with Keras' defaults."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise import initializers
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import new_parameter, WeightView


class BatchNormalization(Layer):
    """Normalises each channel of ``(batch, ..., channels)`` by batch statistics while training and
    by moving statistics at inference. ``momentum=0.99`` and ``epsilon=1e-3`` as in Keras; ``axis=1`` for
    channels-first maps ``(batch, channels, ...)``.

    Keras updates the moving variance with the biased batch variance (PyTorch uses the unbiased
    one), so the moving statistics are updated here rather than by ``F.batch_norm``. With a mask
    ``(batch, ...)`` (all axes but the last), the training statistics count only the unmasked positions.
    """

    min_ndim = 2
    supports_masking = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, synchronized: bool = False,
                 renorm: bool = False, renorm_clipping=None, renorm_momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        # synchronized only matters across devices in Keras' distribution, which layerwise does not run
        if renorm:
            raise ValueError("BatchNormalization: batch renormalization (renorm=True) is not supported by layerwise.")
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"BatchNormalization axis must be an integer, got {axis!r}.")
        self.axis = axis
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.initializers = (beta_initializer, gamma_initializer, moving_mean_initializer,
                             moving_variance_initializer)

    @property
    def channel_axis(self) -> int:
        return self.axis

    def check_input_shape(self, input_shape: Shape) -> None:
        n = len(input_shape)
        if not -n < self.axis < n or self.axis % n == 0:
            raise ValueError(self._shape_message(f"an input with a non-batch axis {self.axis}", input_shape))
        if input_shape[self.axis] is None:
            raise ValueError(self._shape_message(f"a known size along axis {self.axis}", input_shape))
        super().check_input_shape(input_shape)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[self.axis]
        beta, gamma, mean, var = self.initializers
        self.gamma = new_parameter(gamma, (channels,)) if self.scale else None
        self.beta = new_parameter(beta, (channels,)) if self.center else None
        self.register_buffer("moving_mean", initializers.get(mean)((channels,)))
        self.register_buffer("moving_variance", initializers.get(var)((channels,)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None and mask.dim() != x.dim() - 1:
            raise ValueError(f"BatchNormalization '{self.name}': the mask must have one dimension less than the "
                             f"input; got mask of shape {tuple(mask.shape)} for input {tuple(x.shape)}.")
        if self.training and self.trainable and mask is not None and not bool(mask.all()):
            return self._masked_training_forward(x, mask)
        xc = x.movedim(self.axis, 1)  # (batch, channels, ...) view (channels_last memory for channels-last maps)
        if self.training and self.trainable:  # as Keras, a frozen layer runs in inference mode (fine-tuning)
            with torch.no_grad():
                dims = [d for d in range(xc.ndim) if d != 1]
                var, mean = torch.var_mean(xc, dim=dims, correction=0)
            self._update_moving(mean, var)
            y = F.batch_norm(xc, None, None, self.gamma, self.beta, True, 0.0, self.epsilon)
        else:
            y = F.batch_norm(xc, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0,
                             self.epsilon)
        return y.movedim(1, self.axis)

    def _masked_training_forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Training with the mean and biased variance per channel of the positions where ``mask`` (x's axes but
        the last) is True, as Keras computes them (its epsilon in the denominators included)."""
        weights = mask.unsqueeze(-1).expand_as(x).to(x.dtype)
        dims = [d for d in range(x.ndim) if d != self.axis % x.ndim]
        count = weights.sum(dims, keepdim=True) + 1e-7
        mean = (x * weights).sum(dims, keepdim=True) / count
        var = ((x - mean) * weights).square().sum(dims, keepdim=True) / count
        self._update_moving(mean.flatten(), var.flatten())
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        shape = mean.shape
        if self.scale:
            y = y * self.gamma.view(shape)
        return y + self.beta.view(shape) if self.center else y

    def _update_moving(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        # in the statistics' dtype: under a mixed policy the maps are half precision, the statistics float32
        with torch.no_grad():
            self.moving_mean.lerp_(mean.detach().to(self.moving_mean.dtype), 1 - self.momentum)
            self.moving_variance.lerp_(var.detach().to(self.moving_variance.dtype), 1 - self.momentum)

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


class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (an int or a list of ints, default the last), then scales by
    ``gamma`` and shifts by ``beta``, which have the sizes of those axes. Same in training and inference."""

    supports_masking = True  # a mask passes through unchanged, as in Keras

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, rms_scaling: bool = False, **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            raise ValueError("LayerNormalization: rms_scaling=True is not supported; use "
                             "layerwise.layers.RMSNormalization.")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon, self.center, self.scale = epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)

    def _axes(self, ndim: int) -> list[int]:
        return sorted(a % ndim for a in (self.axis if isinstance(self.axis, list) else [self.axis]))

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        n = len(input_shape)
        if any(not -n < a < n or a % n == 0 for a in axes):
            raise ValueError(self._shape_message(f"an input with the non-batch axes {axes}", input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(self._shape_message(f"known sizes along axis {self.axis}", input_shape))

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        self.gamma = new_parameter(self.gamma_initializer, shape) if self.scale else None
        self.beta = new_parameter(self.beta_initializer, shape) if self.center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = self._axes(x.ndim)
        if axes == list(range(x.ndim - len(axes), x.ndim)):  # trailing axes: PyTorch's fused kernel
            return F.layer_norm(x, [x.shape[a] for a in axes], self.gamma, self.beta, self.epsilon)
        var, mean = torch.var_mean(x, dim=axes, keepdim=True, correction=0)
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        broadcast = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
        if self.gamma is not None:
            y = y * self.gamma.reshape(broadcast)
        if self.beta is not None:
            y = y + self.beta.reshape(broadcast)
        return y

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("gamma", self.gamma)] if self.scale else []
        return views + ([WeightView("beta", self.beta)] if self.center else [])


class GroupNormalization(Layer):
    """Splits the ``axis`` channels of each sample into ``groups`` groups (``groups=-1``: one per channel) and
    normalises each group over its channels and every other non-batch axis, then scales by ``gamma`` and
    shifts by ``beta`` (one per channel). Same in training and inference: ``(batch, ..., channels)``, any rank.
    """

    supports_masking = True  # a mask passes through unchanged, as in Keras

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization groups must be a positive integer (or -1, one group per channel), "
                             f"got {groups!r}.")
        if not isinstance(axis, int):
            raise ValueError(f"GroupNormalization axis must be an int, got {axis!r}.")
        self.groups, self.axis, self.epsilon, self.center, self.scale = groups, axis, epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        n = len(input_shape)
        if not -n <= self.axis < n or self.axis % n == 0:
            raise ValueError(self._shape_message(f"a non-batch axis {self.axis}", input_shape))
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(self._shape_message(f"a known size along axis {self.axis}", input_shape))
        if self.groups != -1 and channels % self.groups:
            raise ValueError(self._shape_message(
                f"a number of channels (axis {self.axis}) divisible by groups={self.groups}", input_shape))

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[self.axis]
        self.num_groups = channels if self.groups == -1 else self.groups
        self.gamma = new_parameter(self.gamma_initializer, (channels,)) if self.scale else None
        self.beta = new_parameter(self.beta_initializer, (channels,)) if self.center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.ndim
        y = F.group_norm(x.movedim(axis, 1), self.num_groups, self.gamma, self.beta, self.epsilon)
        return y.movedim(1, axis)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("gamma", self.gamma)] if self.scale else []
        return views + ([WeightView("beta", self.beta)] if self.center else [])


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis`` (an int or a list of ints, default the last); any shape.

    As Keras: ``x * min(1 / sqrt(sum(x ** 2)), 1e12)``, so an all-zero slice stays zero.
    """

    supports_masking = True  # a mask passes through unchanged, as in Keras

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis):
            self.axis = list(axis)
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise ValueError(f"UnitNormalization axis must be an int or a list of ints, got {axis!r}.")

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        n = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-n <= a < n for a in axes):
            raise ValueError(self._shape_message(f"an input with the axes {self.axis}", input_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inverse_norm = torch.rsqrt(x.square().sum(dim=self.axis, keepdim=True))
        return x * inverse_norm.clamp(max=1e12)
