"""keras-io example "Timeseries classification from scratch"
(examples/timeseries/timeseries_classification_from_scratch.py, its Keras 3 edition) run with ``import layerwise as
keras`` and in Keras 3 (torch backend): the fully convolutional network (its summary, outputs from the same
weights), training with the example's three callbacks (``ModelCheckpoint`` of the best model to
``best_model.keras``, ``ReduceLROnPlateau``, ``EarlyStopping``) and ``validation_split``, then ``load_model`` of the
best checkpoint and its evaluation on the test series. FordA is not downloaded: noisy sines of two frequencies, as
``readucr`` would return them, stand in for it. Each library reloads its own checkpoint (layerwise writes its own
file format under the example's name, README "Where layerwise differs from Keras")."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

num_classes = 2


def make_model(keras, layers, ops, input_shape):
    fresh(keras)
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def readucr_like(rng, count, length=500):
    """``(x, y)`` as the example's ``readucr`` returns FordA: z-normalised univariate series and labels -1 / 1.
    Class 1 oscillates three times faster, so there is something to learn."""
    y = rng.choice([-1, 1], count)
    t = np.arange(length)
    x = np.sin(np.outer(np.where(y == 1, 0.3, 0.1), t) + rng.uniform(0, 6, (count, 1)))
    x = x + 0.3 * rng.standard_normal((count, length))
    return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True), y.astype(int)


def prepared_data(seed, train_count, test_count, length):
    """The example's preparation: one channel, the training set shuffled (for validation_split), labels 0 / 1."""
    rng = np.random.default_rng(seed)
    x_train, y_train = readucr_like(rng, train_count, length)
    x_test, y_test = readucr_like(rng, test_count, length)
    x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
    x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
    idx = rng.permutation(len(x_train))  # the example: np.random.permutation
    x_train = x_train[idx]
    y_train = y_train[idx]
    y_train[y_train == -1] = 0
    y_test[y_test == -1] = 0
    return x_train, y_train, x_test, y_test


# The example's keras.utils.plot_model(model, show_shapes=True) needs pydot and Graphviz: left out.
def test_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    x_train, _, x_test, _ = prepared_data(0, 4, 3, 500)
    ours, theirs = [make_model(*lib, input_shape=x_train.shape[1:]) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    assert_close(as_numpy(ours(x_test)), as_numpy(theirs(x_test)), rtol=1e-4, atol=1e-5)
    assert_close(as_numpy(ours(x_test, training=True)), as_numpy(theirs(x_test, training=True)), rtol=1e-4,
                 atol=1e-5)


def example_callbacks(keras, path, patience_scale):
    return [
        keras.callbacks.ModelCheckpoint(path, save_best_only=True, monitor="val_loss"),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20 // patience_scale,
                                          min_lr=0.0001),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=50 // patience_scale, verbose=0),
    ]


def train_both(real_keras, tmp_path, data, epochs, patience_scale=1):
    """The example's training and evaluation in each library from Keras' initial weights (seeded, so that a run is
    repeatable): (history, test loss and accuracy of the reloaded best model, its test predictions) for layerwise,
    then for Keras."""
    x_train, y_train, x_test, y_test = data
    real_keras.utils.set_random_seed(0)
    models = [make_model(*lib, input_shape=x_train.shape[1:]) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    results = []
    for (keras, _, _), model, name in zip(libraries(real_keras), models, ("ours", "theirs")):
        path = str(tmp_path / name / "best_model.keras")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        # batch_size 16 (the example: 32); shuffle=False (the example shuffles) so that both see the same batches.
        history = model.fit(x_train, y_train, batch_size=16, epochs=epochs,
                            callbacks=example_callbacks(keras, path, patience_scale), validation_split=0.2,
                            shuffle=False, verbose=0)
        model = keras.models.load_model(path)
        results.append((history.history, model.evaluate(x_test, y_test, verbose=0),
                        as_numpy(model.predict(x_test, verbose=0))))
    return results


# The conv biases feed BatchNormalization, which cancels them: their gradients are rounding noise that Adam scales
# up to full steps, so they (and through the moving means, the inference outputs) drift from Keras' by ~1e-4 after a
# few steps while the training losses agree to ~1e-5.
PREDICTION_ATOL = 2e-3


def test_training_with_the_example_s_callbacks_and_reloading_the_best_model_match_keras(real_keras, tmp_path):
    # 6 epochs (the example: up to 500) over 32 + 8 series of 64 steps (FordA: 3601 of 500).
    data = prepared_data(1, 40, 16, 64)
    (ours, our_eval, our_pred), (theirs, their_eval, their_pred) = train_both(real_keras, tmp_path, data, 6)
    assert sorted(ours) == sorted(theirs) == ["learning_rate", "loss", "sparse_categorical_accuracy", "val_loss",
                                              "val_sparse_categorical_accuracy"]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=2e-3, atol=1e-5, what=key)
    assert ours["loss"][-1] < 0.6 * ours["loss"][0]
    assert min(ours["sparse_categorical_accuracy"][-1], theirs["sparse_categorical_accuracy"][-1]) >= 0.9
    # The reloaded checkpoint is the epoch of the lowest val_loss, in inference mode.
    assert_close(our_eval, their_eval, rtol=0, atol=PREDICTION_ATOL)
    assert our_pred.shape == (16, num_classes)
    assert_close(our_pred, their_pred, rtol=0, atol=PREDICTION_ATOL)


def test_plateau_and_early_stopping_act_and_the_best_model_is_kept_as_in_keras(real_keras, tmp_path):
    # The example's callbacks with patiences divided by 20 (1 and 2 epochs) and validation series with the wrong
    # labels: the better the model learns, the worse val_loss, so the callbacks act within a short run.
    x_train, y_train, _, _ = prepared_data(0, 40, 8, 64)
    val = slice(int(len(x_train) * (1 - 0.2)), None)  # validation_split takes the last 20%
    y_train[val] = 1 - y_train[val]
    (ours, our_eval, _), (theirs, their_eval, _) = train_both(real_keras, tmp_path, (x_train, y_train, x_train[val],
                                                                                     y_train[val]), 8, 20)
    assert len(ours["loss"]) == len(theirs["loss"]) < 8
    assert ours["learning_rate"][-1] < ours["learning_rate"][0]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=2e-3, atol=1e-5, what=key)
    # Evaluated on the validation series, the reloaded checkpoint gives the lowest val_loss of the run.
    assert_close(our_eval[0], min(ours["val_loss"]), rtol=1e-4, atol=1e-5)
    assert_close(our_eval, their_eval, rtol=0, atol=PREDICTION_ATOL)
