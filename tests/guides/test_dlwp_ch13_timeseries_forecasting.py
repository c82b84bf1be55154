"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 13 "Timeseries forecasting" (notebook
chapter13_timeseries-forecasting.ipynb in fchollet/deep-learning-with-python-notebooks), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the windows of
``timeseries_dataset_from_array``, the naive baseline, and the dense, 1-D convolutional, LSTM, GRU and
bidirectional forecasters (summaries, outputs from the same weights, training steps).

The Jena climate file is not downloaded: a normalised random table of its shape (14 columns) stands in for it,
with fewer rows and shorter windows. Keras 3's ``timeseries_dataset_from_array`` needs TensorFlow, which is not
installed here, so its windows are checked against Keras' rule (keras/src/utils/timeseries_dataset_utils.py)
written in numpy, and Keras trains on the same arrays."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise as keras

sampling_rate = 6
sequence_length = 120  # the book's windows, for the summaries
short_length = 12  # training in a test: windows of 12 steps instead of 120
batch_size = 64  # the book: 256


def jena_like(rows: int = 3000, seed: int = 0):
    """``raw_data`` normalised with the training part's statistics and ``temperature`` (column 1, in degC),
    prepared as the book prepares the Jena file."""
    rng = np.random.default_rng(seed)
    raw_data = rng.standard_normal((rows, 14)) * rng.uniform(1, 10, 14) + rng.uniform(-5, 1000, 14)
    temperature = raw_data[:, 1].copy()
    num_train_samples = int(0.5 * len(raw_data))
    num_val_samples = int(0.25 * len(raw_data))
    mean = raw_data[:num_train_samples].mean(axis=0)
    raw_data -= mean
    std = raw_data[:num_train_samples].std(axis=0)
    raw_data /= std
    return raw_data, temperature, mean, std, num_train_samples, num_val_samples


def keras_windows(data, targets, sequence_length, sampling_rate, start_index=0, end_index=None):
    """Keras' rule: windows start at every index from ``start_index`` while the whole window fits before
    ``end_index``, and window ``i`` has target ``targets[i]`` (counted from ``start_index``)."""
    end_index = len(data) if end_index is None else end_index
    num_seqs = min(end_index - start_index - (sequence_length - 1) * sampling_rate, len(targets))
    starts = np.arange(num_seqs) + start_index
    windows = np.stack([data[s:s + sequence_length * sampling_rate:sampling_rate] for s in starts])
    return windows, np.asarray(targets)[starts]


def test_the_dummy_dataset_prints_the_books_windows():
    int_sequence = np.arange(10)
    dummy_dataset = keras.utils.timeseries_dataset_from_array(
        data=int_sequence[:-3], targets=int_sequence[3:], sequence_length=3, batch_size=2)
    printed = []
    for inputs, targets in dummy_dataset:
        for i in range(inputs.shape[0]):
            printed.append(([int(x) for x in inputs[i]], int(targets[i])))
    assert printed == [([0, 1, 2], 3), ([1, 2, 3], 4), ([2, 3, 4], 5), ([3, 4, 5], 6), ([4, 5, 6], 7)]
    assert [len(t) for _, t in dummy_dataset] == [2, 2, 1]


def test_train_val_and_test_windows_follow_keras_rule():
    raw_data, temperature, _, _, num_train_samples, num_val_samples = jena_like()
    delay = sampling_rate * (short_length + 24 - 1)
    splits = {"train": (0, num_train_samples), "val": (num_train_samples, num_train_samples + num_val_samples),
              "test": (num_train_samples + num_val_samples, None)}
    for name, (start, end) in splits.items():
        dataset = keras.utils.timeseries_dataset_from_array(
            raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate,
            sequence_length=short_length, shuffle=True, batch_size=batch_size, start_index=start, end_index=end)
        batches = list(dataset)  # one pass: each pass reshuffles
        samples = np.concatenate([as_numpy(s) for s, _ in batches])
        targets = np.concatenate([as_numpy(t) for _, t in batches])
        windows, expected_targets = keras_windows(raw_data[:-delay], temperature[delay:], short_length,
                                                  sampling_rate, start, end)
        assert samples.shape == windows.shape and samples.dtype == np.float64, name
        # shuffle=True: the same windows, each with its own target, in another order.
        order, expected_order = np.lexsort(samples[:, ::-1, 0].T), np.lexsort(windows[:, ::-1, 0].T)
        assert_close(samples[order], windows[expected_order], what=name)
        assert_close(targets[order], expected_targets[expected_order], what=name)
        first_samples, first_targets = next(iter(dataset))
        assert tuple(first_samples.shape) == (batch_size, short_length, 14) and tuple(first_targets.shape) == (
            batch_size,)


def test_the_naive_baseline_is_the_last_temperature_of_each_window():
    raw_data, temperature, mean, std, num_train_samples, num_val_samples = jena_like()
    delay = sampling_rate * (short_length + 24 - 1)
    val_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate, sequence_length=short_length,
        shuffle=True, batch_size=batch_size, start_index=num_train_samples,
        end_index=num_train_samples + num_val_samples)

    def evaluate_naive_method(dataset):
        total_abs_err = 0.0
        samples_seen = 0
        for samples, targets in dataset:
            preds = samples[:, -1, 1] * std[1] + mean[1]
            total_abs_err += np.sum(np.abs(preds - targets))
            samples_seen += samples.shape[0]
        return total_abs_err / samples_seen

    windows, targets = keras_windows(raw_data[:-delay], temperature[delay:], short_length, sampling_rate,
                                     num_train_samples, num_train_samples + num_val_samples)
    expected = np.mean(np.abs(windows[:, -1, 1] * std[1] + mean[1] - targets))
    assert_close(float(evaluate_naive_method(val_dataset)), expected, rtol=1e-10)


def forecaster(keras, layers, ops, kind: str, steps: int = sequence_length, rate: float | None = None):
    """The book's models over windows of ``steps`` steps of 14 features; ``rate`` replaces the dropout rates
    (0 to compare training steps)."""
    fresh(keras)
    inputs = keras.Input(shape=(steps, 14))
    if kind == "dense":
        x = layers.Flatten()(inputs)
        x = layers.Dense(16, activation="relu")(x)
    elif kind == "conv":
        x = layers.Conv1D(8, 24, activation="relu")(inputs)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(8, 12, activation="relu")(x)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(8, 6, activation="relu")(x)
        x = layers.GlobalAveragePooling1D()(x)
    elif kind == "lstm":
        x = layers.LSTM(16)(inputs)
    elif kind == "lstm_dropout":
        x = layers.LSTM(32, recurrent_dropout=0.25 if rate is None else rate)(inputs)
        x = layers.Dropout(0.5 if rate is None else rate)(x)
    elif kind == "stacked_gru":
        x = layers.GRU(32, recurrent_dropout=0.5 if rate is None else rate, return_sequences=True)(inputs)
        x = layers.GRU(32, recurrent_dropout=0.5 if rate is None else rate)(x)
        x = layers.Dropout(0.5 if rate is None else rate)(x)
    else:
        x = layers.Bidirectional(layers.LSTM(16))(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


KINDS = ["dense", "conv", "lstm", "lstm_dropout", "stacked_gru", "bidirectional"]


@pytest.mark.parametrize("kind", KINDS)
def test_forecasters_match_keras_and_train_as_keras_from_the_same_weights(real_keras, kind):
    # Windows of 12 steps (the conv stack, whose kernels span 24 steps, keeps the book's 120); dropout rates 0 so
    # that the training steps can be compared (the masks come from each library's own generator).
    steps = sequence_length if kind == "conv" else short_length
    ours, theirs = [forecaster(*lib, kind, steps=steps, rate=0.0) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, steps, 14)).astype("float32")
    y = (x[:, -1, 1] * 3 + 10).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    history, k_history = (m.fit(x, y, epochs=2, batch_size=16, validation_data=(x[:16], y[:16]), shuffle=False,
                                verbose=0) for m in (ours, theirs))
    assert sorted(history.history) == sorted(k_history.history) == ["loss", "mae", "val_loss", "val_mae"]
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-5)


def test_the_books_dropout_forecasters_summaries_match_keras(real_keras):
    for kind in ("lstm_dropout", "stacked_gru"):
        ours, theirs = [forecaster(*lib, kind) for lib in libraries(real_keras)]
        assert summary_rows(ours) == summary_rows(theirs), kind
        assert ours.get_config()["layers"][1]["config"]["recurrent_dropout"] == \
            theirs.get_config()["layers"][1]["config"]["recurrent_dropout"]


def test_dropout_forecaster_checkpoints_and_reloads_in_keras(real_keras, tmp_path):
    raw_data, temperature, _, _, num_train_samples, num_val_samples = jena_like(rows=1200)
    delay = sampling_rate * (short_length + 24 - 1)
    train_dataset, val_dataset = (keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate, sequence_length=short_length,
        shuffle=True, batch_size=batch_size, start_index=start, end_index=end)
        for start, end in ((0, num_train_samples), (num_train_samples, num_train_samples + num_val_samples)))
    model = forecaster(keras, keras.layers, keras.ops, "lstm_dropout", steps=short_length)
    path = str(tmp_path / "jena_lstm_dropout.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(path, save_best_only=True)]
    history = model.fit(train_dataset, epochs=2, validation_data=val_dataset, callbacks=callbacks, verbose=0)
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    x = np.concatenate([as_numpy(s) for s, _ in val_dataset]).astype("float32")
    reloaded, k_reloaded = keras.models.load_model(path), real_keras.models.load_model(path)
    assert_close(reloaded.predict(x, verbose=0), k_reloaded.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, return_sequences, expected", [
    ((None, 14), False, (None, 16)), ((120, 14), False, (None, 16)), ((120, 14), True, (None, 120, 16))])
def test_simple_rnn_output_shapes_match_keras(real_keras, shape, return_sequences, expected):
    for lib, layers, _ in libraries(real_keras):
        inputs = lib.Input(shape=shape)
        outputs = layers.SimpleRNN(16, return_sequences=return_sequences)(inputs)
        assert tuple(outputs.shape) == expected


def test_stacked_simple_rnns_match_keras(real_keras):
    def stacked(keras, layers, ops):
        fresh(keras)
        inputs = keras.Input(shape=(short_length, 14))
        x = layers.SimpleRNN(16, return_sequences=True)(inputs)
        x = layers.SimpleRNN(16, return_sequences=True)(x)
        outputs = layers.SimpleRNN(16)(x)
        return keras.Model(inputs, outputs)

    ours, theirs = [stacked(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(2).standard_normal((4, short_length, 14)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
