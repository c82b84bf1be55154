"""Keras 3's guide "Introduction to Keras for engineers" (guides/intro_to_keras_for_engineers.py), run with
``import layerwise as keras`` and in Keras 3 (torch backend): the MNIST convnet (summary, outputs from the same
weights, training with ModelCheckpoint and EarlyStopping, evaluate, save, reload, predict), the custom ``MyDense``
and ``MyDropout`` layers written with ``keras.ops`` and ``keras.random``, the subclassed ``MyModel`` trained on
arrays and on PyTorch DataLoaders. MNIST is not downloaded: random images of its shape stand in for it, fewer of
them and fewer epochs. The guide's model has Dropout (and MyDropout drops in every call), so training is checked to
run and learn rather than compared step by step; the tf.data section needs TensorFlow and is left out."""
from __future__ import annotations

import numpy as np
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

num_classes = 10
input_shape = (28, 28, 1)
batch_size = 128


def mnist_like(n, seed):
    """Images scaled to [0, 1] with a channel axis and integer labels, as the guide prepares MNIST; the label is
    the brightest of ten horizontal bands, so that there is something to learn."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28)).astype("float32") * 0.3
    y = rng.integers(0, num_classes, n)
    for i, label in enumerate(y):
        x[i, 2 + 2 * label:4 + 2 * label, :] += 0.7
    x = np.expand_dims(x, -1)
    return x, y.astype("uint8")


def convnet(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential(
        [
            keras.layers.Input(shape=input_shape),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )
    return model


def compile_guide_model(keras, model):
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
        ],
    )


def test_the_convnet_s_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [convnet(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, y = mnist_like(4, 0)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-6)
    (lw, _, _), (k, _, _) = libraries(real_keras)
    for lib, model in ((lw, ours), (k, theirs)):
        compile_guide_model(lib, model)
    scores = [model.evaluate(x, y, verbose=0) for model in (ours, theirs)]
    assert_close(scores[0], scores[1], rtol=1e-4, atol=1e-6)


def test_the_convnet_trains_with_checkpoints_and_early_stopping_then_saves_and_reloads(tmp_path):
    keras = layerwise
    torch.manual_seed(0)  # layerwise draws its initial weights and dropout masks from PyTorch's generator
    model = convnet(keras, keras.layers, keras.ops)
    compile_guide_model(keras, model)
    x_train, y_train = mnist_like(96, 1)
    x_test, y_test = mnist_like(32, 2)
    epochs = 3  # 20 in the guide
    # The guide's checkpoints are .keras files; layerwise writes its own format (README), named .lw here.
    callbacks = [
        keras.callbacks.ModelCheckpoint(filepath=str(tmp_path / "model_at_epoch_{epoch}.lw")),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
    ]
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.15,
        callbacks=callbacks,
        verbose=0,
    )
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert 1 <= len(history.history["loss"]) <= epochs
    assert history.history["loss"][-1] < history.history["loss"][0]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == [f"model_at_epoch_{i + 1}.lw" for i in range(len(history.history["loss"]))]
    score = model.evaluate(x_test, y_test, verbose=0)
    assert len(score) == 2 and all(np.isfinite(score))

    model.save(str(tmp_path / "final_model.lw"))
    reloaded = keras.saving.load_model(str(tmp_path / "final_model.lw"))
    predictions = reloaded.predict(x_test, verbose=0)
    assert predictions.shape == (32, num_classes)
    assert_close(predictions.sum(axis=1), np.ones(32), rtol=1e-5)
    assert_close(predictions, model.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)
    last = keras.saving.load_model(str(tmp_path / saved[-1]))
    assert_close(last.predict(x_test, verbose=0), predictions, rtol=1e-5, atol=1e-6)


def custom_components(keras, layers, ops):
    class MyDense(keras.layers.Layer):
        def __init__(self, units, activation=None, name=None):
            super().__init__(name=name)
            self.units = units
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            input_dim = input_shape[-1]
            self.w = self.add_weight(
                shape=(input_dim, self.units),
                initializer=keras.initializers.GlorotNormal(),
                name="kernel",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,),
                initializer=keras.initializers.Zeros(),
                name="bias",
                trainable=True,
            )

        def call(self, inputs):
            x = keras.ops.matmul(inputs, self.w) + self.b
            return self.activation(x)

    class MyDropout(keras.layers.Layer):
        def __init__(self, rate, name=None):
            super().__init__(name=name)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)

    class MyModel(keras.Model):
        def __init__(self, num_classes):
            super().__init__()
            self.conv_base = keras.Sequential(
                [
                    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                    keras.layers.MaxPooling2D(pool_size=(2, 2)),
                    keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
                    keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
                    keras.layers.GlobalAveragePooling2D(),
                ]
            )
            self.dp = MyDropout(0.5)
            self.dense = MyDense(num_classes, activation="softmax")

        def call(self, x):
            x = self.conv_base(x)
            x = self.dp(x)
            return self.dense(x)

    return MyDense, MyDropout, MyModel


def test_my_dense_matches_keras_from_the_same_weights(real_keras):
    ours, theirs = [custom_components(*lib)[0](num_classes, activation="softmax") for lib in libraries(real_keras)]
    x = np.random.default_rng(3).random((5, 128)).astype("float32")
    theirs(x)
    ours(x)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()] == [(128, 10), (10,)]
    assert [len(m.trainable_weights) for m in (ours, theirs)] == [2, 2]
    ours.set_weights(theirs.get_weights())
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    # GlorotNormal draws differ (README: PyTorch's generators) but have Keras' spread.
    stds = []
    for lib in libraries(real_keras):
        layer = custom_components(*lib)[0](64)
        layer.build((None, 4096))
        stds.append(layer.get_weights()[0].std())
    assert_close(stds[0], stds[1], rtol=0.02)


def test_my_dropout_drops_half_and_scales_the_rest_as_keras_does(real_keras):
    x = np.ones((100, 64), "float32")
    for lib in libraries(real_keras):
        dropout = custom_components(*lib)[1](0.5)
        first, second = as_numpy(dropout(x)), as_numpy(dropout(x))
        assert set(np.unique(first)) <= {0.0, 2.0}
        assert 0.4 < (first == 0).mean() < 0.6
        assert not np.array_equal(first, second)  # the seed generator moves on at each call
        assert dropout.weights == [] or len(dropout.weights) == 0


def test_my_model_s_parts_match_keras_from_the_same_weights(real_keras):
    ours, theirs = [custom_components(*lib)[2](num_classes=10) for lib in libraries(real_keras)]
    x, _ = mnist_like(3, 4)
    our_out, their_out = ours(x), theirs(x)
    assert tuple(our_out.shape) == tuple(their_out.shape) == (3, 10)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    features = [as_numpy(model.conv_base(x)) for model in (ours, theirs)]
    assert_close(features[0], features[1], rtol=1e-4, atol=1e-6)
    assert_close(as_numpy(ours.dense(features[1])), as_numpy(theirs.dense(features[1])), rtol=1e-5, atol=1e-6)


def test_my_model_trains_on_arrays_and_on_dataloaders():
    keras = layerwise
    torch.manual_seed(1)
    MyModel = custom_components(keras, keras.layers, keras.ops)[2]
    x_train, y_train = mnist_like(96, 5)
    x_test, y_test = mnist_like(32, 6)

    model = MyModel(num_classes=10)
    compile_guide_model(keras, model)
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=1,
        validation_split=0.15,
        verbose=0,
    )
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert all(np.isfinite(v[0]) for v in history.history.values())

    train_torch_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_torch_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test))
    train_dataloader = torch.utils.data.DataLoader(train_torch_dataset, batch_size=batch_size, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(val_torch_dataset, batch_size=batch_size, shuffle=False)
    model = MyModel(num_classes=10)
    compile_guide_model(keras, model)
    history = model.fit(train_dataloader, epochs=2, validation_data=val_dataloader, verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert len(history.history["loss"]) == 2 and history.history["loss"][1] < history.history["loss"][0]
    # MyDropout drops in every call, predict included (as in Keras), so only the shape and the softmax are fixed.
    predictions = model.predict(x_test, verbose=0)
    assert predictions.shape == (32, 10)
    assert_close(predictions.sum(axis=1), np.ones(32), rtol=1e-5)
    # The tf.data section of the guide needs TensorFlow and is left out.


def test_my_model_trains_on_dataloaders_with_the_same_logs_as_keras(real_keras):
    logs = []
    for lib in libraries(real_keras):
        MyModel = custom_components(*lib)[2]
        x_train, y_train = mnist_like(16, 7)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), batch_size=16)
        model = MyModel(num_classes=10)
        compile_guide_model(lib[0], model)
        logs.append(model.fit(loader, epochs=1, validation_data=loader, verbose=0).history)
    assert sorted(logs[0]) == sorted(logs[1])
