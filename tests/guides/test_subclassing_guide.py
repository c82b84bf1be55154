"""Keras 3's guide "Making new layers and models via subclassing", listing by listing, run with
``import layerwise as keras``; where numbers can be compared the same listing also runs in Keras 3 (torch
backend) from the same weights. Random draws (dropout, the VAE's sampling) differ by design (README)."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries

import layerwise as keras
from layerwise import layers, ops


def linear_classes(keras, ops):
    class Linear(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    class MLPBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear(32)
            self.linear_2 = Linear(32)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = keras.activations.relu(x)
            x = self.linear_2(x)
            x = keras.activations.relu(x)
            return self.linear_3(x)

    return Linear, MLPBlock


def test_weights_created_in_the_constructor():
    class Linear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    assert_close(as_numpy(y), np.repeat(as_numpy(linear_layer.w).sum(0, keepdims=True), 2, axis=0))


def test_non_trainable_weights_updated_in_call():
    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    assert_close(as_numpy(my_sum(x)), [2.0, 2.0])
    assert_close(as_numpy(my_sum(x)), [4.0, 4.0])
    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []


def test_a_frozen_weight_is_listed_as_non_trainable():
    class Counter(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)
            self.scale = self.add_weight(initializer="ones", shape=(input_dim,))

        def call(self, inputs):
            return inputs * self.scale + self.total

    layer = Counter(2)
    layer(ops.ones((2, 2)))
    assert len(layer.weights) == 2
    assert layer.non_trainable_weights == [layer.total]
    assert layer.trainable_weights == [layer.scale]
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_deferred_weights_and_recursively_composed_layers_match_keras(real_keras):
    results = []
    for lib, lib_layers, lib_ops in libraries(real_keras):
        Linear, MLPBlock = linear_classes(lib, lib_ops)
        x = lib_ops.ones((2, 2))
        linear_layer = Linear(32)
        assert tuple(linear_layer(x).shape) == (2, 32)
        mlp = MLPBlock()
        mlp(lib_ops.ones(shape=(3, 64)))  # The first call to the `mlp` will create the weights
        assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6
        results.append(mlp)
    ours, theirs = results
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((3, 64)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)))


def test_an_inner_layer_frozen_before_its_outer_layer_was_built_stays_frozen():
    _, MLPBlock = linear_classes(keras, ops)
    mlp = MLPBlock()
    mlp.linear_1(ops.ones((1, 4)))
    mlp.linear_1.trainable = False
    mlp(ops.ones((3, 4)))
    assert len(mlp.trainable_weights) == 4 and len(mlp.non_trainable_weights) == 2
    assert not mlp.linear_1.w.requires_grad


def test_set_weights_of_a_composed_layer_names_the_layer():
    _, MLPBlock = linear_classes(keras, ops)
    mlp = MLPBlock()
    mlp(ops.ones((3, 4)))
    with pytest.raises(ValueError, match="expects 6 weight arrays"):
        mlp.set_weights(mlp.get_weights()[:5])


def activity_layers(keras, ops):
    class ActivityRegularizationLayer(keras.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class OuterLayer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    class OuterLayerWithKernelRegularizer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    return ActivityRegularizationLayer, OuterLayer, OuterLayerWithKernelRegularizer


def test_losses_of_inner_layers_match_keras(real_keras):
    values = []
    for lib, lib_layers, lib_ops in libraries(real_keras):
        _, OuterLayer, OuterLayerWithKernelRegularizer = activity_layers(lib, lib_ops)
        layer = OuterLayer()
        assert len(layer.losses) == 0  # No losses yet since the layer has never been called
        _ = layer(lib_ops.ones((1, 1)))
        assert len(layer.losses) == 1  # We created one loss value
        _ = layer(lib_ops.ones((1, 1)))
        assert len(layer.losses) == 1  # This is the loss created during the call above
        regularized = OuterLayerWithKernelRegularizer()
        _ = regularized(lib_ops.zeros((1, 1)))
        assert len(regularized.losses) == 1
        values.append((regularized, float(layer.losses[0])))
    assert values[0][1] == pytest.approx(values[1][1])
    values[0][0].set_weights(values[1][0].get_weights())
    assert float(values[0][0].losses[0]) == pytest.approx(float(values[1][0].losses[0]), rel=1e-6)


def test_add_loss_added_to_the_compiled_loss_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 3)).astype("float32"), rng.random((4, 3)).astype("float32")
    models = []
    for lib, lib_layers, lib_ops in libraries(real_keras):
        ActivityRegularizationLayer, _, _ = activity_layers(lib, lib_ops)
        inputs = lib.Input(shape=(3,))
        outputs = ActivityRegularizationLayer()(lib_layers.Dense(3)(inputs))
        models.append(lib.Model(inputs, outputs))
    models[0].set_weights(models[1].get_weights())
    histories = []
    for model in models:
        model.compile(optimizer="adam", loss="mse")
        histories.append(model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history)
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)


def test_add_loss_with_and_without_a_compiled_loss_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    x, y = rng.random((2, 3)).astype("float32"), rng.random((2, 3)).astype("float32")
    histories = []
    for lib, lib_layers, lib_ops in libraries(real_keras):
        ActivityRegularizationLayer, _, _ = activity_layers(lib, lib_ops)
        inputs = lib.Input(shape=(3,))
        outputs = ActivityRegularizationLayer()(inputs)
        model = lib.Model(inputs, outputs)
        # If there is a loss passed in `compile`, the regularization losses get added to it
        model.compile(optimizer="adam", loss="mse")
        with_loss = model.fit(x, y, verbose=0).history
        # It's also possible not to pass any loss in `compile`, since the model already has a loss to minimize.
        # A new model: recompiling the same one without a loss keeps the old loss in Keras 3.15 (layerwise
        # drops it, as the guide describes).
        inputs = lib.Input(shape=(3,))
        model = lib.Model(inputs, ActivityRegularizationLayer()(inputs))
        model.compile(optimizer="adam")
        histories.append((with_loss, model.fit(x, y, verbose=0).history))
    for ours, theirs in zip(*histories):
        assert sorted(ours) == sorted(theirs) == ["loss"]
        assert_close(ours["loss"], theirs["loss"], rtol=1e-5)


def test_get_config_and_from_config_round_trip():
    Linear, _ = linear_classes(keras, ops)
    layer = Linear(64)
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == layer.name
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name


def test_the_training_argument_of_call():
    class CustomDropout(keras.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return inputs

    layer = CustomDropout(0.5)
    x = ops.ones((4, 100))
    assert_close(as_numpy(layer(x)), np.ones((4, 100)))  # called on its own: inference, as in Keras
    dropped = as_numpy(layer(x, training=True))
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert_close(as_numpy(layers.Dropout(0.5)(x)), np.ones((4, 100)))


def vae_classes(keras, layers, ops):
    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        """Converts z, the encoded digit vector, back into a readable digit."""

        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(keras.Model):
        """Combines the encoder and decoder into an end-to-end model for training."""

        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder


def test_the_variational_autoencoder_trains_and_has_keras_weights(real_keras, seed):
    x_train = np.random.default_rng(2).random((128, 784)).astype("float32")
    models = []
    for lib, lib_layers, lib_ops in libraries(real_keras):
        fresh(lib)
        vae = vae_classes(lib, lib_layers, lib_ops)(784, 64, 32)
        vae(x_train[:2])
        models.append(vae)
    ours, theirs = models
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    ours.compile(optimizer, loss=keras.losses.MeanSquaredError())
    history = ours.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert ours.predict(x_train[:5], verbose=0).shape == (5, 784)
