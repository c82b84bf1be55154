"""François Chollet, "Deep Learning with Python", 3rd edition (Keras 3), chapter 7 "A deep dive on Keras" (notebook
chapter07_deep-dive-keras.ipynb), second part: the built-in loops on the MNIST model, the ``RootMeanSquaredError``
metric written with ``keras.ops``, the ``EarlyStopping`` and ``ModelCheckpoint`` callbacks, the ``LossHistory``
callback, the PyTorch training step, low-level metric use, and ``fit()`` customised with PyTorch (a ``train_step``
with its own loss tracker, then one with ``compute_loss`` and the compiled metrics). Run with ``import layerwise as
keras`` and in Keras 3 (torch backend) from the same weights, on the same batches; the TensorFlow and JAX listings
have no layerwise counterpart. MNIST is not downloaded: random images of its shape stand in, a Dense(64) in place
of Dense(512), and the dropout rate is 0 where numbers are compared (the masks come from each library's own
generator). A built-in layer's weight is a plain torch Parameter here (README), so its gradient is ``v.grad`` where
the book writes ``v.value.grad``: the listings read it through ``guide_helpers.grad``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from dlwp_helpers import fresh
from dlwp_helpers import same_start as shared_start
from guide_helpers import as_numpy, assert_close, grad, libraries

import layerwise as keras


def mnist_like(n: int = 160, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28 * 28)).astype("float32") / 255
    return images, rng.integers(0, 10, n).astype("uint8")


def get_mnist_model(keras, layers, rate=0.0):
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(rate)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    return keras.Model(inputs, outputs)


def same_start(real_keras, build=get_mnist_model):
    return shared_start(real_keras, build)


def assert_same_weights(models) -> None:
    # Adam divides by the root of the squared gradients' average: where a gradient is near zero, float rounding in
    # it moves a step visibly (in unseeded runs, one weight in 50,000 ended up to 6e-5 from Keras' after nine steps,
    # one run in five); same_start's seed makes the comparison repeatable
    for w, k_w in zip(models[0].get_weights(), models[1].get_weights()):
        assert_close(w, k_w, rtol=1e-4, atol=2e-5)


def rmse_metric(keras):
    ops = keras.ops

    class RootMeanSquaredError(keras.metrics.Metric):
        def __init__(self, name="rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.mse_sum = self.add_weight(name="mse_sum", initializer="zeros")
            self.total_samples = self.add_weight(name="total_samples", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.one_hot(y_true, num_classes=ops.shape(y_pred)[1])
            mse = ops.sum(ops.square(y_true - y_pred))
            self.mse_sum.assign_add(mse)
            num_samples = ops.shape(y_pred)[0]
            self.total_samples.assign_add(num_samples)

        def result(self):
            return ops.sqrt(self.mse_sum / self.total_samples)

        def reset_state(self):
            self.mse_sum.assign(0.)
            self.total_samples.assign(0.)

    return RootMeanSquaredError


# The listing subtracts the model's numpy predictions from a tensor: NumPy 2 warns about torch's __array_wrap__, in
# Keras as here.
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")
def test_builtin_loops_with_a_custom_metric_match_keras(real_keras):
    images, labels = mnist_like()
    train_images, val_images = images[40:], images[:40]
    train_labels, val_labels = labels[40:], labels[:40]
    results = []
    for model, lib in zip(same_start(real_keras), (keras, real_keras)):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", rmse_metric(lib)()])
        history = model.fit(train_images, train_labels, epochs=2, validation_data=(val_images, val_labels),
                            shuffle=False, verbose=0)
        test_metrics = model.evaluate(val_images, val_labels, verbose=0)
        predictions = model.predict(val_images, verbose=0)
        metric = rmse_metric(lib)()
        metric.update_state(val_labels, predictions)
        results.append((history.history, test_metrics, predictions, metric))
    (history, test_metrics, predictions, metric), (k_history, k_test_metrics, k_predictions, k_metric) = results
    assert sorted(history) == sorted(k_history) == ["accuracy", "loss", "rmse", "val_accuracy", "val_loss",
                                                    "val_rmse"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, what=key)
    assert_close(test_metrics, k_test_metrics, rtol=1e-4)
    assert_close(predictions, k_predictions, rtol=1e-4, atol=1e-6)
    assert [(v.name, tuple(v.shape)) for v in metric.variables] == [(v.name, tuple(v.shape))
                                                                    for v in k_metric.variables]
    assert_close(float(metric.result()), float(k_metric.result()), rtol=1e-5)


def test_early_stopping_and_checkpoint_act_as_in_keras(real_keras, tmp_path):
    # learning_rate=0: the accuracy stays flat, so EarlyStopping(patience=1) stops after the second epoch
    images, labels = mnist_like(96, 1)
    results, models = [], same_start(real_keras)
    expected = models[1].predict(images[:4], verbose=0)  # the weights never change
    for model, lib, tag in zip(models, (keras, real_keras), ("ours", "keras")):
        callbacks_list = [
            lib.callbacks.EarlyStopping(monitor="accuracy", patience=1),
            lib.callbacks.ModelCheckpoint(filepath=str(tmp_path / f"{tag}.keras"), monitor="val_loss",
                                          save_best_only=True),
        ]
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.0), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(images[32:], labels[32:], epochs=5, callbacks=callbacks_list,
                            validation_data=(images[:32], labels[:32]), verbose=0)
        early, checkpoint = callbacks_list
        results.append((history.history, early.stopped_epoch, early.best, checkpoint.best))
    (history, *state), (k_history, *k_state) = results
    assert len(history["loss"]) == len(k_history["loss"]) == 2
    assert_close(state, k_state, rtol=1e-5)
    for load_model, tag in ((keras.models.load_model, "ours"), (real_keras.models.load_model, "keras"),
                            (real_keras.models.load_model, "ours"), (keras.models.load_model, "keras")):
        restored = load_model(tmp_path / f"{tag}.keras")
        assert_close(as_numpy(restored.predict(images[:4], verbose=0)), expected, rtol=1e-5, atol=1e-7, what=tag)


def test_loss_history_callback_sees_keras_batch_logs(real_keras):
    images, labels = mnist_like(128, 2)
    per_epoch = []
    for model, lib in zip(same_start(real_keras), (keras, real_keras)):
        class LossHistory(lib.callbacks.Callback):
            def on_train_begin(self, logs):
                self.per_batch_losses = []
                self.epochs = []

            def on_batch_end(self, batch, logs):
                self.per_batch_losses.append(logs.get("loss"))

            def on_epoch_end(self, epoch, logs):
                self.epochs.append(self.per_batch_losses)  # the book plots these here
                self.per_batch_losses = []

        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        loss_history = LossHistory()
        model.fit(images[32:], labels[32:], epochs=2, callbacks=[loss_history],
                  validation_data=(images[:32], labels[:32]), shuffle=False, verbose=0)
        per_epoch.append(loss_history.epochs)
    ours, theirs = per_epoch
    assert [len(e) for e in ours] == [len(e) for e in theirs] == [3, 3]
    assert all(isinstance(v, float) for e in ours for v in e)
    assert_close(ours, theirs, rtol=1e-4)


def pytorch_training_steps(keras, model, images, labels) -> list[float]:
    """The book's PyTorch ``train_step`` on three batches of 32; the losses it returns."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.Adam()

    def train_step(inputs, targets):
        predictions = model(inputs, training=True)
        loss = loss_fn(targets, predictions)
        loss.backward()
        gradients = [grad(weight) for weight in model.trainable_weights]
        with torch.no_grad():
            optimizer.apply(gradients, model.trainable_weights)
        model.zero_grad()
        return loss

    batch_size = 32
    step_losses = [train_step(images[i:i + batch_size], labels[i:i + batch_size]) for i in (0, 32, 0)]
    assert all(loss.shape == () and loss.requires_grad for loss in step_losses)
    assert int(optimizer.iterations) == 3
    return [float(loss.detach()) for loss in step_losses]


def test_pytorch_training_step_matches_keras(real_keras):
    images, labels = mnist_like(64, 3)
    models = same_start(real_keras)
    losses = [pytorch_training_steps(lib, model, images, labels) for model, lib in zip(models, (keras, real_keras))]
    assert_close(losses[0], losses[1], rtol=1e-5)
    assert_same_weights(models)


def test_low_level_metrics_match_keras(real_keras):
    printed = []
    for lib, _, ops in libraries(real_keras):
        metric = lib.metrics.SparseCategoricalAccuracy()
        targets = ops.array([0, 1, 2])
        predictions = ops.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        metric.update_state(targets, predictions)
        current_result = metric.result()
        values = ops.array([0, 1, 2, 3, 4])
        mean_tracker = lib.metrics.Mean()
        for value in values:
            mean_tracker.update_state(value)
        printed.append((f"result: {current_result:.2f}", f"Mean of values: {mean_tracker.result():.2f}",
                        str(targets.dtype), str(predictions.dtype)))
    assert printed[0] == printed[1] == ("result: 1.00", "Mean of values: 2.00", "torch.int32", "torch.int32")


def test_stateless_metric_api_as_in_keras():
    ops = keras.ops
    metric = keras.metrics.SparseCategoricalAccuracy()
    targets = ops.array([0, 1, 2])
    predictions = ops.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    metric_variables = metric.variables
    metric_variables = metric.stateless_update_state(metric_variables, targets, predictions)
    current_result = metric.stateless_result(metric_variables)
    assert f"result: {current_result:.2f}" == "result: 1.00"
    assert [float(v) for v in metric.stateless_reset_state()] == [0.0, 0.0]


def loss_tracker_model(keras, layers):
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    loss_tracker = keras.metrics.Mean(name="loss")

    class CustomModel(keras.Model):
        def train_step(self, data):
            inputs, targets = data
            predictions = self(inputs, training=True)
            loss = loss_fn(targets, predictions)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            loss_tracker.update_state(loss)
            return {"loss": loss_tracker.result()}

        @property
        def metrics(self):
            return [loss_tracker]

    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(0.0)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam())
    return model


def compiled_metrics_model(keras, layers):
    class CustomModel(keras.Model):
        def train_step(self, data):
            inputs, targets = data
            predictions = self(inputs, training=True)
            loss = self.compute_loss(y=targets, y_pred=predictions)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(targets, predictions)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(0.0)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


@pytest.mark.parametrize("build", [loss_tracker_model, compiled_metrics_model], ids=["loss_tracker", "compute_loss"])
def test_custom_train_step_with_pytorch_matches_keras(real_keras, build):
    train_images, train_labels = mnist_like(96, 4)
    models = same_start(real_keras, build)
    assert [m.name for m in models[0].metrics] == [m.name for m in models[1].metrics]
    histories = [m.fit(train_images, train_labels, epochs=3, shuffle=False, verbose=0).history for m in models]
    assert list(histories[0]) == list(histories[1])  # the order train_step returns them in
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, what=key)
    assert_same_weights(models)


def test_custom_model_is_named_after_its_class_as_in_keras(real_keras):
    names = []
    for lib, layers, _ in libraries(real_keras):
        fresh(lib)
        names.append(loss_tracker_model(lib, layers).name)
    assert names[0] == names[1] == "custom_model"
