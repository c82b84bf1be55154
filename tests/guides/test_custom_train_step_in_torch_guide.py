"""Keras 3's guide "Customizing what happens in fit() with PyTorch" (guides/custom_train_step_in_torch.py), every
listing run with ``import layerwise as keras`` and in Keras 3 (torch backend): the first ``train_step`` with
``compute_loss`` and the compiled metrics, the lower-level step with its own loss and metric trackers, the step that
takes ``sample_weight``, the overridden ``test_step``, and the GAN with two optimizers. The deterministic listings
train from the same weights on the same batches (``shuffle=False``) and their per-epoch logs are compared with
Keras'; the GAN draws its latent vectors from each library's own generator, so it is checked to train. MNIST is
not downloaded: random images of its shape stand in for it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows



def first_custom_model(keras, layers, ops):
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def lower_level_model(keras, layers, ops):
    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = keras.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {
                "loss": self.loss_tracker.result(),
                "mae": self.mae_metric.result(),
            }

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    return CustomModel


def sample_weight_model(keras, layers, ops):
    class CustomModel(keras.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(
                y=y,
                y_pred=y_pred,
                sample_weight=sample_weight,
            )
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def evaluating_model(keras, layers, ops):
    class CustomModel(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def dense_model(keras, layers, ops, model_class):
    fresh(keras)
    CustomModel = model_class(keras, layers, ops)
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    return CustomModel(inputs, outputs)


def twins(real_keras, model_class):
    ours, theirs = [dense_model(*lib, model_class) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def data(n=96, seed=0):
    """The guide's x and y (1000 rows there), fewer rows."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 32)), rng.random((n, 1))


def assert_same_history(ours, theirs):
    assert list(ours) == list(theirs)
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)


def test_the_first_train_step_with_compute_loss_trains_as_in_keras(real_keras):
    ours, theirs = twins(real_keras, first_custom_model)
    x, y = data()
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, epochs=3, shuffle=False, verbose=0).history)
    assert set(histories[1]) == {"loss", "mae"}
    assert_same_history(*histories)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_the_lower_level_train_step_with_its_own_trackers_trains_as_in_keras(real_keras):
    ours, theirs = twins(real_keras, lower_level_model)
    x, y = data(seed=1)
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam")
        histories.append(model.fit(x, y, epochs=5, shuffle=False, verbose=0).history)
    assert_same_history(*histories)
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics] == ["loss", "mae"]
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]


def fit_with_sample_weight(real_keras, sw):
    ours, theirs = twins(real_keras, sample_weight_model)
    x, y = data(seed=2)
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, sample_weight=sw, epochs=3, shuffle=False, verbose=0).history)
    assert_same_history(*histories)
    # Without sample weights the same step takes the two-element branch.
    for model in (ours, theirs):
        model.set_weights(theirs.get_weights())
    histories = [model.fit(x, y, epochs=1, shuffle=False, verbose=0).history for model in (ours, theirs)]
    assert_same_history(*histories)


def test_the_train_step_with_sample_weight_trains_as_in_keras(real_keras):
    # The guide's weights: one column, sw = np.random.random((1000, 1)).
    fit_with_sample_weight(real_keras, np.random.default_rng(3).random((96, 1)))


def test_the_custom_test_step_evaluates_as_in_keras(real_keras):
    ours, theirs = twins(real_keras, evaluating_model)
    x, y = data(seed=4)
    results = []
    for model in (ours, theirs):
        model.compile(loss="mse", metrics=["mae"])
        results.append(model.evaluate(x, y, verbose=0))
    assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)
    as_dict = [model.evaluate(x, y, verbose=0, return_dict=True) for model in (ours, theirs)]
    assert list(as_dict[0]) == list(as_dict[1])
    assert_close(list(as_dict[0].values()), list(as_dict[1].values()), rtol=1e-5, atol=1e-6)


def gan_parts(keras, layers, ops):
    fresh(keras)
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    latent_dim = 128
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator, latent_dim


def gan_class(keras, layers, ops):
    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, real_images):
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            batch_size = real_images.shape[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            generated_images = self.generator(random_latent_vectors)
            # The guide picks "cuda" when present; the model's own device is the same there and right here too
            device = generated_images.device
            real_images = torch.tensor(real_images, device=device)
            combined_images = torch.concat([generated_images, real_images], axis=0)
            labels = torch.concat(
                [
                    torch.ones((batch_size, 1), device=device),
                    torch.zeros((batch_size, 1), device=device),
                ],
                axis=0,
            )
            labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)

            self.zero_grad()
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
            d_loss.backward()
            grads = [grad(v) for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            misleading_labels = torch.zeros((batch_size, 1), device=device)

            self.zero_grad()
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
            grads = g_loss.backward()
            grads = [grad(v) for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)

            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {
                "d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result(),
            }

    return GAN


def test_the_gan_s_discriminator_and_generator_match_keras(real_keras):
    ours, theirs = [gan_parts(*lib) for lib in libraries(real_keras)]
    rng = np.random.default_rng(5)
    images = rng.random((2, 28, 28, 1)).astype("float32")
    latent = rng.normal(size=(2, 128)).astype("float32")
    for our_model, their_model, x in zip(ours[:2], theirs[:2], (images, latent)):
        assert summary_rows(our_model) == summary_rows(their_model)
        our_model.set_weights(their_model.get_weights())
        assert_close(as_numpy(our_model(x)), as_numpy(their_model(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["layerwise", pytest.param("keras", marks=pytest.mark.xfail(
    strict=True, raises=AttributeError, reason="Keras 3.15 hands train_step a DataLoader batch as a list, which the "
    "guide's isinstance(real_images, tuple) misses; layerwise hands on a tuple"))])
def test_the_gan_trains_with_fit_on_a_dataloader(real_keras, which):
    # Each library draws the latent vectors from its own generator, so the two runs are checked alike, not compared.
    keras, layers, ops = libraries(real_keras)[0 if which == "layerwise" else 1]
    torch.manual_seed(0)
    discriminator, generator, latent_dim = gan_parts(keras, layers, ops)
    GAN = gan_class(keras, layers, ops)
    batch_size = 64
    all_digits = (np.random.default_rng(6).random((2 * batch_size, 28, 28)) < 0.2).astype("float32")
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(all_digits), torch.from_numpy(all_digits))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)

    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    d_before, g_before = discriminator.get_weights(), generator.get_weights()
    history = gan.fit(dataloader, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"} and len(history["d_loss"]) == 1
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2
    assert all(not np.allclose(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    assert all(not np.allclose(a, b) for a, b in zip(g_before, generator.get_weights()))
    assert generator.predict(np.zeros((3, latent_dim), "float32"), verbose=0).shape == (3, 28, 28, 1)
