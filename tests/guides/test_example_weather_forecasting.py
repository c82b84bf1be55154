"""keras-io example "Timeseries forecasting for weather prediction"
(examples/timeseries/timeseries_weather_forecasting.py), run with ``import layerwise as keras`` and compared with
Keras 3 (torch backend): the pandas preparation, the windows of ``timeseries_dataset_from_array``, the LSTM
forecaster's summary and outputs, and training with ``EarlyStopping`` and ``ModelCheckpoint`` on a synthetic
Jena-climate-shaped table (no download, no plots).

Keras 3's ``timeseries_dataset_from_array`` builds a ``tf.data.Dataset`` and TensorFlow is not installed here, so
its windows are checked against Keras' own rule (``keras/src/utils/timeseries_dataset_utils.py``) written in
numpy, and Keras trains on the same batches handed over in a ``PyDataset``."""
from __future__ import annotations

import numpy as np
import pandas as pd
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

feature_keys = ["p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
                "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)",
                "wd (deg)"]
date_time_key = "Date Time"

# The example's settings, with the window shrunk for a test: past=720 -> 60 and future=72 -> 12 observations
# (windows of 10 hourly steps instead of 120), 1,000 rows instead of 420,551, 3 epochs instead of 10.
split_fraction = 0.715
step = 6
past = 60
future = 12
learning_rate = 0.001
batch_size = 256
epochs = 3


def jena_like(rows=1000, seed=0):
    """A table with the Jena climate file's columns: daily cycles plus noise, one row per 10 minutes."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = (rng.uniform(1, 10, len(feature_keys)) * np.sin(2 * np.pi * t / 144 + rng.uniform(0, 6, len(feature_keys)))
              + rng.uniform(-5, 1000, len(feature_keys)) + rng.standard_normal((rows, len(feature_keys))))
    df = pd.DataFrame(values, columns=feature_keys)
    df.insert(0, date_time_key, pd.date_range("2009-01-01 00:10:00", periods=rows, freq="10min").strftime(
        "%d.%m.%Y %H:%M:%S"))
    return df


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


def prepared_data(df):
    """The example's preprocessing: 7 selected features normalised with the training part's statistics, the
    temperature ``future`` steps past each window as the target."""
    train_split = int(split_fraction * int(df.shape[0]))
    selected_features = [feature_keys[i] for i in [0, 1, 5, 7, 8, 10, 11]]
    features = df[selected_features]
    features.index = df[date_time_key]
    features = normalize(features.values, train_split)
    features = pd.DataFrame(features)
    train_data = features.loc[0: train_split - 1]
    val_data = features.loc[train_split:]
    start = past + future
    end = start + train_split
    x_train = train_data[[i for i in range(7)]].values
    y_train = features.iloc[start:end][[1]]
    x_end = len(val_data) - past - future
    label_start = train_split + past + future
    x_val = val_data.iloc[:x_end][[i for i in range(7)]].values
    y_val = features.iloc[label_start:][[1]]
    return x_train, y_train, x_val, y_val


def datasets(keras, x_train, y_train, x_val, y_val, make=None):
    sequence_length = int(past / step)
    make = make or keras.utils.timeseries_dataset_from_array  # the example: keras.preprocessing.<same function>
    dataset_train = make(x_train, y_train, sequence_length=sequence_length, sampling_rate=step,
                         batch_size=batch_size)
    dataset_val = make(x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
    return dataset_train, dataset_val


def keras_windows(data, targets, sequence_length, sampling_rate, batch_size):
    """Keras 3.15's ``_timeseries_dataset_tf`` (start_index=0, stride 1, no shuffle) in numpy: its batches."""
    data, targets = np.asarray(data), np.asarray(targets)
    num_seqs = min(len(data) - (sequence_length - 1) * sampling_rate, len(targets))
    starts = np.arange(0, num_seqs)
    x = data[starts[:, None] + np.arange(sequence_length) * sampling_rate]
    y = targets[starts]
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, num_seqs, batch_size)]


def forecaster(keras, layers, ops, inputs_shape):
    fresh(keras)
    inputs = keras.layers.Input(shape=(inputs_shape[1], inputs_shape[2]))
    lstm_out = keras.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def example_callbacks(keras, path_checkpoint):
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    modelckpt_callback = keras.callbacks.ModelCheckpoint(monitor="val_loss", filepath=path_checkpoint, verbose=1,
                                                         save_weights_only=True, save_best_only=True)
    return [es_callback, modelckpt_callback]


def test_windows_match_keras_rule():
    import layerwise as keras

    x_train, y_train, x_val, y_val = prepared_data(jena_like())
    assert isinstance(y_train, pd.DataFrame) and x_train.shape == (715, 7)
    for data, targets, dataset in zip((x_train, x_val), (y_train, y_val), datasets(keras, x_train, y_train, x_val,
                                                                                    y_val)):
        expected = keras_windows(data, targets, int(past / step), step, batch_size)
        got = list(dataset)
        assert len(got) == len(expected)
        for (x, y), (ex, ey) in zip(got, expected):
            np.testing.assert_array_equal(as_numpy(x), ex)
            np.testing.assert_array_equal(as_numpy(y), ey)
    inputs, targets = next(iter(datasets(keras, x_train, y_train, x_val, y_val)[0]))  # the example's .take(1)
    assert inputs.shape == (batch_size, int(past / step), 7) and targets.shape == (batch_size, 1)


def test_the_example_s_preprocessing_path():
    import layerwise as keras

    x_train, y_train, x_val, y_val = prepared_data(jena_like())
    dataset_train, _ = datasets(keras, x_train, y_train, x_val, y_val,
                                make=keras.preprocessing.timeseries_dataset_from_array)
    assert len(dataset_train) == 3


def test_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    shape = (batch_size, int(past / step), 7)
    ours, theirs = [forecaster(*lib, shape) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).standard_normal((4, shape[1], 7)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_training_with_early_stopping_and_checkpoint_matches_keras(real_keras, tmp_path):
    import layerwise

    class Batches(real_keras.utils.PyDataset):
        def __init__(self, batches):
            super().__init__()
            self.batches = batches

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            return self.batches[index]

    x_train, y_train, x_val, y_val = prepared_data(jena_like())
    dataset_train, dataset_val = datasets(layerwise, x_train, y_train, x_val, y_val)
    inputs, _ = next(iter(dataset_train))
    real_keras.utils.set_random_seed(0)
    models = [forecaster(*lib, inputs.shape) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    theirs_data = [Batches([(x.astype("float32"), y.astype("float32")) for x, y in keras_windows(
        data, targets, int(past / step), step, batch_size)]) for data, targets in ((x_train, y_train), (x_val, y_val))]
    runs = []
    # The example's dataset is never shuffled by fit; a PyDataset is unless shuffle=False, so Keras gets that.
    # Keras 3 wants weights-only checkpoints named *.weights.h5 (the example's "model_checkpoint.h5" is Keras 2's).
    for (keras, _, _), model, train, val, name in zip(libraries(real_keras), models, (dataset_train, theirs_data[0]),
                                                     (dataset_val, theirs_data[1]), ("ours", "theirs")):
        path_checkpoint = str(tmp_path / f"{name}_model_checkpoint.weights.h5")
        keep_order = {} if keras is layerwise else {"shuffle": False}
        history = model.fit(train, epochs=epochs, validation_data=val,
                            callbacks=example_callbacks(keras, path_checkpoint), verbose=0, **keep_order)
        probe = next(iter(val))[0]
        predictions = as_numpy(model.predict(probe, verbose=0))
        reloaded = forecaster(keras, keras.layers, keras.ops, inputs.shape)
        reloaded.load_weights(path_checkpoint)
        runs.append((history.history, predictions, as_numpy(reloaded.predict(probe, verbose=0)),
                     model.evaluate(val, verbose=0)))
    (ours, our_pred, our_best, our_eval), (theirs, their_pred, their_best, their_eval) = runs
    assert sorted(ours) == sorted(theirs) == ["loss", "val_loss"]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)
    assert ours["loss"][-1] < ours["loss"][0]
    assert our_pred.shape == (159, 1)
    assert_close(our_pred, their_pred, rtol=1e-4, atol=1e-5)
    assert_close(our_best, their_best, rtol=1e-4, atol=1e-5)
    assert_close(our_eval, their_eval, rtol=1e-4, atol=1e-6)
    assert_close(our_eval, ours["val_loss"][-1], rtol=1e-5, atol=1e-6)
