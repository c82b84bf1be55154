"""``layerwise.random``: Keras' distributions and seeds on PyTorch's generators (SeedGenerator repeats its
sequence, int seeds repeat their draw, None follows ``set_random_seed``), and the Keras VAE's Sampling
layer written with ``layerwise.ops`` and ``layerwise.random`` training a small VAE."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import ops, random
from layerwise.backend import set_random_seed


def test_seed_generator_advances_and_repeats():
    first, again = random.SeedGenerator(1337), random.SeedGenerator(1337)
    a, b = random.normal((3, 4), seed=first), random.normal((3, 4), seed=first)
    assert not torch.equal(a, b)
    assert torch.equal(a, random.normal((3, 4), seed=again)) and torch.equal(b, random.normal((3, 4), seed=again))
    assert not torch.equal(a, random.normal((3, 4), seed=random.SeedGenerator(7)))


def test_int_seeds_repeat_and_none_follows_the_global_seed():
    assert torch.equal(random.uniform((5,), seed=3), random.uniform((5,), seed=3))
    set_random_seed(11)
    a = random.normal((4,))
    set_random_seed(11)
    assert torch.equal(a, random.normal((4,)))
    assert not torch.equal(a, random.normal((4,)))


def test_distributions_have_keras_shapes_dtypes_and_moments():
    seed = random.SeedGenerator(0)
    x = random.normal((20000,), mean=2.0, stddev=3.0, seed=seed)
    assert x.dtype == torch.float32 and abs(float(x.mean()) - 2.0) < 0.1 and abs(float(x.std()) - 3.0) < 0.1
    u = random.uniform((20000,), minval=-1.0, maxval=3.0, dtype="float64", seed=seed)
    assert u.dtype == torch.float64 and float(u.min()) >= -1.0 and float(u.max()) < 3.0
    t = random.truncated_normal((20000,), mean=1.0, stddev=0.5, seed=seed)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 2.0
    r = random.randint((2, 3), 2, 5, seed=seed)
    assert r.dtype == torch.int32 and r.shape == (2, 3) and set(r.flatten().tolist()) <= {2, 3, 4}
    g = random.gamma((20000,), alpha=3.0, seed=seed)
    assert abs(float(g.mean()) - 3.0) < 0.1
    b = random.beta((20000,), alpha=2.0, beta=6.0, seed=seed)
    assert abs(float(b.mean()) - 0.25) < 0.01
    n = random.binomial((20000,), counts=10, probabilities=0.3, seed=seed)
    assert abs(float(n.mean()) - 3.0) < 0.1 and float(n.max()) <= 10
    c = random.categorical(torch.log(torch.tensor([[0.1, 0.9], [1.0, 0.0]])), 4000, seed=seed)
    assert c.dtype == torch.int32 and c.shape == (2, 4000)
    assert abs(float(c[0].float().mean()) - 0.9) < 0.03 and int(c[1].sum()) == 0


def test_dropout_and_shuffle():
    x = torch.ones(200, 50)
    out = random.dropout(x, 0.25, seed=1)
    assert set(out.unique().tolist()) <= {0.0, float(torch.tensor(1 / 0.75))}
    assert abs(float((out == 0).float().mean()) - 0.25) < 0.02
    shared = random.dropout(x, 0.5, noise_shape=(None, 1), seed=2)
    assert torch.equal(shared, shared[:, :1].expand_as(shared))
    data = np.arange(12.0).reshape(6, 2)
    shuffled = random.shuffle(data, seed=5)
    assert torch.equal(shuffled, random.shuffle(data, seed=5))
    assert sorted(shuffled[:, 0].tolist()) == data[:, 0].tolist()
    assert torch.equal(shuffled[:, 1] - shuffled[:, 0], torch.ones(6, dtype=torch.float64))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"random\.normal: seed must be None, an int or a SeedGenerator"):
        random.normal((2,), seed="abc")
    with pytest.raises(ValueError, match=r"random\.uniform draws floating-point values"):
        random.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        random.dropout(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"logits must have shape \(batch, classes\)"):
        random.categorical(torch.ones(3), 2)
    with pytest.raises(ValueError, match="SeedGenerator: seed must be an int"):
        random.SeedGenerator(1.5)


class Sampling(layerwise.layers.Layer):
    """The Keras VAE example's layer: z = z_mean + exp(z_log_var / 2) * epsilon."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VAE(layerwise.Model):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def call(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        self.add_loss(ops.mean(ops.sum(kl, axis=1)))
        return self.decoder(z)


def test_vae_sampling_layer_trains(rng):
    layers = layerwise.layers
    inputs = layerwise.Input((8,))
    hidden = layers.Dense(16, activation="relu")(inputs)
    z_mean, z_log_var = layers.Dense(2, name="z_mean")(hidden), layers.Dense(2, name="z_log_var")(hidden)
    z = Sampling()([z_mean, z_log_var])
    assert z.shape == (None, 2)
    encoder = layerwise.Model(inputs, [z_mean, z_log_var, z])
    latent = layerwise.Input((2,))
    decoded = layers.Dense(8, activation="sigmoid")(layers.Dense(16, activation="relu")(latent))
    decoder = layerwise.Model(latent, decoded)
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=layerwise.optimizers.Adam(1e-2), loss="binary_crossentropy")
    data = (rng.uniform(size=(64, 8)) > 0.5).astype("float32")
    first = vae.fit(data, data, batch_size=16, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(first)
    assert len(vae.losses) == 1 and float(vae.losses[0].detach()) >= 0.0
    later = vae.fit(data, data, batch_size=16, epochs=5, verbose=0).history["loss"]
    assert later[-1] < first
    # The sampling layer draws new noise at each call: two calls on the same data differ.
    sampler = encoder.layers[-1]
    means, log_vars = torch.zeros(4, 2), torch.zeros(4, 2)
    assert not torch.equal(sampler([means, log_vars]), sampler([means, log_vars]))


@pytest.mark.parametrize("seed", [None, "1", 1.5])
def test_set_random_seed_refuses_what_is_not_an_integer_as_keras(keras, seed):
    # It raised Python's TypeError from random.seed (or seeded from a string); Keras raises a ValueError.
    with pytest.raises(ValueError, match="Expected `seed` argument to be an integer"):
        keras.utils.set_random_seed(seed)
    with pytest.raises(ValueError, match=rf"Expected `seed` argument to be an integer. Received: seed={seed!r}"):
        set_random_seed(seed)
