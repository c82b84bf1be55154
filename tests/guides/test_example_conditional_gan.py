"""keras-io example "Conditional GAN" (examples/generative/conditional_gan.py) run with ``import layerwise as
keras`` and in Keras 3 (torch backend): the discriminator and the generator whose inputs carry the one-hot class
(summaries, parameter counts, outputs from the same weights), the one-hot labels spread over the image as extra
channels, the ConditionalGAN model with ``compile(d_optimizer, g_optimizer, loss_fn)``, its two loss trackers
and its own ``train_step`` with two optimizers, and the interpolation between two classes with the trained
generator.

Changes made to run it here: MNIST is not downloaded; scikit-learn's bundled 8x8 digits, each pixel made 3x3 and
padded to 28x28, stand in for it, with their labels one-hot encoded as the example encodes MNIST's. The
example's ``train_step`` uses TensorFlow's GradientTape; it is written as in Keras' guide "Customizing what
happens in fit() with PyTorch" (``zero_grad``, ``backward``, then ``optimizer.apply`` under ``torch.no_grad``),
with ``keras.random`` and ``keras.ops`` for the tf.random / tf calls, and ``self.built = True`` as that guide's
GAN sets it (the model has no ``call`` to be built with, and ``fit`` on arrays builds an unbuilt model). The
labels-as-channels lines of ``train_step`` are one function here so that a test can also run them alone, and
give ``ops.repeat`` its count as an int where the example gives ``tf.repeat`` a list of one (Keras 3.15's torch
``ops.repeat`` fails on a list, a Keras bug a test shows; layerwise takes either). The
``tf.data`` pipeline becomes NumPy arrays given to ``fit``; the GIF of the interpolation (imageio,
tensorflow_docs) is left out. To compare ``train_step`` with Keras exactly, the tests feed both libraries the
same latent vectors in place of ``keras.random``'s draws."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows
from sklearn.datasets import load_digits

num_channels = 1
num_classes = 10
image_size = 28
latent_dim = 128

generator_in_channels = latent_dim + num_classes
discriminator_in_channels = num_channels + num_classes



@pytest.fixture(autouse=True)
def _seeded(seed):
    """Each test starts from seeded generators (Keras' initial weights, which layerwise's models copy)."""


def conditional_models(keras, layers, ops):
    # Create the discriminator.
    discriminator = keras.Sequential(
        [
            keras.layers.InputLayer((28, 28, discriminator_in_channels)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )

    # Create the generator.
    generator = keras.Sequential(
        [
            keras.layers.InputLayer((generator_in_channels,)),
            # We want to generate 128 + num_classes coefficients to reshape into a
            # 7x7x(128 + num_classes) map.
            layers.Dense(7 * 7 * generator_in_channels),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, generator_in_channels)),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator


def image_one_hot(ops, one_hot_labels):
    """The start of the example's train_step: the labels as num_classes extra image channels."""
    # Add dummy dimensions to the labels so that they can be concatenated with
    # the images. This is for the discriminator.
    image_one_hot_labels = one_hot_labels[:, :, None, None]
    # The example's tf.repeat takes repeats=[image_size * image_size]; Keras 3.15's torch ops.repeat fails on a
    # list (see test_ops_repeat_takes_the_example_s_list_of_repeats), so the count is given as an int.
    image_one_hot_labels = ops.repeat(
        image_one_hot_labels, repeats=image_size * image_size
    )
    image_one_hot_labels = ops.reshape(
        image_one_hot_labels, (-1, image_size, image_size, num_classes)
    )
    return image_one_hot_labels


def conditional_gan_class(keras, layers, ops):
    class ConditionalGAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
            self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
            self.built = True

        @property
        def metrics(self):
            return [self.gen_loss_tracker, self.disc_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, data):
            # Unpack the data.
            real_images, one_hot_labels = data

            image_one_hot_labels = image_one_hot(ops, one_hot_labels)

            # Sample random points in the latent space and concatenate the labels.
            # This is for the generator.
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            random_vector_labels = ops.concatenate(
                [random_latent_vectors, one_hot_labels], axis=1
            )

            # Decode the noise (guided by labels) to fake images.
            generated_images = self.generator(random_vector_labels)

            # Combine them with real images. Note that we are concatenating the labels
            # with these images here.
            fake_image_and_labels = ops.concatenate([generated_images, image_one_hot_labels], -1)
            real_image_and_labels = ops.concatenate([real_images, image_one_hot_labels], -1)
            combined_images = ops.concatenate(
                [fake_image_and_labels, real_image_and_labels], axis=0
            )

            # Assemble labels discriminating real from fake images.
            labels = ops.concatenate(
                [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
            )

            # Train the discriminator.
            self.zero_grad()
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
            d_loss.backward()
            grads = [grad(v) for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

            # Sample random points in the latent space.
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            random_vector_labels = ops.concatenate(
                [random_latent_vectors, one_hot_labels], axis=1
            )

            # Assemble labels that say "all real images".
            misleading_labels = ops.zeros((batch_size, 1))

            # Train the generator (note that we should *not* update the weights
            # of the discriminator)!
            self.zero_grad()
            fake_images = self.generator(random_vector_labels)
            fake_image_and_labels = ops.concatenate([fake_images, image_one_hot_labels], -1)
            predictions = self.discriminator(fake_image_and_labels)
            g_loss = self.loss_fn(misleading_labels, predictions)
            g_loss.backward()
            grads = [grad(v) for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)

            # Monitor loss.
            self.gen_loss_tracker.update_state(g_loss)
            self.disc_loss_tracker.update_state(d_loss)
            return {
                "g_loss": self.gen_loss_tracker.result(),
                "d_loss": self.disc_loss_tracker.result(),
            }

    return ConditionalGAN


def compiled_conditional_gan(keras, layers, ops, discriminator, generator):
    cond_gan = conditional_gan_class(keras, layers, ops)(
        discriminator=discriminator, generator=generator, latent_dim=latent_dim
    )
    cond_gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return cond_gan


def interpolate_class(keras, ops, trained_gen, interpolation_noise, first_number, second_number,
                      num_interpolation=9):
    # Convert the start and end labels to one-hot encoded vectors.
    first_label = keras.utils.to_categorical([first_number], num_classes)
    second_label = keras.utils.to_categorical([second_number], num_classes)
    first_label = ops.cast(first_label, "float32")
    second_label = ops.cast(second_label, "float32")

    # Calculate the interpolation vector between the two labels.
    percent_second_label = ops.linspace(0, 1, num_interpolation)[:, None]
    percent_second_label = ops.cast(percent_second_label, "float32")
    interpolation_labels = (
        first_label * (1 - percent_second_label) + second_label * percent_second_label
    )

    # Combine the noise and the labels and run inference with the generator.
    noise_and_labels = ops.concatenate([interpolation_noise, interpolation_labels], 1)
    fake = trained_gen.predict(noise_and_labels, verbose=0)
    return fake


def interpolation_noise(keras, ops, noise, num_interpolation=9):
    """The example's noise for the interpolation, from a (1, latent_dim) draw (the example's keras.random
    .normal): repeated and reshaped to one row per image, as the example writes it."""
    interpolation_noise = ops.repeat(ops.convert_to_tensor(noise), repeats=num_interpolation)
    return ops.reshape(interpolation_noise, (num_interpolation, latent_dim))


@functools.cache
def digits_and_labels():
    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3)))
    images = np.round(np.pad(images, ((0, 0), (2, 2), (2, 2))) * 255 / 16).astype("uint8")
    return images, digits.target.astype("uint8")


def mnist_like(keras, n, start):
    """``n`` digits and one-hot labels from ``start`` on, prepared as the example prepares MNIST."""
    all_digits, all_labels = (a[start:start + n] for a in digits_and_labels())
    # Scale the pixel values to [0, 1] range, add a channel dimension to
    # the images, and one-hot encode the labels.
    all_digits = all_digits.astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    all_labels = keras.utils.to_categorical(all_labels, 10)
    return all_digits, all_labels


class QueuedNormals:
    """Stands in for ``keras.random.normal`` in both libraries: hands out the same prepared arrays in the same
    order (the shapes must be those asked for), so that both train_steps see one draw."""

    def __init__(self, lib, arrays):
        self.lib, self.arrays = lib, list(arrays)

    def __call__(self, shape, *args, **kwargs):
        array = self.arrays.pop(0)
        assert tuple(int(d) for d in shape) == array.shape
        return self.lib.ops.convert_to_tensor(array)


def test_the_data_are_prepared_as_in_keras(real_keras):
    (x, y), (k_x, k_y) = [mnist_like(lib, 12, 0) for lib, _, _ in libraries(real_keras)]
    assert x.shape == (12, 28, 28, 1) and y.shape == (12, num_classes)
    assert_close(y, k_y)
    assert y.dtype == k_y.dtype
    assert (y.argmax(axis=1) == digits_and_labels()[1][:12]).all()
    assert generator_in_channels == 138 and discriminator_in_channels == 11


def test_discriminator_and_generator_match_keras(real_keras):
    models = []
    for lib in libraries(real_keras):
        fresh(lib[0])  # a new session's layer names, as the example's summaries show them
        models.append(conditional_models(*lib))
    (discriminator, generator), (k_discriminator, k_generator) = models
    assert summary_rows(discriminator) == summary_rows(k_discriminator)
    assert summary_rows(generator) == summary_rows(k_generator)
    assert discriminator.count_params() == k_discriminator.count_params() == 80_385
    assert generator.count_params() == k_generator.count_params() == 1_491_215
    assert discriminator.input_shape == k_discriminator.input_shape == (None, 28, 28, 11)
    assert generator.input_shape == k_generator.input_shape == (None, 138)
    discriminator.set_weights(k_discriminator.get_weights())
    generator.set_weights(k_generator.get_weights())
    rng = np.random.default_rng(0)
    latents = np.concatenate([rng.normal(size=(3, latent_dim)), np.eye(num_classes)[[1, 5, 9]]], axis=1)
    latents = latents.astype("float32")
    fake, k_fake = as_numpy(generator(latents)), as_numpy(k_generator(latents))
    assert fake.shape == (3, 28, 28, 1)
    assert_close(fake, k_fake, rtol=1e-4, atol=1e-6)
    x, y = mnist_like(real_keras, 3, 20)
    images = np.concatenate([x, as_numpy(image_one_hot(real_keras.ops, y))], axis=-1)
    logits, k_logits = as_numpy(discriminator(images)), as_numpy(k_discriminator(images))
    assert logits.shape == (3, 1)
    assert_close(logits, k_logits, rtol=1e-4, atol=1e-5)


def test_the_labels_become_image_channels_as_in_keras(real_keras):
    _, one_hot_labels = mnist_like(real_keras, 4, 30)
    one_hot_labels = one_hot_labels.astype("float32")
    channels, k_channels = (as_numpy(image_one_hot(lib.ops, lib.ops.convert_to_tensor(one_hot_labels)))
                            for lib, _, _ in libraries(real_keras))
    assert channels.shape == k_channels.shape == (4, 28, 28, num_classes)
    assert_close(channels, k_channels, rtol=0, atol=0)
    # What the example's repeat-then-reshape makes: each label's 10 values, each repeated 784 times, laid out
    # row by row, so pixel (i, j) channel c holds value ((i * 28 + j) * 10 + c) // 784 of the label.
    flat = np.repeat(one_hot_labels.reshape(-1), image_size * image_size)
    assert_close(channels, flat.reshape(-1, image_size, image_size, num_classes), rtol=0, atol=0)


def train(real_keras, monkeypatch, n, batch_size, epochs):
    """fit from Keras' starting weights in both libraries, both fed the same latent vectors:
    (history, weights before, weights after, cond_gan) per library, layerwise first."""
    x, y = mnist_like(real_keras, n, 40)
    batch_sizes = [len(x[start:start + batch_size]) for start in range(0, n, batch_size)] * epochs
    rng = np.random.default_rng(7)
    normals = [rng.normal(size=(size, latent_dim)).astype("float32") for size in batch_sizes for _ in range(2)]
    results = []
    for keras, layers, ops in reversed(libraries(real_keras)):  # Keras first: its weights are copied
        discriminator, generator = conditional_models(keras, layers, ops)
        if results:
            discriminator.set_weights(results[0][1][0])
            generator.set_weights(results[0][1][1])
        before = discriminator.get_weights(), generator.get_weights()
        cond_gan = compiled_conditional_gan(keras, layers, ops, discriminator, generator)
        monkeypatch.setattr(keras.random, "normal", QueuedNormals(keras, normals))
        history = cond_gan.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history
        assert not keras.random.normal.arrays  # every draw was used
        results.append((history, before, (discriminator.get_weights(), generator.get_weights()), cond_gan))
    return results[::-1]


def test_one_train_step_from_the_same_weights_and_latents_matches_keras(real_keras, monkeypatch):
    (history, before, after, gan), (k_history, _, k_after, k_gan) = train(real_keras, monkeypatch, 6, 6, 1)
    assert list(history) == list(k_history)
    assert sorted(history) == ["d_loss", "g_loss"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-5, atol=1e-6, what=key)
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 1
    assert int(k_gan.d_optimizer.iterations) == int(k_gan.g_optimizer.iterations) == 1
    for ours, theirs, start in zip(after, k_after, before):  # the discriminator's weights, the generator's
        for i, (a, b, a0) in enumerate(zip(ours, theirs, start)):
            assert not np.allclose(a, a0)  # each weight moved...
            assert_close(a, b, rtol=1e-5, atol=1e-5, what=f"weight {i}")  # ...as Keras moved it


def test_the_conditional_gan_trains_with_fit_as_in_keras(real_keras, monkeypatch):
    # The example's 20 epochs over 70,000 digits in batches of 64 shrink to 2 epochs of 7 digits in a batch of
    # 4 and one of 3.
    (history, _, _, gan), (k_history, _, _, k_gan) = train(real_keras, monkeypatch, 7, 4, 2)
    assert list(history) == list(k_history)
    assert [m.name for m in gan.metrics] == [m.name for m in k_gan.metrics] == ["generator_loss",
                                                                                "discriminator_loss"]
    assert int(gan.d_optimizer.iterations) == int(k_gan.d_optimizer.iterations) == 4
    for key in k_history:
        assert len(history[key]) == 2
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    # The discriminator learns to tell the digits from the generator's first grey images.
    assert history["d_loss"][-1] < history["d_loss"][0]
    # The trackers hold the last epoch's mean, which is what fit logged.
    assert_close(float(gan.disc_loss_tracker.result()), history["d_loss"][-1], rtol=1e-6)
    assert_close(float(gan.gen_loss_tracker.result()), history["g_loss"][-1], rtol=1e-6)


def test_interpolating_between_classes_matches_keras(real_keras):
    (_, generator), (_, k_generator) = [conditional_models(*lib) for lib in libraries(real_keras)]
    generator.set_weights(k_generator.get_weights())
    noise = np.random.default_rng(8).normal(size=(1, latent_dim)).astype("float32")
    fakes = []
    for (keras, _, ops), trained_gen in zip(libraries(real_keras), (generator, k_generator)):
        fake_noise = interpolation_noise(keras, ops, noise)
        assert tuple(fake_noise.shape) == (9, latent_dim)
        fakes.append(interpolate_class(keras, ops, trained_gen, fake_noise, 1, 5))
    fake_images, k_fake_images = fakes
    assert fake_images.shape == k_fake_images.shape == (9, 28, 28, 1)
    assert_close(fake_images, k_fake_images, rtol=1e-4, atol=1e-6)
    converted_images, k_converted_images = ((f * 255.0).astype(np.uint8) for f in fakes)
    assert np.abs(converted_images.astype(int) - k_converted_images.astype(int)).max() <= 1


def test_ops_repeat_takes_the_example_s_list_of_repeats(real_keras):
    # tf.repeat(x, repeats=[n]) with no axis, as the example writes it: the flattened x, each value n times.
    one_hot_labels = np.eye(3, dtype="float32")[:, :, None, None]
    expected = np.repeat(one_hot_labels, [4])
    assert_close(as_numpy(real_keras.ops.repeat(one_hot_labels, 4)), expected, rtol=0, atol=0)
    import layerwise
    assert_close(as_numpy(layerwise.ops.repeat(one_hot_labels, [4])), expected, rtol=0, atol=0)
    assert_close(as_numpy(layerwise.ops.repeat(one_hot_labels, 4)), expected, rtol=0, atol=0)
    # Keras' own bug: keras/src/backend/torch/numpy.py defines its own all(), which shadows the builtin that
    # repeat() calls on a generator over the list, so any list of repeats fails there.
    with pytest.raises(ValueError, match="Invalid dtype: object"):
        real_keras.ops.repeat(one_hot_labels, [4])


@pytest.mark.parametrize("which", ["layerwise", "keras"])
def test_without_self_built_the_conditional_gan_does_not_fit_a_dataloader(real_keras, which):
    # The example's ConditionalGAN does not set self.built; given the example's data as a DataLoader (the
    # counterpart of its tf.data dataset), neither library can build it, having no call() to build it with.
    keras, layers, ops = libraries(real_keras)[0 if which == "layerwise" else 1]
    discriminator, generator = conditional_models(keras, layers, ops)
    cond_gan = compiled_conditional_gan(keras, layers, ops, discriminator, generator)
    cond_gan.built = False
    x, y = mnist_like(keras, 8, 50)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype("float32")))
    # Keras: RuntimeError "Unable to automatically build the model ... does not have a `call()` method";
    # layerwise: NotImplementedError (a RuntimeError) "Model '...' has no call()".
    with pytest.raises(RuntimeError, match=r"call\(\)"):
        cond_gan.fit(torch.utils.data.DataLoader(dataset, batch_size=4), epochs=1, verbose=0)
