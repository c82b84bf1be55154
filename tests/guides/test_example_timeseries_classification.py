"""keras-io example "Timeseries classification from scratch"
(examples/timeseries/timeseries_classification_from_scratch.py), run with ``import layerwise as keras`` and
compared with Keras 3 (torch backend): the fully convolutional network, outputs from the same weights, training
with the example's three callbacks (``ModelCheckpoint`` of the best model, ``ReduceLROnPlateau``,
``EarlyStopping``) and ``validation_split``, then ``load_model`` of the best checkpoint and its test predictions,
on synthetic FordA-shaped series (no download)."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries

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


def ford_a_like(rng, count, length=500):
    """z-normalised univariate series with labels -1 / 1, as the example's ``readucr`` returns FordA; class 1 has
    a faster oscillation so that the task can be learnt. Reshaped to one channel and labels mapped to 0 / 1
    as the example does."""
    y = rng.choice([-1, 1], count)
    t = np.arange(length)
    x = np.sin(np.outer(np.where(y == 1, 0.3, 0.1), t) + rng.uniform(0, 6, (count, 1)))
    x = x + 0.3 * rng.standard_normal((count, length))
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    x = x.reshape((x.shape[0], x.shape[1], 1))
    y[y == -1] = 0
    return x, y.astype(int)


# The example's keras.utils.plot_model(model, show_shapes=True) needs pydot and graphviz: left out.
def test_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [make_model(*lib, input_shape=(500, 1)) for lib in libraries(real_keras)]
    assert ours.count_params() == theirs.count_params()
    assert ours.output_shape == theirs.output_shape == (None, num_classes)
    ours.set_weights(theirs.get_weights())
    x, _ = ford_a_like(np.random.default_rng(0), 3)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(as_numpy(ours(x, training=True)), as_numpy(theirs(x, training=True)), rtol=1e-4, atol=1e-5)


def example_callbacks(keras, path, patience_scale=1):
    return [
        keras.callbacks.ModelCheckpoint(path, save_best_only=True, monitor="val_loss"),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20 // patience_scale,
                                          min_lr=0.0001),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=50 // patience_scale, verbose=0),
    ]


def train_both(real_keras, tmp_path, epochs, patience_scale, random_labels=False):
    rng = np.random.default_rng(1)
    x_train, y_train = ford_a_like(rng, 40, length=128)
    x_test, y_test = ford_a_like(rng, 16, length=128)
    if random_labels:  # nothing to learn: the validation loss stalls, so the callbacks act
        y_train = np.random.default_rng(0).integers(0, num_classes, len(y_train))
    real_keras.utils.set_random_seed(0)
    models = [make_model(*lib, input_shape=x_train.shape[1:]) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    results = []
    for (keras, _, _), model, name in zip(libraries(real_keras), models, ("ours", "theirs")):
        path = str(tmp_path / f"{name}_best_model.h5")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, batch_size=16, epochs=epochs,
                            callbacks=example_callbacks(keras, path, patience_scale), validation_split=0.2,
                            shuffle=False, verbose=0)
        model = keras.models.load_model(path)
        probabilities = as_numpy(model.predict(x_test, verbose=0))
        y_pred = probabilities.argmax(axis=1)
        results.append((history.history, probabilities, (y_pred == y_test).mean()))
    return results


# The conv biases feed BatchNormalization, which cancels them: their gradients are rounding noise that Adam
# scales up to real steps, so they (and through the moving means, the inference outputs) drift apart from
# Keras' by ~1e-4 after a few steps while the losses agree to ~1e-5. Predictions are compared to 2e-3.
PREDICTION_ATOL = 2e-3


def test_training_with_the_example_s_callbacks_and_reloading_the_best_model_match_keras(real_keras, tmp_path):
    # 3 epochs (the example: up to 500) over 32 + 8 series of 128 steps (FordA: 3601 of 500), batch_size 16
    # (the example: 32); shuffle=False (the example shuffles) so that both runs see the same batches.
    (ours, our_pred, our_acc), (theirs, their_pred, their_acc) = train_both(real_keras, tmp_path, 3, 1)
    assert sorted(ours) == sorted(theirs) == ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)
    assert ours["loss"][-1] < ours["loss"][0]
    assert our_pred.shape == (16, num_classes)
    assert_close(our_pred, their_pred, rtol=0, atol=PREDICTION_ATOL)
    assert our_acc == their_acc


def test_plateau_and_early_stopping_trigger_as_in_keras(real_keras, tmp_path):
    # The example's callbacks with patiences divided by 20 (1 and 2 epochs) so that they act within a short run.
    (ours, our_pred, _), (theirs, their_pred, _) = train_both(real_keras, tmp_path, 6, 20, random_labels=True)
    assert len(ours["loss"]) == len(theirs["loss"]) < 6
    assert ours["learning_rate"][-1] < ours["learning_rate"][0]
    assert sorted(ours) == sorted(theirs)
    for key in theirs:  # 1e-3: the conv biases' drift (below) reaches the validation loss by epoch 3
        assert_close(ours[key], theirs[key], rtol=1e-3, atol=1e-6, what=key)
    assert_close(our_pred, their_pred, rtol=0, atol=PREDICTION_ATOL)
