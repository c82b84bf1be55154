"""keras-io example "Simple custom layer example: Antirectifier" (examples/keras_recipes/antirectifier.py) run with
``import layerwise as keras`` and compared with Keras 3 (torch backend). The example's ``tf`` calls are written
with ``keras.ops`` so that one listing runs in both libraries; MNIST is replaced by a few synthetic 28x28 digits
(class templates plus noise)."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows


def antirectifier_class(keras, layers, ops):
    class Antirectifier(layers.Layer):
        def __init__(self, initializer="he_normal", **kwargs):
            super().__init__(**kwargs)
            self.initializer = keras.initializers.get(initializer)

        def build(self, input_shape):
            output_dim = input_shape[-1]
            self.kernel = self.add_weight(shape=(output_dim * 2, output_dim), initializer=self.initializer,
                                          name="kernel", trainable=True)

        def call(self, inputs):
            inputs -= ops.mean(inputs, axis=-1, keepdims=True)
            pos = ops.relu(inputs)
            neg = ops.relu(-inputs)
            concatenated = ops.concatenate([pos, neg], axis=-1)
            mixed = ops.matmul(concatenated, self.kernel)
            return mixed

        def get_config(self):
            base_config = super().get_config()
            config = {"initializer": keras.initializers.serialize(self.initializer)}
            return dict(list(base_config.items()) + list(config.items()))

    return Antirectifier


def antirectifier_model(keras, layers, ops):
    fresh(keras)
    Antirectifier = antirectifier_class(keras, layers, ops)
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(256),
        Antirectifier(),
        layers.Dense(256),
        Antirectifier(),
        layers.Dropout(0.5),
        layers.Dense(10),
    ])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def digits(n, seed=0):
    """``n`` flattened 28x28 images in [0, 1]: one random template per class, plus noise."""
    rng = np.random.default_rng(seed)
    templates = (np.random.default_rng(42).random((10, 784)) > 0.7).astype("float32")
    y = rng.integers(0, 10, n)
    x = np.clip(templates[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1).astype("float32")
    return x, y


def test_the_antirectifier_model_matches_keras(real_keras):
    ours, theirs = [antirectifier_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, y = digits(48)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-6)


def test_the_antirectifier_model_trains_with_a_validation_split(real_keras, seed):
    ours, theirs = [antirectifier_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x_train, y_train = digits(112, seed=1)
    x_test, y_test = digits(40, seed=2)
    histories = [m.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.15, verbose=0).history
                 for m, epochs in ((ours, 3), (theirs, 1))]
    # Dropout masks come from each library's own generator (README): Keras' run gives the logs' names only.
    assert sorted(histories[0]) == sorted(histories[1])
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]
    assert histories[0]["val_loss"][-1] < histories[0]["val_loss"][0]
    score = ours.evaluate(x_test, y_test, verbose=0)
    assert len(score) == 2 and score[1] > 0.5
    assert ours.predict(x_test, verbose=0).shape == (40, 10)


def test_get_config_rebuilds_the_layer_as_in_keras(real_keras):
    x = digits(4)[0][:, :64]
    results = []
    for lib in reversed(libraries(real_keras)):
        fresh(lib[0])
        Antirectifier = antirectifier_class(*lib)
        layer = Antirectifier(initializer="glorot_uniform")
        layer(x)
        if results:  # layerwise's layer takes Keras' weights
            layer.set_weights(results[0][0].get_weights())
        clone = Antirectifier.from_config(layer.get_config())
        clone(x)
        clone.set_weights(layer.get_weights())
        assert type(clone.initializer).__name__ == "GlorotUniform"
        assert clone.name == layer.name
        assert_close(as_numpy(clone(x)), as_numpy(layer(x)))
        results.append((layer, as_numpy(layer(x))))
    assert_close(results[1][1], results[0][1], rtol=1e-5, atol=1e-6)


def test_a_model_of_antirectifiers_saves_and_loads(real_keras, tmp_path):
    x, _ = digits(8)
    predictions = []
    for (lib, lib_layers, lib_ops), path in zip(libraries(real_keras), ("m.lw", "m.keras")):
        model = antirectifier_model(lib, lib_layers, lib_ops)
        Antirectifier = type(model.layers[1])
        model.save(tmp_path / path)
        loader = getattr(lib, "load_model", None) or lib.models.load_model
        restored = loader(tmp_path / path, custom_objects={"Antirectifier": Antirectifier})
        assert type(restored.layers[1]).__name__ == "Antirectifier"
        predictions.append((model.predict(x, verbose=0), restored.predict(x, verbose=0)))
    for original, restored in predictions:
        assert_close(restored, original, rtol=1e-5, atol=1e-6)


def test_a_frozen_antirectifier_stays_frozen_through_get_config(real_keras):
    flags = []
    for lib in libraries(real_keras):
        fresh(lib[0])
        Antirectifier = antirectifier_class(*lib)
        layer = Antirectifier()
        layer(digits(2)[0][:, :16])
        layer.trainable = False
        flags.append(Antirectifier.from_config(layer.get_config()).trainable)
    assert flags[0] == flags[1] is False


def test_the_in_place_subtraction_leaves_the_caller_s_array_alone_as_in_keras(real_keras):
    for lib in libraries(real_keras):
        fresh(lib[0])
        Antirectifier = antirectifier_class(*lib)
        x = digits(2)[0]
        before = x.copy()
        Antirectifier()(x)
        model = lib[0].Sequential([lib[0].Input(shape=(784,)), Antirectifier(), lib[1].Dense(10)])
        model.predict(x, verbose=0)
        np.testing.assert_array_equal(x, before, err_msg=lib[0].__name__)
