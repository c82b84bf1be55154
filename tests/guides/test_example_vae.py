"""keras-io example "Variational AutoEncoder" (examples/generative/vae.py) run with ``import layerwise as keras``
and in Keras 3 (torch backend): the Sampling layer, the encoder and decoder (summaries, outputs from the same
weights), the VAE model with its own loss trackers and a custom ``train_step``, and the latent-space
look-ups of the plots. The example's ``train_step`` uses TensorFlow's GradientTape; here it is written as in
Keras' guide "Customizing what happens in fit() with PyTorch" (backward, then ``optimizer.apply``), and the
Sampling layer uses ``keras.random`` / ``keras.ops`` as the example's Keras 3 edition does. MNIST is not
downloaded: scikit-learn's bundled 8x8 digits, enlarged and padded to 28x28, stand in for it; matplotlib is left
out."""
from __future__ import annotations

import functools

import numpy as np
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows
from sklearn.datasets import load_digits

latent_dim = 2



def sampling_layer(keras, layers, ops):
    class Sampling(layers.Layer):
        """Draws z from N(z_mean, exp(z_log_var)) with the reparametrisation trick."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    return Sampling


def encoder_decoder(keras, layers, ops):
    fresh(keras)
    Sampling = sampling_layer(keras, layers, ops)
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    return encoder, decoder


def vae_losses(keras, ops, data, z_mean, z_log_var, reconstruction):
    """The example's loss, taken out of train_step so that a test can also compute it from given tensors."""
    reconstruction_loss = ops.mean(
        ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
    )
    kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
    return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss


def vae_class(keras, layers, ops):
    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [
                self.total_loss_tracker,
                self.reconstruction_loss_tracker,
                self.kl_loss_tracker,
            ]

        def train_step(self, data):
            self.zero_grad()
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            total_loss, reconstruction_loss, kl_loss = vae_losses(keras, ops, data, z_mean, z_log_var,
                                                                  reconstruction)
            total_loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {
                "loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result(),
            }

        def call(self, x):
            z_mean, z_log_var, z = self.encoder(x)
            return self.decoder(z)

    return VAE


@functools.cache
def digit_images():
    """scikit-learn's 1797 digits as MNIST-like uint8 images: each pixel 3x3, a 2-pixel border, 0-255."""
    images = np.kron(load_digits().images, np.ones((3, 3)))
    return np.round(np.pad(images, ((0, 0), (2, 2), (2, 2))) * 255 / 16).astype("uint8")


def mnist_digits_like(n, start):
    """``n`` digits from ``start`` on, prepared as the example prepares MNIST: a channel axis, float32 in [0, 1]."""
    digits = digit_images()[start:start + n]
    return np.expand_dims(digits, -1).astype("float32") / 255


def test_encoder_and_decoder_match_keras(real_keras):
    (encoder, decoder), (k_encoder, k_decoder) = [encoder_decoder(*lib) for lib in libraries(real_keras)]
    assert summary_rows(encoder) == summary_rows(k_encoder)
    assert summary_rows(decoder) == summary_rows(k_decoder)
    encoder.set_weights(k_encoder.get_weights())
    decoder.set_weights(k_decoder.get_weights())
    x = mnist_digits_like(4, 0)
    (z_mean, z_log_var, z), (k_z_mean, k_z_log_var, k_z) = as_numpy(encoder(x)), as_numpy(k_encoder(x))
    assert_close(z_mean, k_z_mean, rtol=1e-4, atol=1e-6)
    assert_close(z_log_var, k_z_log_var, rtol=1e-4, atol=1e-6)
    assert z.shape == k_z.shape == (4, latent_dim)  # z is a random draw in each library
    latent = np.random.default_rng(1).normal(size=(3, latent_dim)).astype("float32")
    assert_close(as_numpy(decoder(latent)), as_numpy(k_decoder(latent)), rtol=1e-4, atol=1e-6)


def test_the_vae_loss_from_the_same_tensors_matches_keras(real_keras):
    rng = np.random.default_rng(2)
    data = mnist_digits_like(5, 3)
    z_mean, z_log_var = rng.normal(size=(2, 5, latent_dim)).astype("float32")
    reconstruction = rng.uniform(0.01, 0.99, data.shape).astype("float32")
    losses = [as_numpy(vae_losses(lib, ops, data, *map(lib.ops.convert_to_tensor, (z_mean, z_log_var,
                                                                                    reconstruction))))
              for lib, _, ops in libraries(real_keras)]
    assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)


def test_sampling_draws_from_the_posterior(real_keras):
    for keras, layers, ops in libraries(real_keras):
        sampling = sampling_layer(keras, layers, ops)()
        z_mean = np.full((20000, latent_dim), 2.0, dtype="float32")
        z_log_var = np.full((20000, latent_dim), np.log(0.25), dtype="float32")
        first, second = (as_numpy(sampling([z_mean, z_log_var])) for _ in range(2))
        assert first.shape == (20000, latent_dim)
        assert abs(first.mean() - 2.0) < 0.02 and abs(first.std() - 0.5) < 0.02, keras.__name__
        assert not np.allclose(first, second)  # the seed generator moves on at each call


def test_the_vae_trains_with_its_custom_train_step_as_in_keras(real_keras):
    mnist_digits = mnist_digits_like(8, 4)
    results = []
    for keras, layers, ops in reversed(libraries(real_keras)):
        encoder, decoder = encoder_decoder(keras, layers, ops)
        if results:  # the same starting weights as Keras' model
            encoder.set_weights(results[0][2])
            decoder.set_weights(results[0][3])
        initial_weights = encoder.get_weights(), decoder.get_weights()
        vae = vae_class(keras, layers, ops)(encoder, decoder)
        vae.compile(optimizer=keras.optimizers.Adam())
        # The example's 30 epochs of batches of 128 over 70,000 digits shrink to 2 epochs of 2 batches of 4
        # (Keras runs first so that its starting weights are the ones copied).
        history = vae.fit(mnist_digits, epochs=2, batch_size=4, shuffle=False, verbose=0).history
        results.append((vae, history, *initial_weights))
    (k_vae, k_history, *_), (vae, history, *_) = results
    assert list(history) == list(k_history) == ["kl_loss", "loss", "reconstruction_loss"]  # Keras sorts them
    assert [m.name for m in vae.metrics] == [m.name for m in k_vae.metrics]
    assert_close(history["loss"], np.add(history["reconstruction_loss"], history["kl_loss"]), rtol=1e-5)
    assert np.isfinite(history["loss"]).all() and np.isfinite(k_history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
    # Only the sampling noise differs: the reconstruction loss dominates and follows Keras' closely.
    assert_close(history["reconstruction_loss"], k_history["reconstruction_loss"], rtol=0.02)
    assert_close(history["loss"], k_history["loss"], rtol=0.02)


def test_without_the_sampling_noise_the_custom_train_step_matches_keras_epoch_by_epoch(real_keras):
    # Not in the example: the same VAE with z = z_mean (a deterministic stand-in for Sampling), so that the
    # custom train_step, optimizer.apply and the loss trackers can be compared with Keras exactly.
    mnist_digits = mnist_digits_like(8, 6)
    results = []
    for keras, layers, ops in reversed(libraries(real_keras)):
        encoder, decoder = encoder_decoder(keras, layers, ops)
        z_mean, z_log_var, _ = encoder.outputs
        encoder = keras.Model(encoder.inputs, [z_mean, z_log_var, z_mean], name="encoder")
        if results:
            encoder.set_weights(results[0][1])
            decoder.set_weights(results[0][2])
        initial_weights = encoder.get_weights(), decoder.get_weights()
        vae = vae_class(keras, layers, ops)(encoder, decoder)
        vae.compile(optimizer=keras.optimizers.Adam())
        history = vae.fit(mnist_digits, epochs=2, batch_size=4, shuffle=False, verbose=0).history
        results.append((history, *initial_weights))
    (k_history, *_), (history, *_) = results
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)


def test_the_latent_space_look_ups_of_the_plots(real_keras):
    (encoder, decoder), (k_encoder, k_decoder) = [encoder_decoder(*lib) for lib in libraries(real_keras)]
    encoder.set_weights(k_encoder.get_weights())
    decoder.set_weights(k_decoder.get_weights())
    digit_size, n, scale = 28, 2, 1.0  # the example's grid is 30 x 30
    grid_x = np.linspace(-scale, scale, n)
    grid_y = np.linspace(-scale, scale, n)[::-1]
    figures = []
    for model in (decoder, k_decoder):
        figure = np.zeros((digit_size * n, digit_size * n))
        for i, yi in enumerate(grid_y):
            for j, xi in enumerate(grid_x):
                z_sample = np.array([[xi, yi]])  # float64, as in the example
                x_decoded = model.predict(z_sample, verbose=0)
                digit = x_decoded[0].reshape(digit_size, digit_size)
                figure[i * digit_size:(i + 1) * digit_size, j * digit_size:(j + 1) * digit_size] = digit
        figures.append(figure)
    assert_close(figures[0], figures[1], rtol=1e-4, atol=1e-6)
    x_train = mnist_digits_like(10, 5)
    (z_mean, _, _), (k_z_mean, _, _) = encoder.predict(x_train, verbose=0), k_encoder.predict(x_train, verbose=0)
    assert z_mean.shape == (10, latent_dim)
    assert_close(z_mean, k_z_mean, rtol=1e-4, atol=1e-6)
