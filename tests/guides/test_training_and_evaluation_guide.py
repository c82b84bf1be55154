"""Keras 3's guide "Training & evaluation with the built-in methods", listing by listing, run with
``import layerwise as keras``; where numbers can be compared the same listing also runs in Keras 3 (torch
backend) from the same weights with ``shuffle=False``, and histories, evaluations and predictions must agree.
MNIST is replaced by small random arrays; tf.data listings need TensorFlow and are left out."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from guide_helpers import assert_close, fresh, libraries

import layerwise as keras
from layerwise import layers

RNG = np.random.default_rng(0)
x_train = RNG.random((192, 784), dtype="float32")
y_train = RNG.integers(0, 10, 192)
x_val, y_val = x_train[-64:], y_train[-64:]
x_train, y_train = x_train[:-64], y_train[:-64]
x_test, y_test = RNG.random((32, 784), dtype="float32"), RNG.integers(0, 10, 32)


def get_uncompiled_model(keras, layers):
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def get_compiled_model(keras, layers):
    model = get_uncompiled_model(keras, layers)
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def twin_runs(real_keras, listing, build=None):
    """Run ``listing(keras, layers, ops, model)`` in both libraries on models made by ``build(keras, layers,
    ops)`` (default: the guide's uncompiled model) with the same starting weights; return layerwise's result
    and Keras'."""
    models = []
    for lib in libraries(real_keras):
        fresh(lib[0])
        models.append(build(*lib) if build else get_uncompiled_model(*lib[:2]))
    models[0].set_weights(models[1].get_weights())
    return [listing(*lib, model) for lib, model in zip(libraries(real_keras), models)]


def assert_histories_equal(ours, theirs, rtol=1e-4):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=rtol, atol=1e-6, what=key)


def test_end_to_end_fit_evaluate_predict_match_keras(real_keras):
    def listing(keras, layers, ops, model):
        model.compile(
            optimizer=keras.optimizers.RMSprop(),  # Optimizer
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val),
                            shuffle=False, verbose=0)
        results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
        predictions = model.predict(x_test[:3], verbose=0)
        return history.history, results, predictions

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours[0], theirs[0])
    assert sorted(ours[0]) == ["loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"]
    assert_close(ours[1], theirs[1], rtol=1e-4)
    assert ours[2].shape == (3, 10)
    assert_close(ours[2], theirs[2], rtol=1e-4, atol=1e-6)


def test_string_identifiers_and_validation_split_match_keras(real_keras):
    def listing(keras, layers, ops, model):
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        return model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1, shuffle=False,
                         verbose=0).history

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)


def test_custom_loss_function_matches_keras(real_keras):
    def listing(keras, layers, ops, model):
        def custom_mean_squared_error(y_true, y_pred):
            return ops.mean(ops.square(y_true - y_pred), axis=-1)

        model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
        y_train_one_hot = ops.one_hot(y_train, num_classes=10)
        return model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)


def test_custom_loss_class_matches_keras(real_keras):
    def listing(keras, layers, ops, model):
        class CustomMSE(keras.losses.Loss):
            def __init__(self, regularization_factor=0.1, name="custom_mse"):
                super().__init__(name=name)
                self.regularization_factor = regularization_factor

            def call(self, y_true, y_pred):
                mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
                reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
                return mse + reg * self.regularization_factor

        model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
        y_train_one_hot = ops.one_hot(y_train, num_classes=10)
        return model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)


def test_custom_metric_class_matches_keras(real_keras):
    def listing(keras, layers, ops, model):
        class CategoricalTruePositives(keras.metrics.Metric):
            def __init__(self, name="categorical_true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

            def update_state(self, y_true, y_pred, sample_weight=None):
                y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
                values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
                values = ops.cast(values, "float32")
                if sample_weight is not None:
                    sample_weight = ops.cast(sample_weight, "float32")
                    values = ops.multiply(values, sample_weight)
                self.true_positives.assign_add(ops.sum(values))

            def result(self):
                return self.true_positives

            def reset_state(self):
                self.true_positives.assign(0)

        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(), metrics=[CategoricalTruePositives()])
        return model.fit(x_train, y_train, batch_size=64, epochs=2, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)


def activity_regularized_model(keras, layers, ops):
    class ActivityRegularizationLayer(layers.Layer):
        def call(self, inputs):
            self.add_loss(ops.sum(inputs) * 0.1)
            return inputs  # Pass-through layer.

    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_add_loss_in_a_layer_matches_keras(real_keras):
    def listing(keras, layers, ops, model):
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.fit(x_train, y_train, batch_size=64, epochs=1, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing, activity_regularized_model)
    assert_histories_equal(ours, theirs)


def logistic_endpoint_model(keras, layers, ops):
    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            # Compute the training-time loss value and add it
            # to the layer using `self.add_loss()`.
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            # Return the inference-time prediction tensor (for `.predict()`).
            return ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    sample_weights = keras.Input(shape=(1,), name="sample_weights")
    preds = LogisticEndpoint(name="predictions")(targets, logits, sample_weights)
    return keras.Model(inputs=[inputs, targets, sample_weights], outputs=preds)


def test_an_endpoint_layer_with_add_loss_trains_without_a_compiled_loss(real_keras):
    def listing(keras, layers, ops, model):
        model.compile(optimizer="adam")  # No loss argument!
        data = {"inputs": np.arange(9, dtype="float32").reshape(3, 3) / 9, "targets": np.eye(3, 10, dtype="float32"),
                "sample_weights": np.ones((3, 1), "float32")}
        return model.fit(data, batch_size=3, epochs=2, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing, logistic_endpoint_model)
    assert_histories_equal(ours, theirs)


class ExamplePyDataset(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = x
        self.y = y
        self.batch_size = batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return batch_x, batch_y


def test_py_dataset_and_torch_dataloader_train_as_arrays_do():
    fresh(keras)
    model = get_compiled_model(keras, layers)
    start = model.get_weights()
    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32)
    val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)
    from_dataset = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1,
                             shuffle=False, verbose=0).history
    assert_close(model.evaluate(val_py_dataset, verbose=0), from_dataset["val_loss"][-1:] +
                 from_dataset["val_sparse_categorical_accuracy"][-1:], rtol=1e-5)

    class ExampleTorchDataset(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]

    fresh(keras)
    model = get_compiled_model(keras, layers)
    model.set_weights(start)
    train_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(x_train, y_train), batch_size=32,
                                                   shuffle=False)
    val_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(x_val, y_val), batch_size=32, shuffle=False)
    from_loader = model.fit(train_dataloader, validation_data=val_dataloader, epochs=1, shuffle=False,
                            verbose=0).history
    assert_histories_equal(from_loader, from_dataset, rtol=1e-5)


def test_class_and_sample_weights_match_keras(real_keras):
    class_weight = {i: 1.0 for i in range(10)}
    class_weight[5] = 2.0  # Set weight "2" for class "5", making this class 2x more important
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0

    def listing(keras, layers, ops, model):
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        by_class = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, shuffle=False,
                             verbose=0).history
        by_sample = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1,
                              shuffle=False, verbose=0).history
        return by_class, by_sample

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours[0], theirs[0])
    assert_histories_equal(ours[1], theirs[1])


def multi_io_model(keras, layers, ops):
    fresh(keras)
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)
    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)
    x = layers.concatenate([x1, x2])
    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)
    return keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])


MULTI_IO_COMPILES = {
    "lists": lambda keras: dict(
        loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
        metrics=[[keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsoluteError()],
                 [keras.metrics.CategoricalAccuracy()]]),
    "dicts": lambda keras: dict(
        loss={"score_output": keras.losses.MeanSquaredError(),
              "class_output": keras.losses.CategoricalCrossentropy()},
        metrics={"score_output": [keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsoluteError()],
                 "class_output": [keras.metrics.CategoricalAccuracy()]},
        loss_weights={"score_output": 2.0, "class_output": 1.0}),
    "one_loss_none": lambda keras: dict(loss=[None, keras.losses.CategoricalCrossentropy()]),
    "one_loss_dict": lambda keras: dict(loss={"class_output": keras.losses.CategoricalCrossentropy()}),
}


def multi_io_fits(keras, layers, ops, model, compile_args):
    rng = np.random.default_rng(1)
    img_data = rng.random(size=(24, 32, 32, 3))
    ts_data = rng.random(size=(24, 20, 10))
    score_targets = rng.random(size=(24, 1))
    class_targets = rng.random(size=(24, 5))
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), **MULTI_IO_COMPILES[compile_args](keras))
    as_lists = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=8, epochs=1,
                         shuffle=False, verbose=0).history
    as_dicts = model.fit({"img_input": img_data, "ts_input": ts_data},
                         {"score_output": score_targets, "class_output": class_targets},
                         batch_size=8, epochs=1, shuffle=False, verbose=0).history
    return as_lists, as_dicts


@pytest.mark.parametrize("compile_args", ["dicts", "lists", "one_loss_none"])
def test_multi_input_multi_output_training_matches_keras(real_keras, compile_args):
    ours, theirs = twin_runs(real_keras, lambda *lib: multi_io_fits(*lib, compile_args), multi_io_model)
    assert_histories_equal(ours[0], theirs[0])
    assert_histories_equal(ours[1], theirs[1])


def test_a_loss_dict_without_every_output_is_rejected_as_in_keras(real_keras):
    # The guide's loss={"class_output": ...} fails in Keras 3.15 itself (it wants every output's key, None for
    # an output without a loss); layerwise says the same, naming the outputs.
    for lib, lib_layers, lib_ops in libraries(real_keras):
        model = multi_io_model(lib, lib_layers, lib_ops)
        with pytest.raises(ValueError, match="score_output"):
            multi_io_fits(lib, lib_layers, lib_ops, model, "one_loss_dict")


def test_early_stopping_and_a_callback_of_ones_own(real_keras):
    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    def listing(keras, layers, ops, model):
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        callbacks = [
            keras.callbacks.EarlyStopping(
                # Stop training when `val_loss` is no longer improving
                monitor="val_loss",
                # "no longer improving" being defined as "no better than 1e-2 less"
                min_delta=1e-2,
                # "no longer improving" being further defined as "for at least 2 epochs"
                patience=2,
                verbose=0,
            )
        ]
        if keras.__name__ == "layerwise":
            callbacks.append(LossHistory())
        history = model.fit(x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks, validation_split=0.2,
                            shuffle=False, verbose=0).history
        return history, callbacks

    (ours, callbacks), (theirs, _) = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)
    assert len(ours["loss"]) < 20
    assert len(callbacks[1].per_batch_losses) == 2 * len(ours["loss"])


def test_model_checkpoints_and_restoring_the_latest(tmp_path):
    fresh(keras)
    model = get_compiled_model(keras, layers)
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            # Path where to save the model; the `{epoch}` is filled in by Keras.
            filepath=str(tmp_path / "mymodel_{epoch}.keras"),
            save_best_only=True,  # Only save a model if `val_loss` has improved.
            monitor="val_loss",
            verbose=0,
        )
    ]
    model.fit(x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks, validation_split=0.2, verbose=0)
    assert sorted(os.listdir(tmp_path))[0] == "mymodel_1.keras"

    checkpoint_dir = str(tmp_path / "ckpt")
    os.makedirs(checkpoint_dir)

    def make_or_restore_model():
        checkpoints = [checkpoint_dir + "/" + name for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getctime)
            return keras.models.load_model(latest_checkpoint)
        return get_compiled_model(keras, layers)

    model = make_or_restore_model()
    callbacks = [keras.callbacks.ModelCheckpoint(filepath=checkpoint_dir + "/model-loss={loss:.2f}.keras",
                                                 save_freq=2)]
    model.fit(x_train, y_train, epochs=1, batch_size=64, callbacks=callbacks, verbose=0)
    restored = make_or_restore_model()
    assert restored is not model
    assert_close(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0))


def test_learning_rate_schedule_in_an_optimizer_matches_keras(real_keras):
    def listing(keras, layers, ops, model):
        lr_schedule = keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=2, decay_rate=0.96, staircase=True
        )
        optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        return model.fit(x_train, y_train, batch_size=32, epochs=2, shuffle=False, verbose=0).history

    ours, theirs = twin_runs(real_keras, listing)
    assert_histories_equal(ours, theirs)


def test_tensorboard_callback_takes_the_guides_arguments(tmp_path):
    pytest.importorskip("tensorboard")
    callback = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"), histogram_freq=0, embeddings_freq=0,
                                           update_freq="epoch")
    assert callback.log_dir == str(tmp_path / "logs")


def test_fit_without_a_compile_names_the_model():
    model = get_uncompiled_model(keras, layers)
    with pytest.raises((RuntimeError, ValueError), match="compile"):
        model.fit(x_train, y_train, verbose=0)
