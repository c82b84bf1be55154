"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 17 "Image generation" (notebook
chapter17_image-generation.ipynb in fchollet/deep-learning-with-python-notebooks), run with ``import layerwise as
keras`` and compared with Keras 3 (torch backend): the VAE's encoder and decoder, its ``Sampler`` layer with a
``SeedGenerator``, the ``VAE`` model whose ``compute_loss`` decodes and tracks two losses, trained with ``fit`` on
images alone and decoded over a latent grid; then the diffusion model: the U-Net denoiser, the cosine
``diffusion_schedule``, the ``DiffusionModel`` (an adapted ``Normalization``, noise drawn in ``call``, a
``compute_loss`` of its own) trained with ``AdamW`` (an ``InverseTimeDecay`` schedule, EMA weights) and its
``generate`` loop.

Nothing is downloaded: random images stand in for MNIST and Oxford Flowers, and the diffusion images are 8x8 with
widths (4, 8) (the book: 128x128, (32, 64, 96, 128)); EMA weights overwrite every 2 steps (the book: 100) so that
a short run shows it. Random draws come from each library's own generator (README), so where numbers are compared
``keras.random.normal`` / ``uniform`` are replaced, in both libraries, by the same NumPy draws. The book's
``generate`` method sits in a markdown cell of the notebook; it is the class's method here, as in the book. The
plotting, the visualisation callback's figures and the KerasHub Stable Diffusion sections are left out."""
from __future__ import annotations

import numpy as np
import pytest
from dlwp_helpers import fresh
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

latent_dim = 2


def vae_parts(keras, layers, ops):
    fresh(keras)
    image_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(image_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(image_inputs, [z_mean, z_log_var], name="encoder")

    class Sampler(keras.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator()
            self.built = True

        def call(self, z_mean, z_log_var):
            batch_size = ops.shape(z_mean)[0]
            z_size = ops.shape(z_mean)[1]
            epsilon = keras.random.normal((batch_size, z_size), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.sampler = Sampler()
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        def call(self, inputs):
            return self.encoder(inputs)

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            original = x  # noqa: F841  (the book's line)
            z_mean, z_log_var = y_pred
            reconstruction = self.decoder(self.sampler(z_mean, z_log_var))

            reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(x, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            total_loss = reconstruction_loss + ops.mean(kl_loss)

            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return total_loss

    return encoder, decoder, Sampler, VAE


class SameDraws:
    """``keras.random.normal`` / ``uniform`` replaced by NumPy draws from one seed, the same in both libraries
    (``seed=`` is ignored), so that models that draw noise can be compared number by number."""

    def __init__(self, lib, seed: int):
        self.lib, self.rng = lib, np.random.default_rng(seed)

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        shape = tuple(int(d) for d in shape)
        return self.lib.ops.convert_to_tensor(self.rng.normal(mean, stddev, shape).astype("float32"))

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        shape = tuple(int(d) for d in shape)
        return self.lib.ops.convert_to_tensor(self.rng.uniform(minval, maxval, shape).astype("float32"))


def same_draws(monkeypatch, real_keras, seed: int) -> None:
    for lib, _, _ in libraries(real_keras):
        draws = SameDraws(lib, seed)
        monkeypatch.setattr(lib.random, "normal", draws.normal)
        monkeypatch.setattr(lib.random, "uniform", draws.uniform)


def digits(n: int, seed: int) -> np.ndarray:
    """MNIST-like images in [0, 1]: blobs of ink on black."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1)) ** 4).astype("float32")


def test_vae_encoder_and_decoder_summaries_match_keras(real_keras):
    parts = [vae_parts(*lib) for lib in libraries(real_keras)]
    for (encoder, decoder, _, _), (k_encoder, k_decoder, _, _) in [parts]:
        assert summary_rows(encoder) == summary_rows(k_encoder)
        assert summary_rows(decoder) == summary_rows(k_decoder)
    assert summary_rows(parts[0][0])[-3] == ("Total params: 69,076 (269.83 KB)",)


def test_sampler_draws_around_the_mean(real_keras):
    for lib, _, ops in libraries(real_keras):
        sampler = vae_parts(lib, lib.layers, ops)[2]()
        z_mean = ops.convert_to_tensor(np.full((2000, latent_dim), 3.0, "float32"))
        z_log_var = ops.convert_to_tensor(np.full((2000, latent_dim), np.log(0.25), "float32"))
        z = as_numpy(sampler(z_mean, z_log_var))
        assert z.shape == (2000, latent_dim) and sampler.built
        assert abs(z.mean() - 3.0) < 0.03 and abs(z.std() - 0.5) < 0.03


def test_vae_trains_as_keras_with_the_same_noise(real_keras, monkeypatch):
    same_draws(monkeypatch, real_keras, seed=0)
    mnist_digits = digits(48, 1)
    real_keras.utils.set_random_seed(5)
    vaes = []
    for lib, layers, ops in libraries(real_keras):
        encoder, decoder, _, VAE = vae_parts(lib, layers, ops)
        vae = VAE(encoder, decoder)
        vae.compile(optimizer=lib.optimizers.Adam())
        vaes.append(vae)
    ours, theirs = vaes
    for part in ("encoder", "decoder"):
        getattr(ours, part).set_weights(getattr(theirs, part).get_weights())
    histories = [vae.fit(mnist_digits, epochs=2, batch_size=16, shuffle=False, verbose=0).history for vae in vaes]
    assert sorted(histories[0]) == sorted(histories[1]) == ["kl_loss", "loss", "reconstruction_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, what=key)
    # the book's latent grid, decoded with predict
    grid_x = np.linspace(-1, 1, 3)
    grid_y = np.linspace(-1, 1, 3)[::-1]
    figures = []
    for vae in vaes:
        figure = np.zeros((28 * 3, 28 * 3))
        for i, yi in enumerate(grid_y):
            for j, xi in enumerate(grid_x):
                z_sample = np.array([[xi, yi]])
                x_decoded = vae.decoder.predict(z_sample, verbose=0)
                digit = x_decoded[0].reshape(28, 28)
                figure[i * 28 : (i + 1) * 28, j * 28 : (j + 1) * 28] = digit
        figures.append(figure)
    assert_close(figures[0], figures[1], rtol=1e-4, atol=1e-5)


batch_size = 4  # the book: 32; DiffusionModel.call reads this global, as in the book
image_size = 8  # the book: 128


def diffusion_parts(keras, layers, ops):
    def residual_block(x, width):
        input_width = x.shape[3]
        if input_width == width:
            residual = x
        else:
            residual = layers.Conv2D(width, kernel_size=1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", activation="swish")(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same")(x)
        x = x + residual
        return x

    def get_model(image_size, widths, block_depth):
        noisy_images = keras.Input(shape=(image_size, image_size, 3))
        noise_rates = keras.Input(shape=(1, 1, 1))

        x = layers.Conv2D(widths[0], kernel_size=1)(noisy_images)
        n = layers.UpSampling2D(size=image_size, interpolation="nearest")(noise_rates)
        x = layers.Concatenate()([x, n])

        skips = []
        for width in widths[:-1]:
            for _ in range(block_depth):
                x = residual_block(x, width)
                skips.append(x)
            x = layers.AveragePooling2D(pool_size=2)(x)

        for _ in range(block_depth):
            x = residual_block(x, widths[-1])

        for width in reversed(widths[:-1]):
            x = layers.UpSampling2D(size=2, interpolation="bilinear")(x)
            for _ in range(block_depth):
                x = layers.Concatenate()([x, skips.pop()])
                x = residual_block(x, width)

        pred_noise_masks = layers.Conv2D(3, kernel_size=1, kernel_initializer="zeros")(x)

        return keras.Model([noisy_images, noise_rates], pred_noise_masks)

    def diffusion_schedule(diffusion_times, min_signal_rate=0.02, max_signal_rate=0.95):
        start_angle = ops.cast(ops.arccos(max_signal_rate), "float32")
        end_angle = ops.cast(ops.arccos(min_signal_rate), "float32")
        diffusion_angles = start_angle + diffusion_times * (end_angle - start_angle)
        signal_rates = ops.cos(diffusion_angles)
        noise_rates = ops.sin(diffusion_angles)
        return noise_rates, signal_rates

    class DiffusionModel(keras.Model):
        def __init__(self, image_size, widths, block_depth, **kwargs):
            super().__init__(**kwargs)
            self.image_size = image_size
            self.denoising_model = get_model(image_size, widths, block_depth)
            self.seed_generator = keras.random.SeedGenerator()
            self.loss = keras.losses.MeanAbsoluteError()
            self.normalizer = keras.layers.Normalization()

        def denoise(self, noisy_images, noise_rates, signal_rates):
            pred_noise_masks = self.denoising_model([noisy_images, noise_rates])
            pred_images = (noisy_images - noise_rates * pred_noise_masks) / signal_rates
            return pred_images, pred_noise_masks

        def call(self, images):
            images = self.normalizer(images)
            noise_masks = keras.random.normal(
                (batch_size, self.image_size, self.image_size, 3), seed=self.seed_generator)
            diffusion_times = keras.random.uniform(
                (batch_size, 1, 1, 1), minval=0.0, maxval=1.0, seed=self.seed_generator)
            noise_rates, signal_rates = diffusion_schedule(diffusion_times)
            noisy_images = signal_rates * images + noise_rates * noise_masks
            pred_images, pred_noise_masks = self.denoise(noisy_images, noise_rates, signal_rates)
            return pred_images, pred_noise_masks, noise_masks

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            _, pred_noise_masks, noise_masks = y_pred
            return self.loss(noise_masks, pred_noise_masks)

        def generate(self, num_images, diffusion_steps):
            noisy_images = keras.random.normal(
                (num_images, self.image_size, self.image_size, 3), seed=self.seed_generator)
            step_size = 1.0 / diffusion_steps
            for step in range(diffusion_steps):
                diffusion_times = ops.ones((num_images, 1, 1, 1)) - step * step_size
                noise_rates, signal_rates = diffusion_schedule(diffusion_times)
                pred_images, pred_noises = self.denoise(noisy_images, noise_rates, signal_rates)
                next_diffusion_times = diffusion_times - step_size
                next_noise_rates, next_signal_rates = diffusion_schedule(next_diffusion_times)
                noisy_images = next_signal_rates * pred_images + next_noise_rates * pred_noises
            images = self.normalizer.mean + pred_images * self.normalizer.variance**0.5
            return ops.clip(images, 0.0, 255.0)

    return get_model, diffusion_schedule, DiffusionModel


def test_unet_summary_and_diffusion_schedule_match_keras(real_keras):
    found = []
    for lib, layers, ops in libraries(real_keras):
        fresh(lib)
        get_model, diffusion_schedule, _ = diffusion_parts(lib, layers, ops)
        unet = get_model(16, widths=[8, 16, 24], block_depth=2)
        diffusion_times = ops.arange(0.0, 1.0, 0.01)
        noise_rates, signal_rates = diffusion_schedule(diffusion_times)
        found.append((summary_rows(unet), ops.convert_to_numpy(noise_rates), ops.convert_to_numpy(signal_rates)))
    (rows, noise, signal), (k_rows, k_noise, k_signal) = found
    assert rows == k_rows
    assert_close(noise, k_noise, rtol=1e-6, atol=1e-7)
    assert_close(signal, k_signal, rtol=1e-6, atol=1e-7)
    assert_close(noise**2 + signal**2, np.ones(100), rtol=1e-6)
    assert signal[0] == pytest.approx(0.95) and noise.shape == (100,)


def flowers(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, image_size, image_size, 3)).astype("float32")


def diffusion_models(real_keras, monkeypatch, dataset: np.ndarray, compiled: bool) -> list:
    """The book's DiffusionModel in both libraries from the same weights, its normalizer adapted, compiled as the
    book compiles it when ``compiled``; the noise draws replaced by the same NumPy draws after one first call (a
    subclassed model's first call in layerwise runs ``call`` once more to find its outputs, which draws noise)."""
    real_keras.utils.set_random_seed(6)
    models = []
    for lib, layers, ops in libraries(real_keras):
        fresh(lib)
        _, _, DiffusionModel = diffusion_parts(lib, layers, ops)
        model = DiffusionModel(image_size, widths=[4, 8], block_depth=1)
        model.normalizer.adapt(dataset)
        if compiled:
            model.compile(
                optimizer=lib.optimizers.AdamW(
                    learning_rate=lib.optimizers.schedules.InverseTimeDecay(
                        initial_learning_rate=1e-3,
                        decay_steps=1000,
                        decay_rate=0.1,
                    ),
                    use_ema=True,
                    ema_overwrite_frequency=2,
                ),
            )
        model(dataset[:batch_size])
        models.append(model)
    models[0].denoising_model.set_weights(models[1].denoising_model.get_weights())
    same_draws(monkeypatch, real_keras, seed=1)
    return models


def test_diffusion_model_denoises_and_generates_as_keras(real_keras, monkeypatch):
    dataset = flowers(16, 2)
    ours, theirs = models = diffusion_models(real_keras, monkeypatch, dataset, compiled=False)
    assert_close(as_numpy(ours.normalizer.mean), as_numpy(theirs.normalizer.mean), rtol=1e-5)
    assert_close(as_numpy(ours.normalizer.variance), as_numpy(theirs.normalizer.variance), rtol=1e-4)
    # the U-Net's last convolution starts at zero: give it weights, so that the predicted noise is not all zeros
    weights = theirs.denoising_model.get_weights()
    weights[-2] = np.random.default_rng(3).normal(0, 0.1, weights[-2].shape).astype("float32")
    for model in models:
        model.denoising_model.set_weights(weights)
    images = dataset[:batch_size]
    outputs = [[as_numpy(v) for v in model(images)] for model in models]
    for ours_value, theirs_value, what in zip(*outputs, ("pred_images", "pred_noise_masks", "noise_masks")):
        assert_close(ours_value, theirs_value, rtol=1e-4, atol=1e-4, what=what)
    losses = [float(model.compute_loss(images, None, model(images))) for model in models]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    generated = [as_numpy(model.generate(num_images=3, diffusion_steps=4)) for model in models]
    assert generated[0].shape == (3, image_size, image_size, 3)
    assert generated[0].min() >= 0.0 and generated[0].max() <= 255.0
    assert_close(generated[0], generated[1], rtol=1e-3, atol=1e-2)


@pytest.mark.xfail(strict=True, reason=(
    "DiffusionModel.call takes no `training` argument, so Keras 3's fit calls it without training=True and the "
    "U-Net's BatchNormalization layers run in inference mode, their moving statistics unchanged "
    "(keras-team/keras-hub#1500); layerwise's fit trains them, as tf.keras did (README), so the weights after eight "
    "steps differ by ~1e-4 and the moving statistics entirely (the losses match)."))
def test_diffusion_model_trains_as_keras(real_keras, monkeypatch, tmp_path):
    dataset = flowers(16, 2)
    models = diffusion_models(real_keras, monkeypatch, dataset, compiled=True)
    histories = []
    for model, (lib, _, _), tag in zip(models, libraries(real_keras), ("ours", "keras")):
        checkpoint = lib.callbacks.ModelCheckpoint(filepath=str(tmp_path / f"{tag}.weights.h5"),
                                                   save_weights_only=True, save_best_only=True)
        histories.append(model.fit(dataset, epochs=2, batch_size=batch_size, shuffle=False, callbacks=[checkpoint],
                                   verbose=0).history)
    assert list(histories[0]) == list(histories[1]) == ["loss"]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras.weights.h5", "ours.weights.h5"]
    ours, theirs = models  # eight steps, the EMA weights written over the model's every second step
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 8
    for w, k_w in zip(ours.denoising_model.get_weights(), theirs.denoising_model.get_weights()):
        assert_close(w, k_w, rtol=1e-4, atol=1e-4)
