"""ContrastLimitedAdaptiveHistogramEqualization against Keras 3 (torch backend): values, dtypes, data formats,
config and .keras files both ways."""
import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

RNG = np.random.RandomState(0)
CASES = [
    ("default grid", RNG.uniform(0, 255, (2, 64, 64, 3)).astype("float32"), {}),
    ("uint8, grid not dividing the image", RNG.randint(0, 256, (2, 32, 40, 3)).astype("uint8"),
     {"tile_grid_size": (3, 5)}),
    ("odd size, one channel", RNG.uniform(0, 255, (1, 37, 23, 1)).astype("float32"), {}),
    ("value range (0, 1), limit under one count", RNG.rand(2, 16, 16, 3).astype("float32"),
     {"value_range": (0, 1), "clip_limit": 2.0, "tile_grid_size": (2, 2)}),
    ("no clipping", (100 + RNG.rand(1, 16, 20, 3) * 20).astype("float32"), {"clip_limit": 0, "tile_grid_size": (4, 3)}),
    ("one image", RNG.uniform(0, 255, (10, 12, 3)).astype("float32"), {"tile_grid_size": (4, 4)}),
    ("grid larger than the image", RNG.uniform(0, 255, (1, 3, 5, 2)).astype("float32"), {}),
    ("channels first", RNG.uniform(0, 255, (2, 3, 16, 24)).astype("float32"),
     {"data_format": "channels_first", "tile_grid_size": (3, 4)}),
    ("float64 policy", RNG.uniform(0, 255, (1, 16, 16, 3)).astype("float32"), {"dtype": "float64"}),
    ("value range (-1, 1)", RNG.uniform(-1, 1, (1, 20, 20, 3)).astype("float32"),
     {"value_range": (-1, 1), "tile_grid_size": (5, 5)}),
    ("int32 images", RNG.randint(0, 256, (1, 16, 16, 3)).astype("int32"), {}),
]


@pytest.mark.parametrize("name, images, kwargs", CASES, ids=[case[0] for case in CASES])
def test_clahe_matches_keras(keras, name, images, kwargs):
    expected = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)(images)
    out = L.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)(images)
    assert out.dtype == expected.dtype and tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_allclose(out.double().numpy(), np.asarray(expected.double()), atol=1e-4)


def test_clahe_runs_at_inference_and_in_models():
    images = CASES[0][1]
    layer = L.ContrastLimitedAdaptiveHistogramEqualization()
    out = layer(images)
    assert not np.allclose(out.numpy(), images)
    np.testing.assert_array_equal(layer(images, training=False).numpy(), out.numpy())
    model = layerwise.Sequential([layerwise.Input((64, 64, 3)), L.ContrastLimitedAdaptiveHistogramEqualization()])
    np.testing.assert_array_equal(model.predict(images, verbose=0), out.numpy())


def test_clahe_config_like_keras(keras):
    kwargs = {"value_range": (0, 1), "clip_limit": 2.5, "tile_grid_size": (4, 2), "data_format": "channels_first"}
    expected = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs).get_config()
    config = L.ContrastLimitedAdaptiveHistogramEqualization(**kwargs).get_config()
    for key in ("value_range", "clip_limit", "tile_grid_size", "data_format"):
        assert list(np.atleast_1d(config[key])) == list(np.atleast_1d(expected[key])), key
    rebuilt = L.ContrastLimitedAdaptiveHistogramEqualization.from_config(config)
    assert tuple(rebuilt.tile_grid_size) == (4, 2) and rebuilt.clip_limit == 2.5


def test_clahe_keras_files_load_both_ways(keras, tmp_path):
    images = RNG.uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    keras_model = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.ContrastLimitedAdaptiveHistogramEqualization(
        clip_limit=3.0, tile_grid_size=(3, 4))])
    keras_model.save(tmp_path / "keras.keras")
    model = layerwise.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(model.predict(images, verbose=0), np.asarray(keras_model(images)), atol=1e-4)
    model.save(tmp_path / "layerwise.keras")
    reloaded = keras.models.load_model(tmp_path / "layerwise.keras")
    np.testing.assert_allclose(np.asarray(reloaded(images)), model.predict(images, verbose=0), atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"tile_grid_size": (0, 8)}, "tile_grid_size must be a pair of positive integers"),
    ({"tile_grid_size": 8}, "tile_grid_size must be a pair of positive integers"),
    ({"value_range": (0,)}, "value_range must be a pair of numbers"),
    ({"clip_limit": "4"}, "clip_limit must be a number"),
])
def test_clahe_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"ContrastLimitedAdaptiveHistogramEqualization {message}"):
        L.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)


def test_clahe_dict_inputs_keep_labels():
    images = torch.as_tensor(CASES[0][1])
    labels = torch.tensor([1, 0])
    out = L.ContrastLimitedAdaptiveHistogramEqualization()({"images": images, "labels": labels})
    np.testing.assert_array_equal(out["images"].numpy(), L.ContrastLimitedAdaptiveHistogramEqualization()(images))
    assert out["labels"] is labels or torch.equal(out["labels"], labels)
