"""keras-io example "Timeseries anomaly detection using an Autoencoder"
(examples/timeseries/timeseries_anomaly_detection.py) run with ``import layerwise as keras`` and in Keras 3 (torch
backend): the sequences of 288 steps, the Conv1D / Conv1DTranspose reconstruction autoencoder (summary, outputs from
the same weights), its training with ``validation_split`` and ``EarlyStopping``, and the anomaly detection (each
sequence's reconstruction MAE, the training maximum as threshold, the anomalous data points). The Numenta
(NAB) CSV files are not downloaded and pandas is left out: a daily cycle sampled every 5 minutes with small noise
stands in for ``art_daily_small_noise``, the same cycle with a jump up for ``art_daily_jumpsup``; matplotlib's
plots are left out."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

TIME_STEPS = 288  # one day of 5-minute values


def daily_series(days, seed, jump_at=None):
    """(days * 288, 1) values like NAB's artificial series: about 20 at night, 80 by day, small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * TIME_STEPS)
    day = (t % TIME_STEPS) / TIME_STEPS
    values = 20 + 60 * ((day > 0.35) & (day < 0.75)) + rng.normal(0, 2, t.shape)
    if jump_at is not None:  # art_daily_jumpsup: the day level rises for a while
        values[jump_at:jump_at + 60] += 80
    return values.reshape(-1, 1)


def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(values[i : (i + time_steps)])
    return np.stack(output)


def prepared_data():
    """The example's preparation: normalise with the training mean and std, then sequences of 288 steps."""
    df_small_noise = daily_series(1.5, 0)  # the example's 14 days give 3,745 sequences; 1.5 days give 145
    df_daily_jumpsup = daily_series(2, 1, jump_at=400)
    training_mean = df_small_noise.mean(axis=0)
    training_std = df_small_noise.std(axis=0, ddof=1)  # pandas' std
    df_training_value = (df_small_noise - training_mean) / training_std
    x_train = create_sequences(df_training_value)
    df_test_value = (df_daily_jumpsup - training_mean) / training_std
    x_test = create_sequences(df_test_value)
    return x_train, x_test, df_test_value


def autoencoder(keras, layers, ops, x_train):
    fresh(keras)
    model = keras.Sequential(
        [
            layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
            layers.Conv1D(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
            layers.Dropout(rate=0.2),
            layers.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
            layers.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
            layers.Dropout(rate=0.2),
            layers.Conv1DTranspose(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
            layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    return model


def detect_anomalies(model, x_train, x_test, n_values):
    """The example's detection: the threshold is the worst training reconstruction (MAE per sequence); a test
    sequence above it is an anomaly, and a data point is anomalous when the sequences that hold it are."""
    x_train_pred = model.predict(x_train, verbose=0)
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
    threshold = np.max(train_mae_loss)
    x_test_pred = model.predict(x_test, verbose=0)
    test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1)
    test_mae_loss = test_mae_loss.reshape((-1))
    anomalies = test_mae_loss > threshold
    anomalous_data_indices = []
    for data_idx in range(TIME_STEPS - 1, n_values - TIME_STEPS + 1):
        if np.all(anomalies[data_idx - TIME_STEPS + 1 : data_idx]):
            anomalous_data_indices.append(data_idx)
    return train_mae_loss, threshold, test_mae_loss, anomalies, anomalous_data_indices


def same_models(real_keras, x_train):
    ours, theirs = [autoencoder(*lib, x_train) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_the_sequences_are_as_in_the_example():
    x_train, x_test, df_test_value = prepared_data()
    assert x_train.shape == (432 - TIME_STEPS + 1, TIME_STEPS, 1)
    assert x_test.shape == (len(df_test_value) - TIME_STEPS + 1, TIME_STEPS, 1)
    assert np.array_equal(x_train[1, :-1], x_train[0, 1:])  # windows slide by one step


def test_the_autoencoder_matches_keras(real_keras):
    x_train, _, _ = prepared_data()
    ours, theirs = same_models(real_keras, x_train)
    assert summary_rows(ours) == summary_rows(theirs)
    x = x_train[:5].astype("float32")
    out = as_numpy(ours(x))
    assert out.shape == x.shape  # a reconstruction of the input
    assert_close(out, as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    # The evaluation from the same weights (dropout is off there): float64 data, as the example's.
    results = [m.evaluate(x_train, x_train, verbose=0) for m in (ours, theirs)]
    assert results[0] == pytest.approx(results[1], rel=1e-4)


def test_training_with_validation_split_and_early_stopping(real_keras):
    x_train, _, _ = prepared_data()
    ours, theirs = same_models(real_keras, x_train)
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        # The example's 50 epochs (stopped early) shrink to 4; dropout makes the two runs differ.
        history = model.fit(
            x_train,
            x_train,
            epochs=4,
            batch_size=128,
            validation_split=0.1,
            callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")],
            verbose=0,
        )
        histories.append(history.history)
    for history in histories:
        assert sorted(history) == ["loss", "val_loss"]
        assert len(history["loss"]) == 4  # the validation loss falls: no early stop
        assert history["loss"][-1] < history["loss"][0]
        assert history["val_loss"][-1] < history["val_loss"][0]
    # Same weights, same data: the two libraries' losses stay close despite different dropout masks.
    assert_close(histories[0]["loss"][0], histories[1]["loss"][0], rtol=0.05)
    x_train_pred = ours.predict(x_train, verbose=0)
    assert x_train_pred.shape == x_train.shape and x_train_pred.dtype == np.float32


def test_early_stopping_stops_as_in_keras(real_keras):
    # Not in the example's run (its validation loss keeps falling for a while): a learning rate of 0 keeps the
    # validation loss flat, so EarlyStopping(patience=5) ends training after 6 of the 50 epochs, in both.
    x_train, _, _ = prepared_data()
    ours, theirs = same_models(real_keras, x_train)
    lengths = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0), loss="mse")
        history = model.fit(x_train[:40], x_train[:40], epochs=50, batch_size=128, validation_split=0.1, verbose=0,
                            callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")])
        lengths.append(len(history.history["loss"]))
    assert lengths[0] == lengths[1] == 6


def test_the_anomaly_detection_from_the_same_weights_matches_keras(real_keras):
    x_train, x_test, df_test_value = prepared_data()
    ours, theirs = same_models(real_keras, x_train)
    ours.fit(x_train, x_train, epochs=2, batch_size=128, validation_split=0.1, verbose=0)
    theirs.set_weights(ours.get_weights())  # the model layerwise trained, in both libraries
    found = [detect_anomalies(m, x_train, x_test, len(df_test_value)) for m in (ours, theirs)]
    (train_mae, threshold, test_mae, anomalies, indices), (k_train_mae, k_threshold, k_test_mae, k_anomalies,
                                                           k_indices) = found
    assert train_mae.shape == (len(x_train), 1) and test_mae.shape == (len(x_test),)
    assert_close(train_mae, k_train_mae, rtol=1e-4, atol=1e-6)
    assert threshold == pytest.approx(k_threshold, rel=1e-4)
    assert_close(test_mae, k_test_mae, rtol=1e-4, atol=1e-6)
    assert np.array_equal(anomalies, k_anomalies)
    assert indices == k_indices
    # The jump makes the sequences that hold it reconstruct worst.
    assert test_mae.argmax() in range(400 - TIME_STEPS + 1, 460)
