"""BatchNormalization (over the channels axis, with moving statistics), LayerNormalization (over the
features of each sample), GroupNormalization (over groups of channels of each sample) and UnitNormalization
(to unit L2 norm), with Keras' defaults.

As Keras, they normalise integer inputs as float32 (``result_type(x, "float32")``).
"""
from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F

from layerwise import initializers
from layerwise.layers._padding import as_float, is_integer
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import LayerState, new_parameter, WeightView

RENORM_CLIPPING_KEYS = ("rmax", "rmin", "dmax")


def batch_norm_axis(axis) -> int:
    """BatchNormalization's ``axis`` as a Python int: an integer (numpy ones too), or a list of one, which is how
    Keras 2 (tf.keras) saved a built layer's axis (``"axis": [3]``) in .h5 and JSON files."""
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if not is_integer(axis):
        raise ValueError(f"BatchNormalization axis must be an integer (or a list of one integer, as Keras 2 saved "
                         f"it), got {axis!r}.")
    return int(axis)


def renorm_clipping_of(renorm_clipping) -> dict:
    """Keras' checks of ``renorm_clipping``: a dict with some of 'rmax', 'rmin' and 'dmax' (None: no clipping)."""
    clipping = renorm_clipping or {}
    if not isinstance(clipping, dict) or set(clipping) - set(RENORM_CLIPPING_KEYS):
        raise ValueError(f"BatchNormalization renorm_clipping must be a dict with some of the keys "
                         f"{list(RENORM_CLIPPING_KEYS)}, got {renorm_clipping!r}.")
    rmax, rmin, dmax = (clipping.get(key) for key in RENORM_CLIPPING_KEYS)
    if rmax is not None and rmin is not None and rmax < rmin:
        raise ValueError(f"BatchNormalization renorm_clipping: rmax should be greater than rmin, got rmax={rmax}, "
                         f"rmin={rmin}.")
    if dmax is not None and dmax < 0:
        raise ValueError(f"BatchNormalization renorm_clipping: dmax should be non-negative, got dmax={dmax}.")
    return clipping


class BatchNormalization(Layer):
    """Normalises each channel of ``(batch, ..., channels)`` by batch statistics while training and
    by moving statistics at inference. ``momentum=0.99`` and ``epsilon=1e-3`` as in Keras; ``axis=1`` for
    channels-first maps ``(batch, channels, ...)``.

    Keras updates the moving variance with the biased batch variance (PyTorch uses the unbiased
    one), so the moving statistics are updated here rather than by ``F.batch_norm``. With a mask
    ``(batch, ...)`` (all axes but the last), the training statistics count only the unmasked positions.

    ``renorm=True`` is Keras' batch renormalization: training corrects the batch statistics towards moving
    ones (``renorm_mean``, ``renorm_stddev``, updated with ``renorm_momentum``) by factors ``r`` and ``d``,
    clipped by ``renorm_clipping``; the moving variance is then derived from a moving standard deviation.
    """

    min_ndim = 2
    supports_masking = True
    resolved_config = ("axis", "momentum", "epsilon", "renorm_clipping")  # as Keras writes them

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, synchronized: bool = False,
                 renorm: bool = False, renorm_clipping=None, renorm_momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        # synchronized only matters across devices in Keras' distribution, which layerwise does not run
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)
        self.axis = batch_norm_axis(axis)
        if not isinstance(epsilon, numbers.Real) or epsilon < 0:
            raise ValueError(f"BatchNormalization epsilon must be a number >= 0 (it is added to the variance), "
                             f"got {epsilon!r}.")
        self.momentum, self.epsilon, self.center, self.scale = float(momentum), float(epsilon), center, scale
        self.renorm, self.renorm_momentum = bool(renorm), renorm_momentum
        self.renorm_clipping = renorm_clipping_of(renorm_clipping) if renorm else renorm_clipping
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
        self.register_buffer("moving_mean", LayerState(initializers.weight_initializer(mean)((channels,))))
        self.register_buffer("moving_variance", LayerState(initializers.weight_initializer(var)((channels,))))
        if self.renorm:  # as Keras: the standard deviations start at the square root of the variance initializer's
            self.register_buffer("moving_stddev", LayerState(self.moving_variance.sqrt()))
            self.register_buffer("renorm_mean", LayerState(initializers.weight_initializer(mean)((channels,))))
            self.register_buffer("renorm_stddev", LayerState(self.moving_variance.sqrt()))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None and mask.dim() != x.dim() - 1:
            raise ValueError(f"BatchNormalization '{self.name}': the mask must have one dimension less than the "
                             f"input; got mask of shape {tuple(mask.shape)} for input {tuple(x.shape)}.")
        x = as_float(x)
        if self.training and self.trainable:  # as Keras, a frozen layer runs in inference mode (fine-tuning)
            if mask is not None and bool(mask.all()):
                mask = None
            # F.batch_norm's own statistics need more than one value per channel and a positive epsilon
            if mask is not None or self.renorm or x.numel() <= x.shape[self.axis] or self.epsilon <= 0:
                return self._training_forward(x, mask)
            xc = x.movedim(self.axis, 1)  # (batch, channels, ...) view (channels_last memory for channels-last maps)
            with torch.no_grad():
                dims = [d for d in range(xc.ndim) if d != 1]
                var, mean = torch.var_mean(xc, dim=dims, correction=0)
            self._update_moving(mean, var)
            y = F.batch_norm(xc, None, None, self.gamma, self.beta, True, 0.0, self.epsilon)
        else:
            xc = x.movedim(self.axis, 1)
            y = F.batch_norm(xc, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0,
                             self.epsilon)
        return y.movedim(1, self.axis)

    def _training_forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Training with batch statistics computed here, as Keras computes them: per channel, over the positions
        where ``mask`` (x's axes but the last) is True when given (Keras' epsilon in the denominators included),
        then renormalized when ``renorm``. ``(x - mean) * rsqrt(var + epsilon) * gamma + beta``."""
        dims = [d for d in range(x.ndim) if d != self.axis % x.ndim]
        if mask is None:
            var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
        else:
            weights = mask.unsqueeze(-1).expand_as(x).to(x.dtype)
            count = weights.sum(dims, keepdim=True) + 1e-7
            mean = (x * weights).sum(dims, keepdim=True) / count
            var = ((x - mean) * weights).square().sum(dims, keepdim=True) / count
        shape = mean.shape
        gamma = self.gamma.view(shape) if self.scale else None
        beta = self.beta.view(shape) if self.center else None
        if self.renorm:
            r, d = self._renorm_corrections(mean.flatten(), var.flatten())
            self._update_renorm(mean.flatten(), var.flatten())
            # (x_hat * r + d) * gamma + beta, r and d constants to the gradient (Keras' stop_gradient)
            gamma, beta = (r.view(shape), d.view(shape)) if gamma is None else (r.view(shape) * gamma,
                                                                                  d.view(shape) * gamma)
            beta = beta if self.beta is None else beta + self.beta.view(shape)
        else:
            self._update_moving(mean.flatten(), var.flatten())
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        if gamma is not None:
            y = y * gamma
        return y if beta is None else y + beta

    def _renorm_corrections(self, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keras' ``r = stddev / renorm_stddev`` and ``d = (mean - renorm_mean) / renorm_stddev`` per channel,
        clipped to ``renorm_clipping`` (``renorm_stddev`` at least ``sqrt(epsilon)``), without gradient."""
        with torch.no_grad():
            stddev = torch.sqrt(var + self.epsilon)
            renorm_stddev = self.renorm_stddev.to(mean.dtype).clamp(min=math.sqrt(self.epsilon))
            r = stddev / renorm_stddev
            d = (mean - self.renorm_mean.to(mean.dtype)) / renorm_stddev
            rmax, rmin, dmax = (self.renorm_clipping.get(key) for key in RENORM_CLIPPING_KEYS)
            if rmin is not None:
                r = r.clamp(min=rmin)
            if rmax is not None:
                r = r.clamp(max=rmax)
            if dmax is not None:
                d = d.clamp(-dmax, dmax)
        return r, d

    def _update_moving(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        # in the statistics' dtype: under a mixed policy the maps are half precision, the statistics float32
        with torch.no_grad():
            self.moving_mean.lerp_(mean.detach().to(self.moving_mean.dtype), 1 - self.momentum)
            self.moving_variance.lerp_(var.detach().to(self.moving_variance.dtype), 1 - self.momentum)

    def _update_renorm(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Keras' renorm updates: the renorm mean and standard deviation with ``renorm_momentum``, the moving mean
        and standard deviation with ``momentum``, and the moving variance as ``relu(moving_stddev ** 2 - epsilon)``."""
        with torch.no_grad():
            mean = mean.detach().to(self.moving_mean.dtype)
            stddev = torch.sqrt(var.detach().to(self.moving_mean.dtype) + self.epsilon)
            self.renorm_mean.lerp_(mean, 1 - self.renorm_momentum)
            self.renorm_stddev.lerp_(stddev, 1 - self.renorm_momentum)
            self.moving_mean.lerp_(mean, 1 - self.momentum)
            self.moving_stddev.lerp_(stddev, 1 - self.momentum)
            self.moving_variance.copy_(torch.relu(self.moving_stddev.square() - self.epsilon))

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = []
        if self.scale:
            views.append(WeightView("gamma", self.gamma))
        if self.center:
            views.append(WeightView("beta", self.beta))
        statistics = ["moving_mean", "moving_variance"]
        statistics += ["moving_stddev", "renorm_mean", "renorm_stddev"] if self.renorm else []
        return views + [WeightView(name, getattr(self, name), trainable=False) for name in statistics]


def layer_norm_axis(axis) -> int | list[int]:
    """LayerNormalization's ``axis`` as Keras keeps it before building: an int, or a list of ints."""
    if isinstance(axis, (list, tuple)) and all(is_integer(a) for a in axis):
        return [int(a) for a in axis]
    if is_integer(axis):
        return int(axis)
    raise TypeError(f"LayerNormalization expected an int or a list/tuple of ints for the argument 'axis', but "
                    f"received: {axis!r}")


class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (an int or a list of ints, default the last), then scales by
    ``gamma`` and shifts by ``beta``, which have the sizes of those axes. Same in training and inference.

    As Keras, building turns ``axis`` into a sorted list (which ``get_config`` then gives) and the weights have
    the sizes of the axes in that order, broadcast to the input by a reshape. ``rms_scaling=True`` (deprecated in
    Keras, which warns) computes ``x * rsqrt(var(x) + epsilon) * gamma``, with no ``beta``.
    """

    supports_masking = True  # a mask passes through unchanged, as in Keras
    resolved_config = ("axis",)

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, rms_scaling: bool = False, **kwargs):
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the "
                          "input by the variance, not the root mean square. To correctly use RMS Normalization, "
                          "please use `keras.layers.RMSNormalization` instead.", stacklevel=2)
        super().__init__(**kwargs)
        self.axis = layer_norm_axis(axis)
        self.epsilon, self.center, self.scale, self.rms_scaling = epsilon, center, scale, bool(rms_scaling)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.regularize_weights(beta=beta_regularizer, gamma=gamma_regularizer)
        self.constrain_weights(beta=beta_constraint, gamma=gamma_constraint)

    def _keras_axes(self) -> list[int]:
        """``axis`` as the list Keras builds: sorted as given (negative axes first)."""
        return sorted(self.axis) if isinstance(self.axis, list) else [self.axis]

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        axes = self._keras_axes()
        n = len(input_shape)
        if any(not -n < a < n or a % n == 0 for a in axes):
            raise ValueError(self._shape_message(f"an input with the non-batch axes {axes}", input_shape))
        if len({a % n for a in axes}) != len(axes):
            raise ValueError(self._shape_message(f"distinct axes, got axis={self.axis}", input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(self._shape_message(f"known sizes along axis {self.axis}", input_shape))

    def build(self, input_shape: Shape) -> None:
        self.axis = self._keras_axes()
        shape = tuple(input_shape[a] for a in self.axis)
        self.gamma = new_parameter(self.gamma_initializer, shape) if self.scale or self.rms_scaling else None
        self.beta = new_parameter(self.beta_initializer, shape) if self.center and not self.rms_scaling else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float(x)
        axes = sorted(a % x.ndim for a in self.axis)
        normalized = [x.shape[a] for a in axes]
        gamma, beta = self.gamma, self.beta  # Keras' weights hold the sizes in self.axis's order: reshaped, as Keras
        if not self.rms_scaling and axes == list(range(x.ndim - len(axes), x.ndim)):  # PyTorch's fused kernel
            return F.layer_norm(x, normalized, None if gamma is None else gamma.reshape(normalized),
                                None if beta is None else beta.reshape(normalized), self.epsilon)
        var, mean = torch.var_mean(x, dim=axes, keepdim=True, correction=0)
        y = (x if self.rms_scaling else x - mean) * torch.rsqrt(var + self.epsilon)
        broadcast = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
        if gamma is not None:
            y = y * gamma.reshape(broadcast)
        if beta is not None:
            y = y + beta.reshape(broadcast)
        return y

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("gamma", self.gamma)] if self.gamma is not None else []
        return views + ([WeightView("beta", self.beta)] if self.beta is not None else [])


class GroupNormalization(Layer):
    """Splits the ``axis`` channels of each sample into ``groups`` groups (``groups=-1``: one per channel) and
    normalises each group over its channels and every other non-batch axis, then scales by ``gamma`` and
    shifts by ``beta`` (one per channel). Same in training and inference: ``(batch, ..., channels)``, any rank.
    """

    resolved_config = ("groups",)  # -1 reported as the channel count once built, as Keras reports it
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
        if self.groups == -1:  # one group per channel; the config then says how many, as Keras' does
            self.groups = channels
        self.gamma = new_parameter(self.gamma_initializer, (channels,)) if self.scale else None
        self.beta = new_parameter(self.beta_initializer, (channels,)) if self.center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.ndim
        y = F.group_norm(as_float(x).movedim(axis, 1), self.groups, self.gamma, self.beta, self.epsilon)
        return y.movedim(1, axis)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("gamma", self.gamma)] if self.scale else []
        return views + ([WeightView("beta", self.beta)] if self.center else [])


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis`` (an int or a list of ints, default the last); any shape.

    As Keras: ``x * min(1 / sqrt(sum(x ** 2)), 1e12)``, so an all-zero slice stays zero. Half-precision inputs are
    normalised in float32 (their sum of squares overflows, and 1e12 is beyond their range), then cast back.
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
        wide = x if x.dtype in (torch.float32, torch.float64) else x.float()
        inverse_norm = torch.rsqrt(wide.square().sum(dim=self.axis, keepdim=True))
        y = wide * inverse_norm.clamp(max=1e12)
        return y.to(x.dtype) if x.is_floating_point() else y
