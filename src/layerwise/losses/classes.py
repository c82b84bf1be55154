"""Keras' loss classes: each wraps one function of ``losses/functions.py`` with Keras' arguments,
defaults and default name; ``get_config()``/``from_config()`` round-trip every argument. ``LOSS_CLASSES``
also registers the classes defined beside their functions (overlap, ctc, similarity, noisy_labels)."""
from __future__ import annotations

from layerwise.losses import functions as fn
from layerwise.losses.base import Loss
from layerwise.losses.ctc import CTC
from layerwise.losses.noisy_labels import CategoricalGeneralizedCrossEntropy
from layerwise.losses.overlap import Dice, Tversky
from layerwise.losses.similarity import Circle

_DEFAULT = "sum_over_batch_size"


class CategoricalCrossentropy(Loss):
    """Crossentropy of one-hot targets ``(batch, classes)`` against probabilities (or logits)."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction=_DEFAULT, name: str = "categorical_crossentropy", dtype=None):
        super().__init__(fn.categorical_crossentropy, name, reduction, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    """Crossentropy of integer labels ``(batch,)`` against probabilities (or logits) ``(batch, classes)``."""

    def __init__(self, from_logits: bool = False, ignore_class=None, reduction=_DEFAULT, axis: int = -1,
                 name: str = "sparse_categorical_crossentropy", dtype=None):
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, int)):
            raise ValueError(f"SparseCategoricalCrossentropy: ignore_class must be None or an integer class id; "
                             f"received ignore_class={ignore_class!r}.")
        super().__init__(fn.sparse_categorical_crossentropy, name, reduction, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)


class BinaryCrossentropy(Loss):
    """Crossentropy of targets in [0, 1] against probabilities (or logits), averaged over ``axis``."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction=_DEFAULT, name: str = "binary_crossentropy", dtype=None):
        super().__init__(fn.binary_crossentropy, name, reduction, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class BinaryFocalCrossentropy(Loss):
    """Binary crossentropy focused on hard examples by ``(1 - p_t) ** gamma``; ``apply_class_balancing``
    also weights class 1 by ``alpha`` and class 0 by ``1 - alpha``."""

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, reduction=_DEFAULT,
                 name: str = "binary_focal_crossentropy", dtype=None):
        super().__init__(fn.binary_focal_crossentropy, name, reduction, dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(Loss):
    """Categorical crossentropy scaled by ``alpha * (1 - p) ** gamma`` (``alpha``: a float or one per class)."""

    def __init__(self, alpha=0.25, gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction=_DEFAULT, name: str = "categorical_focal_crossentropy", dtype=None):
        super().__init__(fn.categorical_focal_crossentropy, name, reduction, dtype, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [eps, 1]."""

    def __init__(self, reduction=_DEFAULT, name: str = "kl_divergence", dtype=None):
        super().__init__(fn.kl_divergence, name, reduction, dtype)


class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + eps))`` over the last axis."""

    def __init__(self, reduction=_DEFAULT, name: str = "poisson", dtype=None):
        super().__init__(fn.poisson, name, reduction, dtype)


class MeanSquaredError(Loss):
    def __init__(self, reduction=_DEFAULT, name: str = "mean_squared_error", dtype=None):
        super().__init__(fn.mean_squared_error, name, reduction, dtype)


class MeanAbsoluteError(Loss):
    def __init__(self, reduction=_DEFAULT, name: str = "mean_absolute_error", dtype=None):
        super().__init__(fn.mean_absolute_error, name, reduction, dtype)


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, eps))`` over the last axis."""

    def __init__(self, reduction=_DEFAULT, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(fn.mean_absolute_percentage_error, name, reduction, dtype)


class MeanSquaredLogarithmicError(Loss):
    """``mean((log(1 + y_pred) - log(1 + y_true)) ** 2)`` over the last axis."""

    def __init__(self, reduction=_DEFAULT, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(fn.mean_squared_logarithmic_error, name, reduction, dtype)


class CosineSimilarity(Loss):
    """Minus the cosine similarity along ``axis``: -1 for predictions pointing as the targets do."""

    def __init__(self, axis: int = -1, reduction=_DEFAULT, name: str = "cosine_similarity", dtype=None):
        super().__init__(fn.cosine_similarity, name, reduction, dtype, axis=axis)


class Huber(Loss):
    """Quadratic for errors up to ``delta``, linear beyond; averaged over the last axis."""

    def __init__(self, delta: float = 1.0, reduction=_DEFAULT, name: str = "huber_loss", dtype=None):
        super().__init__(fn.huber, name, reduction, dtype, delta=delta)


class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis."""

    def __init__(self, reduction=_DEFAULT, name: str = "log_cosh", dtype=None):
        super().__init__(fn.log_cosh, name, reduction, dtype)


class Hinge(Loss):
    """``mean(max(1 - y_true * y_pred, 0))``; targets in {0, 1} are read as {-1, 1}."""

    def __init__(self, reduction=_DEFAULT, name: str = "hinge", dtype=None):
        super().__init__(fn.hinge, name, reduction, dtype)


class SquaredHinge(Loss):
    """``mean(max(1 - y_true * y_pred, 0) ** 2)``; targets in {0, 1} are read as {-1, 1}."""

    def __init__(self, reduction=_DEFAULT, name: str = "squared_hinge", dtype=None):
        super().__init__(fn.squared_hinge, name, reduction, dtype)


class CategoricalHinge(Loss):
    """``max(max_wrong - true + 1, 0)`` for one-hot targets ``(batch, classes)``."""

    def __init__(self, reduction=_DEFAULT, name: str = "categorical_hinge", dtype=None):
        super().__init__(fn.categorical_hinge, name, reduction, dtype)


LOSS_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy, KLDivergence, Poisson, MeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh, Hinge,
    SquaredHinge, CategoricalHinge, Dice, Tversky, Circle, CTC, CategoricalGeneralizedCrossEntropy)}
