"""The training loop: evaluate inside fit, the optimizer binding, validation_freq, against Keras 3."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import layerwise

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype("float32")
Y = RNG.normal(size=(32, 1)).astype("float32")
XV = RNG.normal(size=(8, 3)).astype("float32") * 3
YV = RNG.normal(size=(8, 1)).astype("float32")


def _frozen(lib):
    """A Dense model with a ones kernel and a zero learning rate: every batch's loss is known in advance."""
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=lib.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    return model


def _fit_evaluating_mid_epoch(lib):
    """fit (4 batches of 8) whose callback calls evaluate after batch 1; returns History.history and the model."""
    class EvaluateMidEpoch(lib.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.evaluate(XV, YV, verbose=0)

    model = _frozen(lib)
    history = model.fit(X, Y, batch_size=8, verbose=0, shuffle=False, callbacks=[EvaluateMidEpoch()])
    return history.history, model


def test_evaluate_in_a_callback_restarts_the_epoch_loss_as_keras(keras):
    """Keras' evaluate resets every metric, the loss tracker too, and the rest of the epoch adds to them: the
    epoch's loss is the mean over the evaluated rows and the later training batches. layerwise reset the
    metrics but kept the loss of all four training batches."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, _ = _fit_evaluating_mid_epoch(keras)
    ours, model = _fit_evaluating_mid_epoch(layerwise)
    predicted, predicted_val = X @ np.ones((3, 1)), XV @ np.ones((3, 1))
    expected = (np.sum((predicted_val - YV) ** 2) + np.sum((predicted[16:] - Y[16:]) ** 2)) / (8 + 16)
    np.testing.assert_allclose(ours["loss"], [expected], rtol=1e-5)
    for key in ("loss", "mae"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)
    np.testing.assert_allclose(float(model.get_metrics_result()["loss"]), expected, rtol=1e-5)


def test_fit_and_evaluate_keep_the_loss_tracker_object(keras):
    """The loss tracker in ``metrics`` is reset in place, as Keras' ``_loss_tracker``, not replaced."""
    model = _frozen(layerwise)
    model.fit(X, Y, batch_size=8, verbose=0)
    tracker = model.metrics[0]
    loss = model.evaluate(XV, YV, verbose=0)[0]
    assert model.metrics[0] is tracker
    np.testing.assert_allclose(float(tracker.result()), loss, rtol=1e-6)


def test_train_on_batch_refuses_an_optimizer_built_for_other_weights():
    """The optimizer's cached positions decide which weights it knows: another model's weights are refused."""
    first, second = _frozen(layerwise), _frozen(layerwise)
    first.train_on_batch(X, Y)
    second.optimizer = first.optimizer
    with pytest.raises(ValueError, match="train_on_batch"):
        second.train_on_batch(X, Y)
    first.train_on_batch(X, Y)  # its own weights are still known


@pytest.mark.parametrize("freq", [(2,), "2", np.int64(2)])
def test_validation_freq_other_than_int_or_list_is_refused_as_keras(keras, freq):
    """Keras accepts an int or a list only; layerwise took a tuple and failed with a TypeError on a string."""
    for lib in (keras, layerwise):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match="validation_freq"):
                _frozen(lib).fit(X, Y, validation_data=(XV, YV), validation_freq=freq, epochs=2, verbose=0)


def test_validation_freq_zero_is_a_clear_error():
    """Keras divides by zero; layerwise names the argument."""
    with pytest.raises(ValueError, match="validation_freq.*got 0"):
        _frozen(layerwise).fit(X, Y, validation_data=(XV, YV), validation_freq=0, verbose=0)


def test_validation_freq_list_and_sample_weighted_validation_match_keras(keras):
    """validation_freq=[1, 3] validates after epochs 1 and 3; a 3-tuple validation_data weights val metrics."""
    weights = RNG.uniform(size=(8,)).astype("float32")
    histories = []
    for lib in (keras, layerwise):
        model = _frozen(lib)
        model.compile(optimizer=lib.optimizers.SGD(0.0), loss="mse", metrics=["mae"], weighted_metrics=["mse"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            histories.append(model.fit(X, Y, validation_data=(XV, YV, weights), validation_freq=[1, 3], epochs=4,
                                       verbose=0).history)
    theirs, ours = histories
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    assert len(ours["val_loss"]) == 2


def test_a_generator_that_runs_dry_warns_and_stops_as_keras(keras):
    """Four batches, steps_per_epoch=3, epochs=2: epoch 2 gets one batch, then Keras' warning; both keep both
    epochs. (With more epochs Keras goes on, replaying the two batches it peeked at; layerwise stops.)"""
    def batches():
        return ((X[i:i + 8], Y[i:i + 8]) for i in range(0, 32, 8))

    counts = []
    for lib in (keras, layerwise):
        class Count(lib.callbacks.Callback):
            name = lib.__name__

            def on_train_batch_end(self, batch, logs=None):
                counts.append((self.name, batch))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = _frozen(lib).fit(batches(), steps_per_epoch=3, epochs=2, verbose=0, callbacks=[Count()])
        assert len(history.history["loss"]) == 2
        assert any("ran out of data" in str(w.message) for w in caught)
    assert [b for name, b in counts if name == "keras"] == [b for name, b in counts if name == "layerwise"]
    assert [b for name, b in counts if name == "layerwise"] == [0, 1, 2, 0]
