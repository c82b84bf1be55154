"""A Python generator that runs dry during fit: Keras 3 warns "Your input ran out of data" each time, keeps training,
and starts every new pass with the two batches it peeked at; layerwise takes the same steps."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import layerwise
from layerwise.datasets.iterable import RAN_OUT


def _batches(n: int):
    rng = np.random.default_rng(0)
    for _ in range(n):
        yield rng.random((4, 3)).astype("float32"), rng.random((4, 1)).astype("float32")


def _run(lib, n: int, steps_per_epoch: int | None, epochs: int = 3):
    """(history.epoch, loss count, callback events, optimizer steps, ran-out warnings) of one fit."""
    events = []

    class Events(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"B{epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"s{batch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"E{epoch}")

    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(_batches(n), epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0,
                            callbacks=[Events()])
    ran_out = [str(w.message) for w in caught if "ran out of data" in str(w.message)]
    return history.epoch, len(history.history["loss"]), events, int(model.optimizer.iterations), ran_out


@pytest.mark.parametrize("n, steps_per_epoch", [(5, None), (5, 2), (5, 3), (6, 2)])
def test_generator_running_dry_takes_keras_steps(keras, n, steps_per_epoch):
    theirs, ours = _run(keras, n, steps_per_epoch), _run(layerwise, n, steps_per_epoch)
    assert ours[:4] == theirs[:4]
    assert len(ours[4]) == len(theirs[4])
    assert set(ours[4]) <= {RAN_OUT} and set(theirs[4]) <= {RAN_OUT}


def test_later_epochs_replay_the_two_peeked_batches():
    epochs, losses, events, steps, ran_out = _run(layerwise, 5, None)
    assert epochs == [0, 1, 2] and losses == 3 and steps == 5 + 2 + 2
    assert events == ["B0", *(f"s{i}" for i in range(5)), "E0", "B1", "s0", "s1", "E1", "B2", "s0", "s1", "E2"]
    assert len(ran_out) == 3  # as Keras: at the end of every pass, the first one too


def test_an_epoch_without_a_batch_logs_nothing_and_training_goes_on(keras):
    # 4 batches, 2 per epoch: the third epoch finds the generator dry; Keras logs it with empty logs and goes on.
    theirs, ours = _run(keras, 4, 2, epochs=4), _run(layerwise, 4, 2, epochs=4)
    assert ours[:4] == theirs[:4]
    epochs, losses, events, steps, ran_out = ours
    assert (epochs, losses, steps) == ([0, 1, 2, 3], 3, 6)
    assert events[events.index("B2"):events.index("B3")] == ["B2", "E2"] and len(ran_out) == 1


def test_generator_that_lasts_gives_no_warning():
    *_, ran_out = _run(layerwise, 6, 2)
    assert ran_out == []
