"""Colour augmentation layers and RandomShear against Keras 3 (torch backend): the same transformation
through both ``transform_images``, whole calls where the factors pin the draw, the ranges of the random
draws (ours and Keras'), identity at inference, models that fit and predict, configs, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.saving import load_model

ATOL = 1e-4  # on the 0-255 scale: float32 rounding of bilinear resampling differs in the last bits
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


def images(shape=(4, 6, 7, 3), seed: int = 0, scale: float = 255.0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * scale).astype("float32")


def close(got, expected, atol: float = ATOL) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


def keras_transform(layer, x: np.ndarray, transformation):
    return np.asarray(layer.transform_images(torch.tensor(x), transformation, training=True))


def keras_call(layer, x: np.ndarray):
    return np.asarray(layer(torch.tensor(x), training=True))  # a copy: some Keras layers add in place


def ours_call(layer, x: np.ndarray) -> np.ndarray:
    return layer(torch.tensor(x), training=True).numpy()


# ---- the same transformation through both ---------------------------------------------------------

FLAGS = torch.tensor([True, False, True, False])
FACTORS = torch.tensor([-0.4, 0.1, 0.3, 0.5])


def transformations():
    """(layer name, args, kwargs, transformation, image scale): each case runs in both libraries."""
    solar = {"additions": torch.tensor([0.0, 10.0, 50.0, 100.0]).view(-1, 1, 1, 1),
             "thresholds": torch.tensor([0.0, 128.0, 200.0, 30.0]).view(-1, 1, 1, 1)}
    shifts = {"shift_factor": torch.tensor([7, 4, 1, 0], dtype=torch.uint8)}
    return [("RandomGrayscale", (), {}, FLAGS.view(-1, 1, 1, 1), 255.0),
            ("RandomInvert", (), {}, {"apply_inversion": FLAGS}, 255.0),
            ("RandomInvert", (), {"value_range": (-1, 1)}, {"apply_inversion": FLAGS}, 1.0),
            ("Solarization", (), {}, solar, 255.0),
            ("Solarization", (), {"value_range": (0, 1)}, solar, 1.0),
            ("RandomPosterization", (4,), {}, shifts, 255.0),
            ("RandomPosterization", (4,), {"value_range": (0, 1)}, shifts, 1.0),
            ("RandomHue", (0.5,), {}, {"factor": FACTORS}, 255.0),
            ("RandomHue", (0.5,), {"value_range": (0, 1)}, {"factor": FACTORS}, 1.0),
            ("RandomSaturation", (0.5,), {}, {"factor": FACTORS * 4}, 255.0),  # above 1 and below 0 too
            ("RandomSaturation", (0.5,), {"value_range": (0, 1)}, {"factor": FACTORS * 4}, 1.0),
            ("RandomColorDegeneration", (0.5,), {}, {"factor": FACTORS.view(-1, 1, 1, 1) * 2}, 255.0),
            ("RandomSharpness", (0.5,), {}, {"factor": FACTORS + 0.4}, 255.0),
            ("RandomSharpness", (0.5,), {"value_range": (0, 1)}, {"factor": FACTORS + 0.4}, 1.0)]


@pytest.mark.parametrize("case", range(len(transformations())))
def test_transform_images_match_keras(keras, case):
    name, args, kwargs, transformation, scale = transformations()[case]
    x = images(scale=scale)
    ours = getattr(L, name)(*args, **kwargs).transform_images(torch.tensor(x), transformation).numpy()
    close(ours, keras_transform(getattr(keras.layers, name)(*args, **kwargs), x, transformation), ATOL * scale)
    assert not np.allclose(ours, x)  # the case changes the images


@pytest.mark.parametrize("kwargs", [{}, {"value_range": (0, 1)}, {"bins": 32}])
def test_deterministic_layers_match_keras(keras, kwargs):
    scale = 1.0 if "value_range" in kwargs else 255.0
    x = images((3, 9, 8, 3), scale=scale) * 0.5 + 0.2 * scale  # not spanning the range: something to stretch
    x[1, ..., 2] = 0.3 * scale  # a constant channel: AutoContrast keeps it, Equalization's histogram shifts
    for name in ["Equalization", "AutoContrast"]:
        args = {k: v for k, v in kwargs.items() if name == "Equalization" or k != "bins"}
        ours, theirs = getattr(L, name)(**args), getattr(keras.layers, name)(**args)
        close(ours_call(ours, x), keras_call(theirs, x), ATOL * scale)
        close(ours_call(ours, x[0]), keras_call(theirs, x[0]), ATOL * scale)  # unbatched: its own histogram
    # one histogram per channel over the whole batch, as Keras: an image's result depends on its batch
    layer = L.Equalization(**kwargs)
    assert not np.allclose(ours_call(layer, x)[0], ours_call(layer, x[:1])[0])
    # a channel with one occupied bin is left as it is
    flat = np.full((2, 4, 4, 3), 0.15 * scale, "float32")
    np.testing.assert_array_equal(ours_call(layer, flat), flat)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_shear_matches_keras(keras, fill_mode, interpolation):
    x = images((4, 7, 9, 2))
    shear = torch.tensor([[0.3, -0.2], [-0.5, 0.1], [0.0, 0.7], [1.0, -1.0]])
    kwargs = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 3.0}
    transformation = {"shear_factor": shear, "input_shape": x.shape}
    close(L.RandomShear(0.5, **kwargs).transform_images(torch.tensor(x), transformation).numpy(),
          keras_transform(keras.layers.RandomShear(0.5, **kwargs), x, transformation))


def test_color_jitter_steps_match_keras(keras):
    x = images()
    ours = L.RandomColorJitter(brightness_factor=0.3, contrast_factor=0.5, saturation_factor=0.4, hue_factor=0.3)
    draws = {"brightness": torch.tensor([0.1, -0.2, 0.3, 0.0]), "contrast": torch.tensor([0.5, 1.2, 1.5, 0.9]),
             "saturation": FACTORS + 0.6, "hue": FACTORS / 2}
    expected = torch.tensor(x)
    for key, name, transformation in [
            ("brightness", "RandomBrightness", {"rgb_delta": draws["brightness"].view(-1, 1, 1, 1) * 255}),
            ("contrast", "RandomContrast", {"contrast_factor": draws["contrast"].view(-1, 1, 1, 1)}),
            ("saturation", "RandomSaturation", {"factor": draws["saturation"]}),
            ("hue", "RandomHue", {"factor": draws["hue"]})]:
        expected = getattr(keras.layers, name)(0.1).transform_images(expected, transformation)
    close(ours.transform_images(torch.tensor(x), draws).numpy(), np.asarray(expected))


# ---- whole calls where the factors pin the draw -----------------------------------------------------

PINNED = [("RandomGrayscale", (), {"factor": 1.0}), ("RandomGrayscale", (), {"factor": 0.0}),
          ("RandomInvert", ((1.0, 1.0),), {}), ("RandomInvert", ((0.0, 0.0),), {}),
          ("Solarization", (), {}), ("Solarization", (0.0, 0.0, (0, 1)), {}),
          ("RandomPosterization", ((3, 3),), {}), ("RandomPosterization", (1,), {"value_range": (0, 1)}),
          ("RandomSaturation", ((0.3, 0.3),), {}), ("RandomSaturation", ((-0.5, -0.5),), {}),
          ("RandomColorDegeneration", ((0.4, 0.4),), {}), ("RandomColorDegeneration", ((-0.5, -0.5),), {}),
          ("RandomSharpness", ((0.2, 0.2),), {}), ("RandomSharpness", ((0.9, 0.9),), {"value_range": (0, 1)}),
          ("RandomColorJitter", (), {"brightness_factor": (0.1, 0.1), "contrast_factor": (-0.5, 0.5),
                                     "saturation_factor": (0.3, 0.3)}),
          ("RandomColorJitter", ((0, 1),), {"brightness_factor": (-0.2, -0.2), "saturation_factor": (0.7, 0.7)})]


@pytest.mark.parametrize("case", PINNED, ids=lambda c: c[0])
def test_pinned_calls_match_keras(keras, case):
    name, args, kwargs = case
    scale = 1.0 if (0, 1) in args or kwargs.get("value_range") == (0, 1) else 255.0
    x = images(scale=scale)
    ours, theirs = getattr(L, name)(*args, **kwargs), getattr(keras.layers, name)(*args, **kwargs)
    close(ours_call(ours, x), keras_call(theirs, x), ATOL * scale)
    close(ours_call(ours, x[1]), keras_call(theirs, x[1]), ATOL * scale)


def test_hue_and_shear_calls_are_keras_with_either_sign(keras):
    """A coin picks the sign of the hue shift and of the shear: each image is one of Keras' two results."""
    x = images((40, 5, 6, 3))
    cases = [(L.RandomHue((0.4, 0.4), seed=1), keras.layers.RandomHue(0.4), "factor", torch.tensor([0.2])),
             (L.RandomShear((0.3, 0.3), (0.2, 0.2), seed=1), keras.layers.RandomShear(0.3),
              "shear_factor", torch.tensor([[0.3, 0.2]]))]
    for ours, theirs, key, value in cases:
        got = ours_call(ours, x)
        plus, minus = (keras_transform(theirs, x, {key: value.expand(40, *value.shape[1:]) * s}) for s in (1, -1))
        is_plus = np.all(np.abs(got - plus) <= ATOL, axis=(1, 2, 3))
        is_minus = np.all(np.abs(got - minus) <= ATOL, axis=(1, 2, 3))
        assert np.all(is_plus | is_minus) and 8 < is_plus.sum() < 32, type(ours).__name__


# ---- the random draws ----------------------------------------------------------------------------

def draws(layer, n: int = 4000) -> dict[str, np.ndarray]:
    """A layer's transformation for ``n`` tiny images, as numpy arrays (ours or Keras')."""
    transformation = layer.get_random_transformation(torch.zeros((n, 1, 1, 3)), training=True)
    if not isinstance(transformation, dict):
        transformation = {"flags": transformation}
    return {k: np.asarray(v).astype("float64").reshape(n, -1) for k, v in transformation.items()
            if k != "input_shape"}


def test_draw_ranges_match_keras(keras):
    cases = [("RandomGrayscale", (0.3,)), ("RandomInvert", (0.5,)), ("RandomInvert", ((0.2, 0.6),)),
             ("Solarization", ((0.1, 0.2), 0.5)), ("RandomPosterization", ((2, 6),)), ("RandomHue", (0.4,)),
             ("RandomSaturation", (0.5,)), ("RandomColorDegeneration", (0.3,)), ("RandomSharpness", (0.6,)),
             ("RandomShear", (0.2, (0.1, 0.3)))]
    for name, args in cases:
        ours, theirs = draws(getattr(L, name)(*args, seed=3)), draws(getattr(keras.layers, name)(*args))
        assert ours.keys() == theirs.keys(), name
        for key in ours:
            a, b = ours[key], theirs[key]
            assert a.shape == b.shape, (name, key)
            spread = max(b.max() - b.min(), 1e-3)
            for stat in (np.min, np.max, np.mean):
                assert abs(stat(a) - stat(b)) < 0.05 * spread, (name, key, stat.__name__, stat(a), stat(b))
    # the exact supports
    assert set(np.unique(draws(L.RandomPosterization((2, 6)))["shift_factor"])) == {3, 4, 5, 6}  # 6 bits never
    hue = draws(L.RandomHue((0.2, 0.4)))["factor"]
    assert np.all((np.abs(hue) >= 0.1) & (np.abs(hue) <= 0.2)) and 0.4 < (hue > 0).mean() < 0.6
    saturation = draws(L.RandomSaturation((0.2, 0.5)))["factor"]
    assert saturation.min() >= 0.25 - 1e-4 and saturation.max() <= 1.0 + 1e-4
    solar = draws(L.Solarization((0.1, 0.2), (0.3, 0.5)))
    assert solar["additions"].min() >= 0.1 and solar["additions"].max() <= 51.0
    assert solar["thresholds"].min() >= 0.3 and solar["thresholds"].max() <= 127.5
    shear = draws(L.RandomShear(0.2, (0.1, 0.3)))["shear_factor"]
    assert np.all(np.abs(shear[:, 0]) <= 0.2) and np.all((np.abs(shear[:, 1]) >= 0.1) & (np.abs(shear[:, 1]) <= 0.3))
    jitter = L.RandomColorJitter(brightness_factor=0.2, contrast_factor=(0.1, 0.3), saturation_factor=(0.2, 0.5),
                                 hue_factor=0.1, seed=1)
    drawn = draws(jitter)
    assert np.abs(drawn["brightness"]).max() <= 0.2 and np.abs(drawn["hue"]).max() <= 0.05
    assert drawn["contrast"].min() >= 0.9 and drawn["contrast"].max() <= 1.3
    assert drawn["saturation"].min() >= 0.25 - 1e-4 and drawn["saturation"].max() <= 1.0 + 1e-4
    assert len({tuple(v[:, 0].round(6)) for v in drawn.values()}) == 4  # one generator, distinct draws


def test_seeds_repeat_and_each_image_draws_its_own():
    x = np.tile(images((1, 6, 6, 3)), (8, 1, 1, 1))
    for first, second in zip(all_layers(seed=5), all_layers(seed=5)):
        a, b = ours_call(first, x), ours_call(second, x)
        np.testing.assert_array_equal(a, b)
        outcomes = 2 if isinstance(first, (L.RandomGrayscale, L.RandomInvert)) else 4  # a coin: two outcomes
        assert len({img.tobytes() for img in a}) >= outcomes, type(first).__name__


# ---- training only, models, configs --------------------------------------------------------------

def all_layers(seed=None) -> list:
    return [L.RandomGrayscale(0.5, seed=seed), L.RandomInvert(seed=seed), L.Solarization(0.3, 0.8, seed=seed),
            L.RandomPosterization((1, 8), seed=seed), L.RandomHue(0.5, seed=seed), L.RandomSaturation(0.8, seed=seed),
            L.RandomColorDegeneration(0.9, seed=seed), L.RandomSharpness(1.0, seed=seed),
            L.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.4, saturation_factor=0.5, hue_factor=0.3,
                                seed=seed),
            L.RandomShear(0.4, 0.3, fill_mode="constant", seed=seed)]


def test_models_fit_and_pass_images_through_at_inference(keras):
    x = images((8, 6, 6, 3))
    y = np.random.default_rng(1).integers(0, 2, 8)
    for layer in all_layers() + [L.Equalization(), L.AutoContrast()]:
        model = layerwise.Sequential([layerwise.Input((6, 6, 3)), layer, L.Flatten(), L.Dense(2)])
        model.compile("sgd", layerwise.losses.SparseCategoricalCrossentropy(from_logits=True))
        calls = []
        transform = layer.transform_images
        layer.transform_images = lambda batch, *args, transform=transform, calls=calls: (
            calls.append(len(batch)), transform(batch, *args))[1]
        history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        assert calls == [4, 4] and np.isfinite(history.history["loss"][0]), type(layer).__name__
        passed = layerwise.Sequential([layerwise.Input((6, 6, 3)), layer])
        if isinstance(layer, L.AutoContrast):  # active at inference, as in Keras
            close(passed.predict(x, verbose=0), keras_call(keras.layers.AutoContrast(), x))
            continue
        np.testing.assert_array_equal(passed.predict(x, verbose=0), x)
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
        assert calls == [4, 4]  # never called at inference


def test_configs_round_trip_and_match_keras_keys(keras):
    for layer in all_layers(seed=3) + [L.Equalization(bins=64), L.AutoContrast((0, 1))]:
        name = type(layer).__name__
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config, name
        x = images((2, 5, 5, 3))
        if "seed" in config:  # RandomGrayscale's config has no seed, as Keras'
            np.testing.assert_array_equal(ours_call(again, x), ours_call(type(layer).from_config(config), x))
        assert config["data_format"] == "channels_last"
        if isinstance(layer, L.RandomShear):
            # Keras saves x_factor=0.4 as (-0.4, 0.4), as layerwise does, and its own constructor rejects that
            # pair: Keras reloads neither config, layerwise both (tests/layers/test_augmentation_config_parity.py)
            with pytest.raises(TypeError, match="range"):
                getattr(keras.layers, name).from_config(config)
            continue
        keras_layer = getattr(keras.layers, name).from_config(config)  # Keras reads our config
        keras_config = keras_layer.get_config()
        assert set(keras_config) - {"trainable"} <= set(config), name
        loaded = type(layer).from_config(keras_config)  # we read Keras' config
        assert loaded(torch.tensor(x), training=False).shape == x.shape


def test_augmented_model_saves_and_loads(tmp_path):
    x = images((4, 6, 6, 3))
    model = layerwise.Sequential([layerwise.Input((6, 6, 3)), *all_layers(seed=2)[-3:], L.Equalization(bins=64),
                                  L.AutoContrast(), L.Flatten(), L.Dense(2)])
    path = tmp_path / "colour.lw"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers[:-1]] == [layer.get_config() for layer in model.layers[:-1]]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_bad_input_errors():
    for layer, shape in [(L.RandomHue(0.1), (8, 8)), (L.Equalization(), (1, 2, 8, 8, 3)),
                         (L.RandomShear(0.1), (8,))]:
        with pytest.raises(ValueError, match=rf"\({type(layer).__name__}\) expected an image"):
            layer(np.zeros(shape, "float32"))
    for layer, channels in [(L.RandomHue(0.1), "3"), (L.RandomSaturation(0.1), "3"), (L.RandomGrayscale(), "1 or 3"),
                            (L.RandomColorJitter(hue_factor=0.1), "3")]:
        with pytest.raises(ValueError, match=rf"expected images with {channels} channels .*\(2, 4, 4, 4\)"):
            layer(np.zeros((2, 4, 4, 4), "float32"))
    L.RandomColorJitter(brightness_factor=0.1)(np.zeros((2, 4, 4, 4), "float32"))  # any channels without HSV
    bad = [(L.RandomGrayscale, (1.5,), {}, r"RandomGrayscale factor .*\[0, 1\], got factor=1.5"),
           (L.RandomGrayscale, ((0.1, 0.2),), {}, "RandomGrayscale factor"),
           (L.RandomInvert, (-0.5,), {}, r"RandomInvert factor .*\[0, 1\]"),
           (L.Solarization, (1.5,), {}, r"Solarization addition_factor .*\[0, 1\], got addition_factor=1.5"),
           (L.Solarization, (0.1, (0.2, -0.1)), {}, "threshold_factor"),
           (L.Solarization, (), {"value_range": (0, 1, 2)}, "value_range must be a pair"),
           (L.AutoContrast, ("bright",), {}, "AutoContrast value_range"),
           (L.RandomPosterization, (9,), {}, r"RandomPosterization factor .*\[1, 8\]"),
           (L.RandomPosterization, (2.5,), {}, "whole numbers of bits"),
           (L.Equalization, (), {"bins": 1}, "Equalization bins"),
           (L.RandomHue, (1.2,), {}, r"RandomHue factor .*\[0, 1\]"),
           (L.RandomSaturation, ((2, 3),), {}, r"RandomSaturation factor .*\[-1, 1\]"),
           (L.RandomColorDegeneration, ("a",), {}, "RandomColorDegeneration factor"),
           (L.RandomSharpness, ((0.1, 0.2, 0.3),), {}, "RandomSharpness factor"),
           (L.RandomColorJitter, (), {"hue_factor": 2.0}, "RandomHue factor"),
           (L.RandomColorJitter, (), {"contrast_factor": 1.5}, "RandomContrast factor"),
           (L.RandomShear, (-0.2,), {}, r"RandomShear x_factor .*\[0, 1\], got x_factor=-0.2"),
           (L.RandomShear, (0.1, (0.2, 1.5)), {}, "y_factor"),
           (L.RandomShear, (0.1,), {"fill_mode": "mirror"}, "fill_mode must be one of"),
           (L.RandomShear, (0.1,), {"interpolation": "bicubic"}, "interpolation must be one of"),
           (L.RandomHue, (0.1,), {"data_format": "channels_middle"}, "or 'channels_first', received")]
    for cls, args, kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            cls(*args, **kwargs)
