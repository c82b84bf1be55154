"""keras-io example "DCGAN to generate face images" (examples/generative/dcgan_overriding_train_step.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend): the discriminator and the generator (summaries,
parameter counts, outputs from the same weights), the GAN model with ``compile(d_optimizer, g_optimizer,
loss_fn)``, its loss trackers and its own ``train_step`` with two optimizers, and the GANMonitor callback.

Changes made to run it here: CelebA is not downloaded; random crops of scikit-learn's two bundled photographs
(china.jpg, flower.jpg), scaled to [0, 1] as the example scales its faces, stand in for it. The example's
``train_step`` uses TensorFlow's GradientTape; it is written as in Keras' guide "Customizing what happens in
fit() with PyTorch" (``zero_grad``, ``backward``, then ``optimizer.apply`` under ``torch.no_grad``), with
``keras.random`` and ``keras.ops`` for the tf.random / tf calls, and ``self.built = True`` as that guide's GAN
sets it (the model has no ``call`` to be built with, and ``fit`` on arrays builds an unbuilt model). The
example's ``tf.data`` pipeline becomes NumPy arrays given to ``fit``. GANMonitor keeps its logic (latents from
its own seed generator, generated images times 255, ``array_to_img``) but collects the images instead of
writing PNG files, and reads the tensor with ``ops.convert_to_numpy`` (``.numpy()`` raises on a torch tensor
that requires grad, in both libraries). The architecture is the example's; the training tests use 8x8 images
(the generator's first map 1x1 instead of 8x8) to stay fast. The labels with their noise are clipped to
[0, 1] before the loss: on Keras 3's torch backend BinaryCrossentropy refuses targets above 1 (a test shows the
example's unclipped labels stop both libraries alike). To compare ``train_step`` with Keras exactly, the tests
feed both libraries the same latent vectors and label noise in place of ``keras.random``'s draws. The
discriminator's Dropout runs in inference mode inside this ``train_step`` in both (it calls the model without
``training=True``); a test checks that, and the others also set its rate to 0."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows
from sklearn.datasets import load_sample_images

latent_dim = 128



@pytest.fixture(autouse=True)
def _seeded(seed):
    """Each test starts from seeded generators (Keras' initial weights, which layerwise's models copy)."""


def dcgan_models(keras, layers, ops, image_size=64):
    """The example's discriminator and generator (``image_size`` 64 in the example)."""
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            layers.Conv2D(64, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(128, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(128, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    first = image_size // 8  # 8 in the example
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(first * first * 128),
            layers.Reshape((first, first, 128)),
            layers.Conv2DTranspose(128, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2DTranspose(256, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2DTranspose(512, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator


def gan_class(keras, layers, ops, clip_labels=True):
    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.built = True

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            # Sample random points in the latent space
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )

            # Decode them to fake images
            generated_images = self.generator(random_latent_vectors)

            # Combine them with real images
            combined_images = ops.concatenate([generated_images, real_images], axis=0)

            # Assemble labels discriminating real from fake images
            labels = ops.concatenate(
                [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
            )
            # Add random noise to the labels - important trick!
            labels = labels + 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
            if clip_labels:  # not in the example: the torch backend's binary crossentropy wants targets <= 1
                labels = ops.clip(labels, 0.0, 1.0)

            # Train the discriminator
            self.zero_grad()
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
            d_loss.backward()
            grads = [grad(v) for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

            # Sample random points in the latent space
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )

            # Assemble labels that say "all real images"
            misleading_labels = ops.zeros((batch_size, 1))

            # Train the generator (note that we should *not* update the weights
            # of the discriminator)!
            self.zero_grad()
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
            g_loss.backward()
            grads = [grad(v) for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)

            # Update metrics
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {
                "d_loss": self.d_loss_metric.result(),
                "g_loss": self.g_loss_metric.result(),
            }

    return GAN


def gan_monitor_class(keras, layers, ops):
    class GANMonitor(keras.callbacks.Callback):
        def __init__(self, num_img=3, latent_dim=128):
            self.num_img = num_img
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(42)
            self.images = []  # (epoch, i, PIL image): the example saves generated_img_{epoch}_{i}.png

        def on_epoch_end(self, epoch, logs=None):
            random_latent_vectors = keras.random.normal(
                shape=(self.num_img, self.latent_dim), seed=self.seed_generator
            )
            generated_images = self.model.generator(random_latent_vectors)
            generated_images *= 255
            generated_images = ops.convert_to_numpy(generated_images)
            for i in range(self.num_img):
                img = keras.utils.array_to_img(generated_images[i])
                self.images.append((epoch, i, img))

    return GANMonitor


def compiled_gan(keras, layers, ops, discriminator, generator, clip_labels=True):
    GAN = gan_class(keras, layers, ops, clip_labels)
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        loss_fn=keras.losses.BinaryCrossentropy(),
    )
    return gan


@functools.cache
def photographs():
    return np.stack(load_sample_images().images)  # 2 x 427 x 640 x 3, uint8


def face_like_images(n, size, seed):
    """``n`` RGB images of ``size`` x ``size`` in [0, 1]: random 64x64 crops of the bundled photographs (the
    example's image_size=(64, 64)), averaged down by blocks when ``size`` is smaller, then divided by 255."""
    rng = np.random.default_rng(seed)
    pictures = photographs()
    crops = []
    for _ in range(n):
        picture = pictures[rng.integers(len(pictures))]
        top, left = rng.integers(0, 427 - 64), rng.integers(0, 640 - 64)
        crops.append(picture[top:top + 64, left:left + 64].astype("float32"))
    factor = 64 // size
    images = np.stack(crops).reshape(n, size, factor, size, factor, 3).mean(axis=(2, 4))
    return (images / 255.0).astype("float32")


class QueuedDraws:
    """Stands in for ``keras.random.normal`` / ``uniform`` in both libraries: hands out the same prepared
    arrays in the same order (the shapes must be those asked for), so that both train_steps see one draw."""

    def __init__(self, lib, arrays):
        self.lib, self.arrays = lib, list(arrays)

    def __call__(self, shape, *args, **kwargs):
        array = self.arrays.pop(0)
        assert tuple(int(d) for d in shape) == array.shape
        return self.lib.ops.convert_to_tensor(array)


def patch_draws(monkeypatch, lib, normals, uniforms):
    monkeypatch.setattr(lib.random, "normal", QueuedDraws(lib, normals))
    monkeypatch.setattr(lib.random, "uniform", QueuedDraws(lib, uniforms))


def test_discriminator_and_generator_match_keras(real_keras):
    models = []
    for lib in libraries(real_keras):
        fresh(lib[0])  # a new session's layer names, as the example's summaries show them
        models.append(dcgan_models(*lib))
    (discriminator, generator), (k_discriminator, k_generator) = models
    assert summary_rows(discriminator) == summary_rows(k_discriminator)
    assert summary_rows(generator) == summary_rows(k_generator)
    assert discriminator.count_params() == k_discriminator.count_params() == 404_801
    assert generator.count_params() == k_generator.count_params() == 3_979_651
    for ours, theirs in ((discriminator, k_discriminator), (generator, k_generator)):
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
        assert [layer.get_config() for layer in ours.layers] == [layer.get_config() for layer in theirs.layers]
    assert discriminator.layers[1].negative_slope == k_discriminator.layers[1].negative_slope == 0.2
    discriminator.set_weights(k_discriminator.get_weights())
    generator.set_weights(k_generator.get_weights())
    latents = np.random.default_rng(0).normal(size=(1, latent_dim)).astype("float32")
    fake, k_fake = as_numpy(generator(latents)), as_numpy(k_generator(latents))
    assert fake.shape == (1, 64, 64, 3)
    assert_close(fake, k_fake, rtol=1e-4, atol=1e-6)
    images = np.concatenate([face_like_images(2, 64, 0), k_fake])
    scores, k_scores = as_numpy(discriminator(images)), as_numpy(k_discriminator(images))
    assert scores.shape == (3, 1) and ((scores > 0) & (scores < 1)).all()
    assert_close(scores, k_scores, rtol=1e-4, atol=1e-6)


def dropout_off(discriminator):
    # Both libraries run the discriminator's Dropout in inference mode inside this train_step (it calls the model
    # without training=True; test_with_its_dropout_one_train_step_still_matches_keras); the rate set to 0 makes
    # the comparison independent of that.
    dropout = discriminator.layers[-2]
    assert type(dropout).__name__ == "Dropout"
    dropout.rate = 0.0


def one_train_step(real_keras, monkeypatch, without_dropout=True):
    """One train_step (a fit over one batch) in Keras, then in layerwise from Keras' starting weights, both
    fed the same latent vectors and label noise: (history, weights before, weights after, gan) per library."""
    size, batch_size = 8, 4
    real_images = face_like_images(batch_size, size, 1)
    rng = np.random.default_rng(2)
    normals = rng.normal(size=(2, batch_size, latent_dim)).astype("float32")
    uniforms = rng.uniform(size=(1, 2 * batch_size, 1)).astype("float32")
    results = []
    for keras, layers, ops in reversed(libraries(real_keras)):  # Keras first: its weights are copied
        discriminator, generator = dcgan_models(keras, layers, ops, image_size=size)
        if without_dropout:
            dropout_off(discriminator)
        if results:
            discriminator.set_weights(results[0][1][0])
            generator.set_weights(results[0][1][1])
        before = discriminator.get_weights(), generator.get_weights()
        gan = compiled_gan(keras, layers, ops, discriminator, generator)
        patch_draws(monkeypatch, keras, normals, uniforms)
        history = gan.fit(real_images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0).history
        assert not keras.random.normal.arrays and not keras.random.uniform.arrays  # every draw was used
        results.append((history, before, (discriminator.get_weights(), generator.get_weights()), gan))
    return results[::-1]


def test_one_train_step_from_the_same_weights_and_draws_matches_keras(real_keras, monkeypatch):
    (history, before, after, gan), (k_history, _, k_after, k_gan) = one_train_step(real_keras, monkeypatch)
    assert list(history) == list(k_history) == ["d_loss", "g_loss"]
    assert_close(history["d_loss"], k_history["d_loss"], rtol=1e-5, atol=1e-6, what="d_loss")
    assert_close(history["g_loss"], k_history["g_loss"], rtol=1e-5, atol=1e-6, what="g_loss")
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 1
    assert int(k_gan.d_optimizer.iterations) == int(k_gan.g_optimizer.iterations) == 1
    for ours, theirs, start in zip(after, k_after, before):  # the discriminator's weights, the generator's
        for i, (a, b, a0) in enumerate(zip(ours, theirs, start)):
            assert not np.allclose(a, a0)  # each weight moved...
            assert_close(a, b, rtol=1e-5, atol=1e-5, what=f"weight {i}")  # ...as Keras moved it


def test_with_its_dropout_one_train_step_still_matches_keras(real_keras, monkeypatch):
    (history, *_), (k_history, *_) = one_train_step(real_keras, monkeypatch, without_dropout=False)
    assert_close(history["d_loss"], k_history["d_loss"], rtol=1e-5, atol=1e-6, what="d_loss")


def test_the_gan_trains_with_fit_and_the_monitor_as_in_keras(real_keras, monkeypatch):
    # The example's epochs over CelebA in batches of 32 shrink to 2 epochs of 2 batches of 4 images of 8x8.
    size, batch_size, epochs, num_img = 8, 4, 2, 2
    real_images = face_like_images(2 * batch_size, size, 3)
    rng = np.random.default_rng(4)
    normals = [rng.normal(size=s).astype("float32")
               for _ in range(epochs) for s in [(batch_size, latent_dim)] * 4 + [(num_img, latent_dim)]]
    uniforms = rng.uniform(size=(2 * epochs, 2 * batch_size, 1)).astype("float32")
    results = []
    for keras, layers, ops in reversed(libraries(real_keras)):
        discriminator, generator = dcgan_models(keras, layers, ops, image_size=size)
        dropout_off(discriminator)
        if results:
            discriminator.set_weights(results[0][3])
            generator.set_weights(results[0][4])
        start = discriminator.get_weights(), generator.get_weights()
        gan = compiled_gan(keras, layers, ops, discriminator, generator)
        monitor = gan_monitor_class(keras, layers, ops)(num_img=num_img, latent_dim=latent_dim)
        patch_draws(monkeypatch, keras, normals, uniforms)
        history = gan.fit(real_images, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0,
                          callbacks=[monitor]).history
        results.append((history, monitor, gan, *start))
    (k_history, k_monitor, k_gan, *_), (history, monitor, gan, *_) = results
    assert list(history) == list(k_history) == ["d_loss", "g_loss"]
    assert [m.name for m in gan.metrics] == [m.name for m in k_gan.metrics] == ["d_loss", "g_loss"]
    assert int(gan.d_optimizer.iterations) == int(k_gan.d_optimizer.iterations) == 2 * epochs
    for key in k_history:
        assert len(history[key]) == epochs
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    # The discriminator learns to tell the photographs from the generator's first grey images.
    assert history["d_loss"][-1] < history["d_loss"][0]
    # GANMonitor: num_img images at each epoch's end, as Keras makes them.
    assert [(e, i) for e, i, _ in monitor.images] == [(e, i) for e, i, _ in k_monitor.images]
    assert len(monitor.images) == epochs * num_img
    for (_, _, img), (_, _, k_img) in zip(monitor.images, k_monitor.images):
        assert img.size == k_img.size == (size, size) and img.mode == k_img.mode == "RGB"
        assert np.abs(np.asarray(img, "int16") - np.asarray(k_img, "int16")).max() <= 1


def test_the_example_s_label_noise_stops_both_libraries_at_the_binary_crossentropy(real_keras):
    # The example adds 0.05 * uniform noise to labels of 1 and gives them to BinaryCrossentropy(): on Keras 3's
    # torch backend that loss is torch's binary_cross_entropy, which refuses targets above 1 (TensorFlow and JAX
    # compute the formula and accept them). layerwise refuses them as Keras does.
    errors = []
    for keras, layers, ops in libraries(real_keras):
        discriminator, generator = dcgan_models(keras, layers, ops, image_size=8)
        gan = compiled_gan(keras, layers, ops, discriminator, generator, clip_labels=False)
        with pytest.raises(RuntimeError, match="target should be between 0 and 1") as error:
            gan.fit(face_like_images(4, 8, 6), batch_size=4, epochs=1, verbose=0)
        errors.append(str(error.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("which", ["layerwise", "keras"])
def test_the_gan_fits_a_dataloader_of_images_alone(real_keras, which):
    # The counterpart of the example's tf.data dataset of images: a DataLoader whose batches are bare image tensors
    # (no targets). Both libraries hand each tensor to train_step as the batch itself.
    keras, layers, ops = libraries(real_keras)[0 if which == "layerwise" else 1]
    discriminator, generator = dcgan_models(keras, layers, ops, image_size=8)
    gan = compiled_gan(keras, layers, ops, discriminator, generator)
    dataset = torch.utils.data.DataLoader(torch.from_numpy(face_like_images(8, 8, 5)), batch_size=4)
    history = gan.fit(dataset, epochs=1, verbose=0).history
    assert list(history) == ["d_loss", "g_loss"] and int(gan.d_optimizer.iterations) == 2
