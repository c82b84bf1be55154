"""Callbacks that set the optimizer's learning rate between epochs: ``ReduceLROnPlateau`` and
``LearningRateScheduler``. Both log the rate as ``learning_rate``; under a ``MultiOptimizer`` they set each
sub-optimizer's rate and log ``learning_rate_<its name>``, as Keras does."""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from layerwise.callbacks.base import Callback
from layerwise.callbacks.monitor import MonitorCallback
from layerwise.utils.io_utils import print_msg


def learning_rate_logs(optimizer) -> dict[str, float]:
    """``{"learning_rate": rate}``, or ``{"learning_rate_<name>": rate}`` for each optimizer of a MultiOptimizer
    (one wrapped by a LossScaleOptimizer too), as Keras' callbacks log them."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    if hasattr(optimizer, "optimizers"):
        return {f"learning_rate_{opt.name}": float(opt.learning_rate) for opt in optimizer.optimizers}
    return {"learning_rate": float(optimizer.learning_rate)}


def _optimizers(model) -> list:
    """The optimizers whose rate a callback sets: a MultiOptimizer's, or the model's own."""
    return list(getattr(model.optimizer, "optimizers", None) or [model.optimizer])


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` (down to ``min_lr``) once ``monitor`` has not improved by
    more than ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs before counting again."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if kwargs:  # Keras takes and ignores them (tutorials still pass Keras 2's epsilon)
            warnings.warn(f"ReduceLROnPlateau ignores the arguments {sorted(kwargs)}, as Keras does"
                          + (" (Keras 2's epsilon is min_delta now)." if "epsilon" in kwargs else "."), stacklevel=2)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.cooldown_counter, self.wait = 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op(logs)
        logs = {} if logs is None else logs
        logs.update(learning_rate_logs(self.model.optimizer))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            several = hasattr(self.model.optimizer, "optimizers")
            if self.wait >= self.patience and any([self._reduce(opt, epoch, several)  # a list: reduce every one
                                                   for opt in _optimizers(self.model)]):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, optimizer, epoch: int, named: bool) -> bool:
        old = float(optimizer.learning_rate)
        # Keras holds the rate in float32: a rate already at min_lr compares equal there.
        if old <= np.float32(self.min_lr):
            return False
        new = max(old * self.factor, self.min_lr)
        optimizer.learning_rate = new
        if self.verbose > 0:
            name = f" {optimizer.name}" if named else ""
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{name} learning rate to {new}.")
        return True


class LearningRateScheduler(Callback):
    """At each epoch's start sets the learning rate to ``schedule(epoch, lr)`` (or ``schedule(epoch)``, the
    old form), which must return a float."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        several = hasattr(self.model.optimizer, "optimizers")
        for optimizer in _optimizers(self.model):
            lr = self._update(optimizer, epoch)
            if self.verbose > 0:
                name = f"{optimizer.name} " if several else ""
                print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {name}learning rate to {lr}.")

    def _update(self, optimizer, epoch: int) -> float:
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # a schedule of the epoch only
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        optimizer.learning_rate = lr
        return lr

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(learning_rate_logs(self.model.optimizer))
