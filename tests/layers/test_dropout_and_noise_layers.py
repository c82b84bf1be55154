"""Dropout and noise layers. Seeded ones draw from their own generator, as Keras' layers own a SeedGenerator: the
same seed gives the same noise, call after call, whatever else draws random numbers; seed=None follows
torch.manual_seed. Their rate and stddev arguments are checked as Keras checks them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers
from layerwise import layers as L

X = torch.ones(8, 6, 5)

NOISE_LAYERS = [
    lambda seed: layers.Dropout(0.5, seed=seed),
    lambda seed: layers.Dropout(0.5, noise_shape=(None, 1, None), seed=seed),
    lambda seed: layers.GaussianNoise(0.3, seed=seed),
    lambda seed: layers.GaussianDropout(0.4, seed=seed),
    lambda seed: layers.AlphaDropout(0.3, seed=seed),
    lambda seed: layers.SpatialDropout1D(0.5, seed=seed),
]
IDS = ["dropout", "dropout_noise_shape", "gaussian_noise", "gaussian_dropout", "alpha_dropout", "spatial1d"]


def _train(layer, x=X):
    layer.train()
    return layer(x).detach()


@pytest.mark.parametrize("make", NOISE_LAYERS, ids=IDS)
def test_same_seed_same_noise_sequence_and_other_seed_differs(make):
    a, b, c = make(7), make(7), make(8)
    first_a, first_b = _train(a), _train(b)
    assert not torch.equal(first_a, X)  # noise was applied
    assert torch.equal(first_a, first_b)
    second_a, second_b = _train(a), _train(b)
    assert torch.equal(second_a, second_b)
    assert not torch.equal(first_a, second_a)  # the layer's generator advances, as Keras' SeedGenerator
    assert not torch.equal(first_a, _train(c))


@pytest.mark.parametrize("make", NOISE_LAYERS, ids=IDS)
def test_seeded_noise_ignores_global_draws(make):
    a, b = make(3), make(3)
    torch.manual_seed(0)
    out_a = _train(a)
    torch.manual_seed(99)
    torch.rand(1000)  # an intervening draw from the global generator
    assert torch.equal(out_a, _train(b))


@pytest.mark.parametrize("make", NOISE_LAYERS, ids=IDS)
def test_unseeded_noise_follows_torch_manual_seed(make):
    a, b = make(None), make(None)
    torch.manual_seed(11)
    out_a = _train(a)
    torch.manual_seed(11)
    assert torch.equal(out_a, _train(b))
    assert a._generator(X) is None


def test_spatial_dropout_2d_3d_channels_first_seeded():
    x2, x3 = torch.ones(2, 4, 3, 3), torch.ones(2, 4, 2, 2, 2)
    for make, x in [(lambda: layers.SpatialDropout2D(0.5, data_format="channels_first", seed=5), x2),
                    (lambda: layers.SpatialDropout3D(0.5, data_format="channels_first", seed=5), x3)]:
        out = _train(make(), x)
        assert torch.equal(out, _train(make(), x))
        flat = out.flatten(2)  # one draw per sample and channel, shared by the whole map
        assert torch.equal(flat.amin(-1), flat.amax(-1))


def test_generator_is_made_on_the_inputs_device_and_once():
    layer = layers.Dropout(0.5, seed=1)
    g = layer._generator(X)
    assert g.device == X.device and layer._generator(X) is g


def test_inference_passes_through_and_config_keeps_seed():
    layer = layers.GaussianNoise(0.3, seed=4)
    layer.eval()
    assert torch.equal(layer(X), X)
    assert layer.get_config()["seed"] == 4
    rebuilt = layers.GaussianNoise.from_config(layer.get_config())
    assert torch.equal(_train(rebuilt), _train(layers.GaussianNoise(0.3, seed=4)))


def test_bad_seed_names_the_layer():
    with pytest.raises(ValueError, match=r"Dropout seed must be an int or None, got seed='a'"):
        layers.Dropout(0.5, seed="a")
    assert layers.GaussianNoise(0.1, seed=np.int64(3)).seed == 3


def test_dropout_statistics_with_seed():
    out = _train(layers.Dropout(0.25, seed=0), torch.ones(200, 100))
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.02
    assert torch.allclose(out[kept], torch.tensor(1 / 0.75))


def test_keras_same_seed_gives_same_noise_too(keras):
    x = np.ones((4, 8), "float32")
    a, b = keras.layers.Dropout(0.5, seed=1), keras.layers.Dropout(0.5, seed=1)
    to_np = keras.ops.convert_to_numpy
    assert np.array_equal(to_np(a(x, training=True)), to_np(b(x, training=True)))
    ours_a, ours_b = layers.Dropout(0.5, seed=1), layers.Dropout(0.5, seed=1)
    assert torch.equal(_train(ours_a, torch.ones(4, 8)), _train(ours_b, torch.ones(4, 8)))


def test_denoising_autoencoder_same_random_state_same_reconstruction():
    from layerwise.autoencoders import Autoencoder

    X_train = np.random.default_rng(0).random((40, 12)).astype(np.float32)

    def reconstruct(noise: str) -> np.ndarray:
        model = Autoencoder(code_size=3, hidden_layers=(8,), noise=noise, noise_level=0.3, epochs=3,
                            batch_size=10, random_state=0).fit(X_train)
        return model.inverse_transform(model.transform(X_train))

    for noise in ("gaussian", "masking"):
        torch.manual_seed(123)
        first = reconstruct(noise)
        torch.rand(10)  # the global generator's state must not matter
        assert np.array_equal(first, reconstruct(noise))


def test_builders_pass_the_seed_to_the_corruption_layer():
    from layerwise.autoencoders import MaskingNoise, dense_autoencoder

    def corrupted(seed):
        _, _, auto = dense_autoencoder(6, 2, hidden_layers=(4,), noise="masking", noise_level=0.5, seed=seed)
        layer = auto.layers[0]
        assert isinstance(layer, MaskingNoise) and layer.seed == seed
        return _train(layer, torch.ones(10, 6))

    assert torch.equal(corrupted(2), corrupted(2))
    assert not torch.equal(corrupted(2), corrupted(3))
    _, _, auto = dense_autoencoder(6, 2, hidden_layers=(4,), noise="gaussian", noise_level=0.1, seed=9)
    assert isinstance(auto.layers[0], layers.GaussianNoise) and auto.layers[0].seed == 9


# ---- dropout and noise arguments --------------------------------------------------------------------------------

def _numpy(keras, value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()


@pytest.mark.parametrize("name", ["Dropout", "SpatialDropout1D"])
def test_dropout_rate_one_drops_everything_as_keras(keras, name):
    x = np.ones((2, 3, 2), "float32")
    for library in (keras, layerwise):
        layer = getattr(library.layers, name)(1.0)
        np.testing.assert_array_equal(_numpy(keras, layer(x, training=True)), np.zeros_like(x))
        np.testing.assert_array_equal(_numpy(keras, layer(x)), x)
    np.testing.assert_array_equal(L.Dropout(1.0, noise_shape=(None, 1, None))(x, training=True).numpy(), 0 * x)
    with pytest.raises(ValueError, match=r"Dropout rate must be a fraction in \[0, 1\], got rate=1.5"):
        L.Dropout(1.5)


def test_gaussian_noise_refuses_a_negative_stddev_as_keras(keras):
    with pytest.raises(ValueError):
        keras.layers.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match="GaussianNoise stddev must be a non-negative number, got stddev=-1.0"):
        L.GaussianNoise(-1.0)
