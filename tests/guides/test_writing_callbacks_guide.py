"""Keras 3's guide "Writing your own callbacks", listing by listing, run with ``import layerwise as keras``:
the hooks called, in order, with their log keys, and the guide's early-stopping and learning-rate callbacks,
compared with Keras 3 (torch backend) from the same weights."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import assert_close, fresh, libraries


RNG = np.random.default_rng(0)
x_train = RNG.random((64, 784), dtype="float32")
y_train = RNG.random((64,), dtype="float32")
x_test, y_test = x_train[:32], y_train[:32]

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end",
         "on_predict_begin", "on_predict_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
         "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]


def get_model(keras):
    model = keras.Sequential()
    model.add(keras.Input((784,)))
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1), loss="mean_squared_error",
                  metrics=["mean_absolute_error"])
    return model


def twin_models(real_keras):
    models = []
    for lib, _, _ in libraries(real_keras):
        fresh(lib)
        models.append(get_model(lib))
    models[0].set_weights(models[1].get_weights())
    return models


def recording_callback(keras, calls):
    """The guide's CustomCallback, recording instead of printing: (hook, its logs' keys)."""

    class CustomCallback(keras.callbacks.Callback):
        pass

    def hook(name):
        indexed = int("_batch_" in name or "_epoch_" in name)

        def record(self, *args, logs=None):
            if len(args) > indexed:  # logs given by position, after the batch or epoch index
                logs = args[indexed]
            calls.append((name, sorted(logs) if isinstance(logs, dict) else logs))
        return record

    for name in HOOKS:
        setattr(CustomCallback, name, hook(name))
    return CustomCallback()


def test_every_hook_is_called_in_keras_order_with_keras_logs(real_keras):
    traces = []
    for model, (lib, _, _) in zip(twin_models(real_keras), libraries(real_keras)):
        calls = []
        model.fit(x_train, y_train, batch_size=16, epochs=1, verbose=0, validation_split=0.5,
                  callbacks=[recording_callback(lib, calls)])
        model.evaluate(x_test, y_test, batch_size=16, verbose=0, callbacks=[recording_callback(lib, calls)])
        model.predict(x_test, batch_size=16, verbose=0, callbacks=[recording_callback(lib, calls)])
        traces.append(calls)
    assert [name for name, _ in traces[0]] == [name for name, _ in traces[1]]
    for (name, ours), (_, theirs) in zip(*traces):
        if name.startswith("on_predict_batch_end"):
            assert ours == theirs == ["outputs"]
        elif isinstance(theirs, list) and theirs:
            assert ours == theirs, name


def printing_callback_class(keras, seen):
    """The guide's LossAndErrorPrintingCallback, keeping what it would print in ``seen``."""

    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("train", batch, logs["loss"]))

        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test", batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, logs["loss"], logs["mean_absolute_error"]))

    return LossAndErrorPrintingCallback


def test_logs_hold_keras_values(real_keras):
    values = []
    for model, (lib, _, _) in zip(twin_models(real_keras), libraries(real_keras)):
        seen = []
        LossAndErrorPrintingCallback = printing_callback_class(lib, seen)
        model.fit(x_train, y_train, batch_size=16, epochs=2, shuffle=False, verbose=0,
                  callbacks=[LossAndErrorPrintingCallback()])
        model.evaluate(x_test, y_test, batch_size=16, verbose=0, callbacks=[LossAndErrorPrintingCallback()])
        values.append(seen)
    assert [v[:2] for v in values[0]] == [v[:2] for v in values[1]]
    assert_close([v[2:] for v in values[0] if v[0] == "epoch"], [v[2:] for v in values[1] if v[0] == "epoch"],
                 rtol=1e-4)
    assert_close([v[2] for v in values[0]], [v[2] for v in values[1]], rtol=1e-4)


def early_stopping_class(keras):
    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        """Stop training when the loss is at its min, i.e. the loss stops decreasing."""

        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            # best_weights to store the weights at which the minimum loss occurs.
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                # Record the best weights if current results is better (less).
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

    return EarlyStoppingAtMinLoss


def test_early_stopping_at_min_loss_matches_keras(real_keras):
    results = []
    for model, (lib, _, _) in zip(twin_models(real_keras), libraries(real_keras)):
        callback = early_stopping_class(lib)()
        history = model.fit(x_train, y_train, batch_size=64, steps_per_epoch=1, epochs=30, shuffle=False, verbose=0,
                            callbacks=[callback]).history
        results.append((history, callback.stopped_epoch, model.get_weights()))
    (ours, ours_stop, ours_weights), (theirs, theirs_stop, theirs_weights) = results
    assert ours_stop == theirs_stop > 0
    assert_close(ours["loss"], theirs["loss"], rtol=1e-4)
    for got, expected in zip(ours_weights, theirs_weights):
        assert_close(got, expected, rtol=1e-4, atol=1e-6)


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def scheduler_class(keras):
    class CustomLearningRateScheduler(keras.callbacks.Callback):
        """Learning rate scheduler which sets the learning rate according to schedule."""

        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            # Get the current learning rate from model's optimizer.
            lr = self.model.optimizer.learning_rate
            # Call schedule function to get the scheduled learning rate.
            scheduled_lr = self.schedule(epoch, lr)
            # Set the value back to the optimizer before this epoch starts
            self.model.optimizer.learning_rate = scheduled_lr
            self.seen.append(float(np.array(scheduled_lr)))

    return CustomLearningRateScheduler


@pytest.mark.filterwarnings("ignore:__array__ implementation")  # Keras' variable, in the guide's float(np.array(lr))
def test_custom_learning_rate_scheduler_matches_keras(real_keras):
    results = []
    for model, (lib, _, _) in zip(twin_models(real_keras), libraries(real_keras)):
        callback = scheduler_class(lib)(lr_schedule)
        history = model.fit(x_train, y_train, batch_size=64, steps_per_epoch=1, epochs=15, shuffle=False, verbose=0,
                            callbacks=[callback]).history
        results.append((history, callback.seen))
    (ours, ours_lrs), (theirs, theirs_lrs) = results
    assert_close(ours_lrs, theirs_lrs, rtol=1e-6)
    assert ours_lrs[3] == 0.05 and ours_lrs[-1] == 0.001
    assert_close(ours["loss"], theirs["loss"], rtol=1e-4)
