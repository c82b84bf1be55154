"""Datasets in fit / evaluate / predict: PyDataset (Keras' Sequence), generators with steps_per_epoch,
and re-iterable sources, checked against Keras 3 where both can see the same batches; a generator that runs dry
during fit warns as Keras' does, keeps training and replays the two batches it peeked at."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import layerwise
from layerwise import layers as L
from layerwise.datasets.iterable import RAN_OUT
from layerwise.utils import PyDataset, Sequence

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = (X @ RNG.normal(size=(4, 2))).astype("float32")


def make_pydataset(base, batch_size=8, **kwargs):
    class Batches(base):
        def __init__(self):
            super().__init__(**kwargs)
            self.epochs_ended = 0

        def __len__(self):
            return len(X) // batch_size

        def __getitem__(self, i):
            return X[i * batch_size:(i + 1) * batch_size], Y[i * batch_size:(i + 1) * batch_size]

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches()


def endless_batches(counter: list, batch_size=8):
    i = 0
    while True:
        counter.append(i)
        start = (i * batch_size) % len(X)
        yield X[start:start + batch_size], Y[start:start + batch_size]
        i += 1


def twin_dense(keras):
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    lw_model.set_weights(k_model.get_weights())
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    return k_model, lw_model


def assert_same_weights(lw_model, k_model):
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_sequence_is_pydataset():
    assert Sequence is PyDataset


def test_pydataset_trains_as_in_keras_and_ends_each_epoch(keras):
    k_model, lw_model = twin_dense(keras)
    k_data, lw_data = make_pydataset(keras.utils.PyDataset), make_pydataset(PyDataset)
    k_hist = k_model.fit(k_data, epochs=3, shuffle=False, verbose=0)
    lw_hist = lw_model.fit(lw_data, epochs=3, shuffle=False, verbose=0)
    assert_same_weights(lw_model, k_model)
    np.testing.assert_allclose(lw_hist.history["loss"], k_hist.history["loss"], rtol=1e-5)
    # Once per epoch, as documented; Keras 3.15 calls it once more when its epoch iterator is reset.
    assert lw_data.epochs_ended == 3
    assert lw_model.evaluate(lw_data, verbose=0) == pytest.approx(k_model.evaluate(k_data, verbose=0), rel=1e-5)
    np.testing.assert_allclose(lw_model.predict(lw_data, verbose=0), k_model.predict(k_data, verbose=0), rtol=1e-5)


def test_keras_own_pydataset_is_accepted(keras):
    _, lw_model = twin_dense(keras)
    data = make_pydataset(keras.utils.PyDataset)
    lw_model.fit(data, epochs=2, verbose=0)
    assert data.epochs_ended == 2


def test_shuffle_visits_every_batch_in_a_new_order():
    seen = []

    class Recording(PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            seen.append(i)
            return X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8]

    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    layerwise.utils.set_random_seed(0)
    model.fit(Recording(), epochs=4, shuffle=True, verbose=0)
    epochs = [seen[i:i + 5] for i in range(1, 21, 5)]  # seen[0] is the batch the model was checked on
    assert all(sorted(order) == list(range(5)) for order in epochs)
    assert any(order != list(range(5)) for order in epochs)


def test_generator_with_steps_per_epoch_goes_on_where_it_stopped_as_keras(keras):
    k_model, lw_model = twin_dense(keras)
    k_count, lw_count = [], []
    k_model.fit(endless_batches(k_count), steps_per_epoch=3, epochs=3, verbose=0)
    lw_model.fit(endless_batches(lw_count), steps_per_epoch=3, epochs=3, verbose=0)
    assert_same_weights(lw_model, k_model)
    assert max(lw_count) >= 8  # nine batches trained on, none lost to building the model


def test_generator_running_dry_warns_and_goes_on_as_keras():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    batches = ((X[i:i + 8], Y[i:i + 8]) for i in range(0, 40, 8))  # five batches
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches, steps_per_epoch=2, epochs=5, verbose=0)
    # 2 + 2 + 1 batches, the generator runs dry; then the two batches Keras peeked at, and an empty epoch
    assert history.epoch == [0, 1, 2, 3, 4]
    assert len(history.history["loss"]) == 4


def test_steps_limit_evaluate_and_predict():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    data = make_pydataset(PyDataset)
    first_two = model.evaluate(X[:16], Y[:16], batch_size=8, verbose=0)
    assert model.evaluate(data, steps=2, verbose=0) == pytest.approx(first_two, rel=1e-6)
    assert model.predict(data, steps=3, verbose=0).shape == (24, 2)
    assert model.predict(X, batch_size=8, steps=2, verbose=0).shape == (16, 2)


def test_array_data_with_steps_per_epoch_continues_across_epochs(keras):
    k_model, lw_model = twin_dense(keras)
    k_model.fit(X, Y, batch_size=8, steps_per_epoch=2, epochs=4, shuffle=False, verbose=0)
    lw_model.fit(X, Y, batch_size=8, steps_per_epoch=2, epochs=4, shuffle=False, verbose=0)
    assert_same_weights(lw_model, k_model)


def test_subclassed_model_builds_from_a_generator_without_losing_its_first_batch():
    class Net(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    count = []
    model = Net()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(endless_batches(count), steps_per_epoch=4, epochs=1, verbose=0)
    assert len(count) == 4


def test_threads_load_batches_in_order():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    threaded = make_pydataset(PyDataset, workers=3, max_queue_size=2)
    np.testing.assert_allclose(model.predict(threaded, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_bad_steps_and_empty_datasets():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model.fit(make_pydataset(PyDataset), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match="no batch"):
        model.predict(iter([]), verbose=0)


def test_pydataset_without_len_says_what_to_define():
    class NoLength(PyDataset):
        def __getitem__(self, i):
            return X[:8], Y[:8]

    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match="__len__"):
            model.fit(NoLength(), verbose=0)


# ---- a generator that runs dry during fit (Keras: "Your input ran out of data") ------------------------------------

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
