"""The (encoder, decoder, autoencoder) models: shapes, shared layers, corruption only while training; NumPy sizes,
kernel pairs and noise levels checked by name; join of functional encoders and decoders."""
import numpy as np
import pytest
import torch

import layerwise
from layerwise import Input, Model
from layerwise.autoencoders import (MaskingNoise, SaltAndPepperNoise, conv_autoencoder, corrupt,
                                    dense_autoencoder, join, sequence_autoencoder)
from layerwise.layers import Dense


def test_dense_shapes_and_round_trip():
    encoder, decoder, autoencoder = dense_autoencoder(64, 8, (32, 16))
    assert encoder.output_shape == (None, 8)
    assert decoder.input_shape == (None, 8) and decoder.output_shape == (None, 64)
    assert autoencoder.output_shape == (None, 64)
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    codes = encoder.predict(x, verbose=0)
    np.testing.assert_allclose(decoder.predict(codes, verbose=0), autoencoder.predict(x, verbose=0), atol=1e-6)


def test_dense_on_images_flattens_and_reshapes():
    encoder, decoder, autoencoder = dense_autoencoder((8, 8, 1), 4, (16,))
    assert encoder.output_shape == (None, 4) and decoder.output_shape == (None, 8, 8, 1)
    assert autoencoder.predict(np.zeros((2, 8, 8, 1)), verbose=0).shape == (2, 8, 8, 1)


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 3), (25, 13, 1)])
@pytest.mark.parametrize("downsampling", ["pool", "strides"])
def test_conv_transpose_restores_any_size(shape, downsampling):
    encoder, decoder, autoencoder = conv_autoencoder(shape, 6, (4, 8), downsampling=downsampling)
    assert encoder.output_shape == (None, 6)
    assert decoder.output_shape == (None, *shape) and autoencoder.output_shape == (None, *shape)
    x = np.random.default_rng(0).random((3, *shape)).astype(np.float32)
    np.testing.assert_allclose(decoder.predict(encoder.predict(x, verbose=0), verbose=0),
                               autoencoder.predict(x, verbose=0), atol=1e-5)


def test_conv_upsampling_needs_even_sizes():
    _, decoder, _ = conv_autoencoder((28, 28, 1), 4, (4, 8), upsampling="upsampling")
    assert decoder.output_shape == (None, 28, 28, 1)
    with pytest.raises(ValueError, match="halve evenly"):
        conv_autoencoder((25, 25, 1), 4, (4, 8), upsampling="upsampling")


def test_autoencoder_shares_layers_so_fit_trains_encoder_and_decoder(digits):
    X = digits[0].astype(np.float32)
    encoder, decoder, autoencoder = dense_autoencoder(64, 4, (32,), output_activation="sigmoid")
    assert all(a is b for a, b in zip(autoencoder.layers, encoder.layers + decoder.layers))
    before = encoder.predict(X[:10], verbose=0)
    autoencoder.compile(optimizer="adam", loss="mse")
    history = autoencoder.fit(X, X, epochs=3, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    after = encoder.predict(X[:10], verbose=0)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(decoder.predict(after, verbose=0), autoencoder.predict(X[:10], verbose=0), atol=1e-6)


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_pepper"])
def test_corruption_acts_only_while_training(noise):
    encoder, decoder, autoencoder = dense_autoencoder(20, 3, (8,), noise=noise, noise_level=0.5)
    assert len(autoencoder.layers) == len(encoder.layers) + len(decoder.layers) + 1
    corruption = autoencoder.layers[0]
    x = torch.full((200, 20), 0.5)
    assert torch.equal(corruption(x), x)  # models start in inference mode
    corruption.train()
    y = corruption(x)
    corruption.eval()
    assert not torch.equal(y, x)
    if noise == "masking":
        assert set(torch.unique(y).tolist()) == {0.0, 0.5} and abs(float((y == 0).float().mean()) - 0.5) < 0.05
    if noise == "salt_pepper":
        assert set(torch.unique(y).tolist()) == {0.0, 0.5, 1.0}
    x_np = np.full((2, 20), 0.5, np.float32)
    np.testing.assert_array_equal(autoencoder.predict(x_np, verbose=0), autoencoder.predict(x_np, verbose=0))


def test_corrupt_matches_the_layers_statistics():
    X = np.full((100, 100), 0.5)
    assert abs((corrupt(X, "masking", 0.3, random_state=0) == 0).mean() - 0.3) < 0.02
    noisy = corrupt(X, "salt_pepper", 0.2, random_state=0)
    assert abs((noisy == 0).mean() - 0.1) < 0.02 and abs((noisy == 1).mean() - 0.1) < 0.02
    gauss = corrupt(X, "gaussian", 0.1, random_state=0)
    assert abs(gauss.std() - 0.1) < 0.01
    assert corrupt(X, "gaussian", 2.0, random_state=0, clip=True).max() <= 1.0
    with pytest.raises(ValueError, match="rate"):
        MaskingNoise(1.5)
    with pytest.raises(ValueError, match="rate"):
        SaltAndPepperNoise(-0.1)
    with pytest.raises(ValueError, match="noise must be"):
        dense_autoencoder(10, 2, noise="speckle")


def test_join_checks_the_code_shapes():
    encoder, _, _ = dense_autoencoder(10, 3, (8,))
    _, other_decoder, _ = dense_autoencoder(10, 4, (8,))
    with pytest.raises(ValueError, match="decoder expects"):
        join(encoder, other_decoder)


def test_models_save_and_load(tmp_path, digits):
    encoder, decoder, autoencoder = dense_autoencoder(64, 4, (16,), noise="gaussian", noise_level=0.1)
    X = digits[0][:50].astype(np.float32)
    for name, model in [("encoder", encoder), ("decoder", decoder), ("autoencoder", autoencoder)]:
        model.save(tmp_path / f"{name}.lw")
    loaded = layerwise.load_model(tmp_path / "encoder.lw")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), encoder.predict(X, verbose=0), atol=1e-6)
    loaded = layerwise.load_model(tmp_path / "autoencoder.lw")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), autoencoder.predict(X, verbose=0), atol=1e-6)


def test_conv_spatial_code_keeps_the_feature_map():
    encoder, decoder, autoencoder = conv_autoencoder((28, 28, 1), None, (8, 16))
    assert encoder.output_shape == (None, 7, 7, 16) and decoder.input_shape == (None, 7, 7, 16)
    assert autoencoder.output_shape == (None, 28, 28, 1)
    assert not any(type(layer).__name__ == "Dense" for layer in autoencoder.layers)


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="code_size"):
        dense_autoencoder(10, 0)
    with pytest.raises(ValueError, match="hidden_layers"):
        dense_autoencoder(10, 2, (8, -1))
    with pytest.raises(ValueError, match="height, width, channels"):
        conv_autoencoder((28, 28), 2)
    with pytest.raises(ValueError, match="odd"):
        conv_autoencoder((28, 28, 1), 2, kernel_size=4)


def test_sequence_autoencoder():
    try:
        from layerwise.layers import LSTM, RepeatVector  # noqa: F401
    except ImportError:
        pytest.skip("layerwise.layers has no LSTM / RepeatVector yet (recurrent layers not landed)")
    encoder, decoder, autoencoder = sequence_autoencoder(12, 3, 5, (16,))
    assert encoder.output_shape == (None, 5) and decoder.output_shape == (None, 12, 3)
    t = np.linspace(0, 2 * np.pi, 12)
    x = np.stack([np.stack([np.sin(t + p), np.cos(t + p), np.sin(2 * t + p)], -1)
                  for p in np.linspace(0, 2 * np.pi, 64)]).astype(np.float32)
    autoencoder.compile(optimizer="adam", loss="mse")
    history = autoencoder.fit(x, x, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(decoder.predict(encoder.predict(x, verbose=0), verbose=0),
                               autoencoder.predict(x, verbose=0), atol=1e-5)


# ---- NumPy sizes, kernel pairs and noise levels in the builders; join of functional models -------------------------

def test_dense_autoencoder_takes_numpy_sizes():
    n_features, code = np.prod((2, 5)), np.int64(3)  # NumPy integers, as np.prod and shape arithmetic give
    encoder, decoder, autoencoder = dense_autoencoder(n_features, code, (np.int64(4),))
    assert encoder.output_shape == (None, 3) and autoencoder.output_shape == (None, 10)


def test_conv_and_sequence_builders_take_numpy_sizes():
    encoder, _, autoencoder = conv_autoencoder(np.array([6, 6, 1]), np.int64(2), (4,))
    assert encoder.output_shape == (None, 2) and autoencoder.output_shape == (None, 6, 6, 1)
    _, _, sequence = sequence_autoencoder(np.int64(5), np.int64(3), 2, (4,))
    assert sequence.output_shape == (None, 5, 3)


@pytest.mark.parametrize("bad", [-3, 0, 10.0])
def test_dense_autoencoder_rejects_bad_input_shape_by_name(bad):
    with pytest.raises(ValueError, match="input_shape must be positive integers"):
        dense_autoencoder(bad, 2)


def test_conv_autoencoder_takes_a_kernel_pair_as_conv2d_does():
    x = np.random.default_rng(0).random((2, 9, 7, 2)).astype(np.float32)
    for downsampling in ("pool", "strides"):
        encoder, _, autoencoder = conv_autoencoder((9, 7, 2), 3, (4, 6), kernel_size=(3, 5), downsampling=downsampling)
        assert encoder.layers[0].kernel_size == (3, 5)
        assert autoencoder.predict(x, verbose=0).shape == x.shape


@pytest.mark.parametrize("bad", [(3, 4), (3, 3, 3), 0])
def test_conv_autoencoder_rejects_bad_kernel_sizes_by_name(bad):
    with pytest.raises(ValueError, match="kernel_size"):
        conv_autoencoder((8, 8, 1), 2, kernel_size=bad)


@pytest.mark.parametrize("level", [-0.5, float("nan")])
def test_gaussian_noise_level_is_checked_with_a_clear_message(level):
    with pytest.raises(ValueError, match="Gaussian noise_level .* must be a finite number >= 0"):
        corrupt(np.ones((2, 3)), "gaussian", level)
    with pytest.raises(ValueError, match="Gaussian noise_level .* must be a finite number >= 0"):
        dense_autoencoder(3, 2, noise="gaussian", noise_level=level)


def test_join_takes_functional_encoder_and_decoder_and_shares_their_weights():
    inputs, codes = Input((6,)), Input((2,))
    encoder, decoder = Model(inputs, Dense(2)(inputs)), Model(codes, Dense(6)(codes))
    autoencoder = join(encoder, decoder, noise="masking", noise_level=0.2)
    X = np.random.default_rng(0).random((16, 6)).astype(np.float32)
    before = encoder.get_weights()[0].copy()
    autoencoder.compile(optimizer="adam", loss="mse")
    autoencoder.fit(X, X, epochs=1, verbose=0)
    assert not np.array_equal(encoder.get_weights()[0], before)  # trained through the autoencoder
    np.testing.assert_allclose(autoencoder.predict(X, verbose=0),
                               decoder.predict(encoder.predict(X, verbose=0), verbose=0), atol=1e-6)
