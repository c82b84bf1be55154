"""Callbacks that watch one logged quantity: the ``MonitorCallback`` base (mode and improvement rules)
and ``EarlyStopping``."""
from __future__ import annotations

import operator
import warnings

from layerwise.callbacks.base import Callback
from layerwise.utils.io_utils import print_msg

# Keras' metric directions (its ``_direction``): with mode="auto" these are maximised, the losses and
# error metrics minimised; for any other name the mode must be given.
_UP = frozenset({"AUC", "Accuracy", "BinaryAccuracy", "BinaryIoU", "CategoricalAccuracy", "ConcordanceCorrelation",
                 "CosineSimilarity", "F1Score", "FBetaScore", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU",
                 "PearsonCorrelation", "Precision", "PrecisionAtRecall", "R2Score", "Recall", "RecallAtPrecision",
                 "SensitivityAtSpecificity", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
                 "SpecificityAtSensitivity", "TopKCategoricalAccuracy"})
_DOWN = frozenset({"BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "KLDivergence",
                   "LogCoshError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
                   "MeanSquaredLogarithmicError", "Poisson", "RootMeanSquaredError",
                   "SparseCategoricalCrossentropy", "SquaredHinge"})


def _direction(metric) -> str | None:
    """``"up"``, ``"down"`` or None (unknown) for a metric object, by its class or a ``_direction``;
    a metric wrapping one of the losses is minimised, as in Keras."""
    if getattr(metric, "_direction", None) in ("up", "down"):
        return metric._direction
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP:
            return "up"
        if cls.__name__ in _DOWN:
            return "down"
    if getattr(getattr(metric, "fn", None), "__module__", "").startswith("layerwise.losses"):
        return "down"
    return None


class MonitorCallback(Callback):
    """Base of the callbacks that act when ``monitor`` improves by more than ``min_delta``.

    ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (losses are minimised, metrics follow their direction;
    an unknown mode warns and falls back to ``"auto"``, as in Keras). ``baseline`` is the first value to
    beat. The comparison is chosen at the first epoch's end, once the model's metrics exist.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.best, self.min_delta = monitor, mode, baseline, abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self, logs: dict | None = None) -> None:
        if self.mode != "auto":
            self.monitor_op = operator.lt if self.mode == "min" else operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            direction = "down" if name == "loss" else None
            for compiled in getattr(self.model, "_metrics", None) or []:
                if compiled.name == name:
                    direction = _direction(compiled.metric) or direction
            if direction is None and logs and self.monitor not in logs:  # most often a misspelt name
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor!r}, which is not "
                                 f"logged; the logged quantities are {sorted(logs)}. Check the name (Keras 3 logs "
                                 "'accuracy', not 'acc'), or pass mode='max' or mode='min' for a quantity that "
                                 "is logged later.")
            if direction is None:
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but it cannot "
                                 "tell whether that quantity should be maximized or minimized. Pass mode='max' to "
                                 "monitor the highest value, or mode='min' for the lowest.")
            self.monitor_op = operator.gt if direction == "up" else operator.lt
        if self.monitor_op is operator.lt:
            self.min_delta = -abs(self.min_delta)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    """Stops training once ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (counted from ``start_from_epoch``); it must also beat ``baseline`` when one is given.

    With ``restore_best_weights=True`` the weights of the best epoch are put back when training ends,
    whether it stopped early or ran all its epochs (Keras 3's rule).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op(logs)
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The count restarts only when the value also beats the baseline.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=2)
        return value
