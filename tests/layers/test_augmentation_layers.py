"""Image augmentation layers against Keras 3 (torch backend) where the randomness can be pinned, their
pass-through at inference, per-image draws, seeds, shapes, errors, and an augmented CNN that trains,
saves and loads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.saving import load_model

ATOL = 1e-5
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def images(shape=(3, 7, 9, 2), seed: int = 1, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * scale).astype("float32")


def same_as_keras(keras_layer, our_layer, x: np.ndarray) -> None:
    """Both layers called in training mode give the same output (to float32 rounding, for pixels up to 255)."""
    expected = np.asarray(keras_layer(x, training=True))
    got = our_layer(torch.as_tensor(x), training=True).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=ATOL)


# ---- parity where the draw is pinned -------------------------------------------------------------

@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_layers_match_keras(keras, fill_mode, interpolation):
    common = {"fill_mode": fill_mode, "interpolation": interpolation}
    fill = {**common, "fill_value": 0.5}
    cases = [("RandomRotation", ((0.25, 0.25),), fill),  # exactly 90 degrees
             ("RandomRotation", ((0.1, 0.1),), fill),  # 36 degrees: pixels between grid points
             ("RandomZoom", ((-0.5, -0.5),), common),  # zoom in, half-way points for 'nearest'
             ("RandomZoom", ((0.5, 0.5), (0.2, 0.2)), fill),  # zoom out, reads far outside
             ("RandomTranslation", ((0.3, 0.3), (-0.55, -0.55)), fill),
             ("RandomTranslation", ((1.0, 1.0), (-1.0, -1.0)), fill)]  # a whole image away
    for name, args, kwargs in cases:
        x = images()
        same_as_keras(getattr(keras.layers, name)(*args, **kwargs), getattr(L, name)(*args, **kwargs), x)
        same_as_keras(getattr(keras.layers, name)(*args, **kwargs), getattr(L, name)(*args, **kwargs), x[0])


def test_rotation_by_90_degrees_is_a_quarter_turn_anticlockwise():
    x = images((2, 5, 5, 3))
    got = L.RandomRotation((0.25, 0.25))(x, training=True).numpy()
    np.testing.assert_allclose(got, np.rot90(x, k=1, axes=(1, 2)), atol=ATOL)


def test_flip_matches_numpy_and_keras_when_forced(keras):
    x = images()
    for mode, axes in [("horizontal", (2,)), ("vertical", (1,)), ("horizontal_and_vertical", (1, 2))]:
        layer = L.RandomFlip(mode)
        forced = layer.flip(torch.as_tensor(x), torch.tensor([True, False, True])).numpy()
        expected = np.stack([np.flip(x[0], [a - 1 for a in axes]), x[1], np.flip(x[2], [a - 1 for a in axes])])
        np.testing.assert_array_equal(forced, expected)
        flips = {"flips": torch.tensor([True, False, True]).reshape(3, 1, 1, 1), "input_shape": x.shape}
        keras_flipped = keras.layers.RandomFlip(mode).transform_images(torch.as_tensor(x), flips)
        np.testing.assert_array_equal(forced, np.asarray(keras_flipped))
    # a drawn flip leaves each image as it was or flipped, and flips about half of them
    many = images((400, 3, 4, 1))
    out = L.RandomFlip("horizontal", seed=3)(many, training=True).numpy()
    flipped = np.all(out == np.flip(many, 2), axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == many, axis=(1, 2, 3)))
    assert 150 < flipped.sum() < 250


def test_contrast_and_brightness_match_keras(keras):
    x = images(scale=255.0)
    # Keras reads factor=(a, b) as [1 - a, 1 + b] (sorted first): (-0.5, 0.5) pins the contrast at 1.5
    same_as_keras(keras.layers.RandomContrast((-0.5, 0.5)), L.RandomContrast((-0.5, 0.5)), x)
    same_as_keras(keras.layers.RandomContrast((-0.5, 0.5), value_range=(0, 1)),
                  L.RandomContrast((-0.5, 0.5), value_range=(0, 1)), x / 255)
    factors = np.array([0.5, 1.0, 1.3], "float32")
    keras_contrast = keras.layers.RandomContrast(0.5).transform_images(
        torch.as_tensor(x), {"contrast_factor": torch.as_tensor(factors).reshape(3, 1, 1, 1)})
    np.testing.assert_allclose(L.RandomContrast(0.5).adjust(torch.as_tensor(x), torch.as_tensor(factors)).numpy(),
                               np.asarray(keras_contrast), atol=1e-4)
    for factor in [(0.2, 0.2), (-0.7, -0.7)]:
        same_as_keras(keras.layers.RandomBrightness(factor, value_range=(0, 1)),
                      L.RandomBrightness(factor, value_range=(0, 1)), x / 255)
        same_as_keras(keras.layers.RandomBrightness(factor), L.RandomBrightness(factor), x)
    contrast = L.RandomContrast(0.9, seed=1)(np.tile(x[:1], (8, 1, 1, 1)), training=True).numpy()
    assert len({float(img.std()) for img in contrast}) == 8  # one factor per image


def test_random_crop_draws_a_window_per_image_and_centres_at_inference(keras):
    x = images((64, 10, 12, 2))
    layer = L.RandomCrop(6, 8, seed=5)
    out = layer(x, training=True).numpy()
    assert out.shape == (64, 6, 8, 2)
    offsets = set()
    for i in range(64):
        found = [(t, s) for t in range(5) for s in range(5) if np.array_equal(out[i], x[i, t:t + 6, s:s + 8])]
        assert len(found) == 1
        offsets.add(found[0])
    assert len(offsets) > 10  # each image has its own window
    # at inference: the largest centred window of the target aspect ratio, resized (Keras' documented rule)
    expected = np.asarray(keras.layers.Resizing(6, 8, crop_to_aspect_ratio=True)(x))
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, atol=ATOL)
    same_as_keras(keras.layers.RandomCrop(10, 12), L.RandomCrop(10, 12), x)
    small = L.RandomCrop(12, 6)(x[:2], training=True).numpy()  # taller than the image: crop, then resize
    np.testing.assert_allclose(small, np.asarray(keras.layers.Resizing(12, 6, crop_to_aspect_ratio=True)(x[:2])),
                               atol=ATOL)
    assert L.RandomCrop(6, 8)(x[0], training=True).shape == (6, 8, 2)
    model = layerwise.Sequential([layerwise.Input((10, 12, 2)), L.RandomCrop(6, 8), L.Flatten(), L.Dense(2)])
    assert model.output_shape == (None, 2) and model.predict(x, verbose=0).shape == (64, 2)


# ---- training only, per image, seeds, shapes -------------------------------------------------------

def all_layers(seed=None):
    return [L.RandomFlip(seed=seed), L.RandomRotation(0.2, seed=seed), L.RandomZoom(0.3, seed=seed),
            L.RandomTranslation(0.2, 0.3, seed=seed), L.RandomContrast(0.5, seed=seed),
            L.RandomBrightness(0.3, seed=seed), L.RandomCrop(5, 6, seed=seed)]


def test_inference_passes_images_through():
    x = images(scale=255.0)
    for layer in all_layers():
        if isinstance(layer, L.RandomCrop):
            continue
        assert layer(x, training=False).numpy().tolist() == x.tolist()
        model = layerwise.Sequential([layerwise.Input((7, 9, 2)), layer])
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)
        np.testing.assert_array_equal(model(torch.as_tensor(x)).detach().numpy(), x)  # a new model is in eval mode


def test_each_image_gets_its_own_draw_and_a_seed_repeats_them():
    x = np.tile(images((1, 8, 8, 3), scale=255.0), (6, 1, 1, 1))
    for first, second in zip(all_layers(seed=7), all_layers(seed=7)):
        a, b = first(x, training=True).numpy(), second(x, training=True).numpy()
        np.testing.assert_array_equal(a, b)
        if not isinstance(first, L.RandomFlip):  # a flip has only two outcomes
            assert len({img.tobytes() for img in a}) > 3, type(first).__name__
        assert first(x[0], training=True).shape == a.shape[1:]  # an unbatched image
        assert first.compute_output_shape((None, 8, 8, 3)) == (None, *a.shape[1:])


def test_config_round_trip():
    zoom = L.RandomZoom((-0.2, 0.1), (0.0, 0.3), fill_mode="constant", fill_value=2.0, interpolation="nearest", seed=3)
    for layer in all_layers(seed=3) + [zoom]:
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
        x = images((2, 8, 8, 3), scale=255.0)
        np.testing.assert_array_equal(again(x, training=True).numpy(), type(layer).from_config(config)(
            x, training=True).numpy())


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"random_flip.*\(RandomFlip\) expected an image .*\(8, 8\)"):
        L.RandomFlip()(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="an image"):
        L.RandomRotation(0.1)(np.zeros((1, 1, 8, 8, 3)))
    bad = [(L.RandomRotation, (1.5,), {}, r"RandomRotation factor .*\[-1, 1\], got factor=1.5"),
           (L.RandomRotation, ((0.1, 0.2, 0.3),), {}, "RandomRotation factor"),
           (L.RandomZoom, (-1.0,), {}, r"RandomZoom height_factor .*\(-1, 1\], got height_factor=-1.0"),
           (L.RandomZoom, (0.1, (0.2, 1.5)), {}, "width_factor"),
           (L.RandomTranslation, (1.2, 0.1), {}, r"RandomTranslation height_factor .*\[-1, 1\]"),
           (L.RandomContrast, (1.5,), {}, r"RandomContrast factor .*\[0, 1\]"),
           (L.RandomBrightness, ((2, 3),), {}, r"RandomBrightness factor .*\[-1, 1\]"),
           (L.RandomBrightness, (0.1,), {"value_range": (0, 1, 2)}, "value_range must be a pair"),
           (L.RandomRotation, (0.1,), {"fill_mode": "mirror"}, "fill_mode must be one of"),
           (L.RandomTranslation, (0.1, 0.1), {"interpolation": "bicubic"}, "interpolation must be one of"),
           (L.RandomFlip, ("diagonal",), {}, "RandomFlip mode must be one of"),
           (L.RandomCrop, (0, 3), {}, "RandomCrop height and width must be positive integers"),
           (L.RandomFlip, (), {"data_format": "channels_middle"}, "data_format must be .* 'channels_first', received")]
    for cls, args, kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            cls(*args, **kwargs)


# ---- an augmented CNN ------------------------------------------------------------------------------

def test_augmented_cnn_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((48, 16, 16, 3)) * 255).astype("float32")
    y = rng.integers(0, 2, 48)
    flip = L.RandomFlip("horizontal", seed=1)
    augmentation = layerwise.Sequential([flip, L.RandomRotation(0.1), L.RandomZoom(0.1), L.RandomCrop(14, 14)])
    norm = L.Normalization()
    norm.adapt(x)
    model = layerwise.Sequential([layerwise.Input((16, 16, 3)), augmentation, norm, L.Conv2D(4, 3, activation="relu"),
                                  L.GlobalAveragePooling2D(), L.Dense(2, activation="softmax")])
    drawn = []
    augment = flip.augment
    flip.augment = lambda batch: (drawn.append(len(batch)), augment(batch))[1]
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert drawn == [16, 16, 16]  # augmented on every training batch
    assert not np.array_equal(before[-2], model.get_weights()[-2])
    first = model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert drawn == [16, 16, 16]  # and never at inference
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    path = tmp_path / "augmented.lw"
    model.save(path)
    loaded = load_model(path)
    for ours, saved in zip(loaded.layers[1].get_weights(), norm.get_weights()):
        np.testing.assert_array_equal(ours, saved)
    assert loaded.layers[0].get_config()["layers"] == augmentation.get_config()["layers"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), first, atol=1e-6)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the loaded model trains on, augmenting again
