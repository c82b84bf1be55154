"""Normalization, Resizing and CenterCrop against Keras 3 (torch backend): adapted statistics, outputs,
shapes of batched and unbatched images, saving with a model, and errors for bad input; Normalization's
broadcasting, integer images through Resizing, colour layers on channels-first images and the compute dtypes of
the image layers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.datasets.adapt import as_array_tensor, make_data
from layerwise.saving import load_model

ATOL = 1e-5
HORSEPOWER = np.array([130.0, 165.0, 150.0, 150.0, 140.0, 198.0], "float32")
UINT8_IMAGES = np.full((1, 4, 4, 3), 201, "uint8")
UINT8_IMAGES[:, :, ::2] = 10
IMAGES = np.random.RandomState(0).rand(2, 8, 10, 3).astype("float32") * 255


def tabular(seed: int = 0, shape=(60, 4, 3)) -> np.ndarray:
    """Features of different scales and offsets, so that a statistic on the wrong axis shows."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * np.arange(1, shape[-1] + 1) + 5).astype("float32")


def images(shape=(3, 7, 9, 2), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype("float32")


# ---- Normalization -----------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1])
def test_normalization_adapt_matches_keras_for_arrays_tensors_and_batches(keras, axis):
    x = tabular()
    theirs = keras.layers.Normalization(axis=axis)
    theirs.adapt(x)
    expected = theirs.get_weights()
    for data in (x, torch.as_tensor(x), [x[:25], x[25:41], x[41:]], ((x[i:i + 16], None) for i in range(0, 60, 16))):
        ours = L.Normalization(axis=axis)
        ours.adapt(data)
        got = ours.get_weights()
        assert [w.shape for w in got] == [w.shape for w in expected]
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-6)
        assert int(got[2]) == 60 * 4 * 3 // int(np.prod(expected[0].shape) or 1)
        np.testing.assert_allclose(ours(x).numpy(), np.asarray(theirs(x)), atol=ATOL)


@pytest.mark.parametrize("axis", [-1, (1, 2)])
def test_normalization_mean_and_variance_attributes_match_keras(keras, axis):
    data = np.random.default_rng(2).normal(3.0, 2.0, size=(16, 4, 3)).astype("float32")
    for make in (lambda lib: lib.layers.Normalization(axis=axis),
                 lambda lib: lib.layers.Normalization(axis=axis, mean=1.5, variance=4.0)):
        k_layer, ours = make(keras), make(layerwise)
        assert ours.mean is None  # not built yet
        for layer in (k_layer, ours):
            if "mean" in layer.get_config() and layer.get_config()["mean"] is not None:
                layer.build((None, 4, 3))
            else:
                layer.adapt(data)
        np.testing.assert_allclose(np.asarray(ours.mean), keras.ops.convert_to_numpy(k_layer.mean), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(ours.variance), keras.ops.convert_to_numpy(k_layer.variance),
                                   rtol=1e-5)


def test_normalization_population_variance_by_hand():
    layer = L.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    mean, variance, _ = layer.get_weights()
    assert float(mean) == 3.0 and float(variance) == 2.0  # population variance: divides by n, not n - 1
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 3.0])).numpy(), [-2 / 2 ** 0.5, -1 / 2 ** 0.5, 0.0],
                               rtol=1e-6)


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_given_statistics_and_epsilon_guard_match_keras(keras, invert):
    x = tabular()
    kwargs = {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.0, 9.0], "invert": invert}  # a zero variance
    expected = np.asarray(keras.layers.Normalization(**kwargs)(x))
    ours = L.Normalization(**kwargs)
    np.testing.assert_allclose(ours(x).numpy(), expected, rtol=1e-6)
    assert ours.get_weights() == []  # given statistics are config, not weights, as in Keras
    scalar = L.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(scalar(np.array([[1.0], [2.0], [3.0]])).numpy(),
                               np.asarray(keras.layers.Normalization(mean=3.0, variance=2.0)(
                                   np.array([[1.0], [2.0], [3.0]], "float32"))), rtol=1e-6)


def test_normalization_takes_keras_weights_and_round_trips_its_config(keras):
    x = tabular()
    theirs = keras.layers.Normalization()
    theirs.adapt(x)
    ours = L.Normalization()
    ours.build_from((None, 4, 3))
    ours.set_weights(theirs.get_weights())  # count 0 from Keras: set statistics count as adapted
    np.testing.assert_allclose(ours(x).numpy(), np.asarray(theirs(x)), atol=ATOL)
    fixed = L.Normalization(axis=(1, 2), mean=np.ones((4, 3)), variance=np.full((4, 3), 2.0), invert=True)
    config = fixed.get_config()
    again = L.Normalization.from_config(config)
    assert again.get_config() == config and config["mean"] == np.ones((4, 3)).tolist()
    np.testing.assert_allclose(again(x).numpy(), fixed(x).numpy())


def test_normalization_statistics_survive_fit_save_and_load(tmp_path):
    x = tabular()
    y = x[:, 0, :1] * 2
    norm = L.Normalization()
    norm.adapt(x)
    model = layerwise.Sequential([layerwise.Input((4, 3)), norm, L.Flatten(), L.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert [w.shape for w in model.get_weights()][:3] == [(3,), (3,), ()]
    path = tmp_path / "model.lw"
    model.save(path)
    loaded = load_model(path)
    for ours, saved in zip(loaded.layers[0].get_weights(), norm.get_weights()):
        np.testing.assert_array_equal(ours, saved)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_normalization_errors():
    with pytest.raises(ValueError, match="no statistics yet.*adapt"):
        L.Normalization()(tabular())
    norm = L.Normalization()
    norm.adapt(tabular())  # 3 features
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, None, 3\).*\(10, 4, 5\)"):
        norm.adapt(np.zeros((10, 4, 5)))
    with pytest.raises(ValueError, match=r"received data of shape \(5, 4, 2\)"):
        L.Normalization().adapt([np.zeros((5, 4, 3)), np.zeros((5, 4, 2))])
    with pytest.raises(ValueError, match="normalization.*expected inputs of rank 3 with sizes \\[3\\]"):
        norm(np.zeros((2, 4, 7)))
    with pytest.raises(ValueError, match="both mean and variance"):
        L.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="same shape"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match="adapt\\(\\) would replace them"):
        L.Normalization(mean=1.0, variance=1.0).adapt(tabular())
    with pytest.raises(ValueError, match=r"axes \(3,\)"):
        L.Normalization(axis=3)(tabular())
    with pytest.raises(ValueError, match="empty iterable"):
        L.Normalization().adapt([])
    with pytest.raises(TypeError, match="shape"):
        L.Normalization().adapt([1.0, 2.0])
    with pytest.raises(ValueError, match="do not broadcast"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(tabular())


# ---- Resizing and CenterCrop --------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("options", [{}, {"crop_to_aspect_ratio": True},
                                     {"pad_to_aspect_ratio": True, "fill_value": 0.3}])
@pytest.mark.parametrize("size", [(5, 4), (13, 8)])
def test_resizing_matches_keras(keras, interpolation, options, size):
    x = images()
    theirs = keras.layers.Resizing(*size, interpolation=interpolation, **options)
    ours = L.Resizing(*size, interpolation=interpolation, **options)
    expected = np.asarray(theirs(x))
    np.testing.assert_allclose(ours(x).numpy(), expected, atol=ATOL)
    np.testing.assert_allclose(ours(x, training=False).numpy(), expected, atol=ATOL)  # the same at inference
    np.testing.assert_allclose(ours(x[0]).numpy(), np.asarray(theirs(x[0])), atol=ATOL)  # one unbatched image
    assert ours.compute_output_shape((None, 7, 9, 2)) == (None, *size, 2)
    assert ours.compute_output_shape((7, 9, 2)) == (*size, 2)


def test_resizing_keeps_integer_images_as_keras(keras):
    x = (images() * 255).astype("uint8")
    got = L.Resizing(5, 4)(torch.as_tensor(x))
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), np.asarray(keras.layers.Resizing(5, 4)(x)))


@pytest.mark.parametrize("size", [(4, 5), (7, 9), (8, 5), (3, 12)])
def test_center_crop_matches_keras(keras, size):
    x = images()
    theirs, ours = keras.layers.CenterCrop(*size), L.CenterCrop(*size)
    np.testing.assert_allclose(ours(x).numpy(), np.asarray(theirs(x)), atol=ATOL)
    np.testing.assert_allclose(ours(x[1]).numpy(), np.asarray(theirs(x[1])), atol=ATOL)
    model = layerwise.Sequential([layerwise.Input((7, 9, 2)), L.CenterCrop(*size)])
    assert model.output_shape == (None, *size, 2)
    assert model.predict(x, verbose=0).shape == (3, *size, 2)


def test_resizing_and_center_crop_config_round_trip():
    for layer in (L.Resizing(5, 4, interpolation="nearest", pad_to_aspect_ratio=True, fill_value=1.0),
                  L.CenterCrop(3, 2)):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
        np.testing.assert_array_equal(again(images()).numpy(), layer(images()).numpy())


def test_image_preprocessing_errors():
    with pytest.raises(ValueError, match=r"resizing.*\(Resizing\) expected an image .*received input with shape "
                                         r"\(4, 5\)"):
        L.Resizing(2, 2)(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="center_crop.*rank|center_crop.*expected an image"):
        L.CenterCrop(2, 2)(np.zeros((1, 2, 4, 5, 3)))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        L.Resizing(2, 2, interpolation="lanczos5")
    with pytest.raises(ValueError, match="only one of crop_to_aspect_ratio and pad_to_aspect_ratio"):
        L.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="fill_mode='constant'"):
        L.Resizing(2, 2, fill_mode="reflect")
    with pytest.raises(ValueError, match="positive integers, got height=0"):
        L.CenterCrop(0, 2)
    with pytest.raises(ValueError, match="data_format must be .* 'channels_first', received"):
        L.Resizing(2, 2, data_format="channels_middle")


@pytest.mark.parametrize("name, size, data_format", [("CenterCrop", (4, 6), "channels_last"),
                                                     ("CenterCrop", (12, 6), "channels_last"),
                                                     ("Resizing", (4, 5), "channels_last"),
                                                     ("Resizing", (5, 7), "channels_first")])
def test_sized_image_layers_take_dicts_of_images_and_masks_as_keras(keras, name, size, data_format):
    rng = np.random.default_rng(0)
    images, masks = rng.random((2, 8, 10, 3), dtype=np.float32), rng.integers(0, 4, (2, 8, 10, 1)).astype("float32")
    if data_format == "channels_first":
        images, masks = images.transpose(0, 3, 1, 2), masks.transpose(0, 3, 1, 2)
    data = {"images": images, "segmentation_masks": masks, "labels": np.array([1, 2])}
    expected = getattr(keras.layers, name)(*size, data_format=data_format)(data)
    got = getattr(L, name)(*size, data_format=data_format)(data)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(np.asarray(got[key]), keras.ops.convert_to_numpy(expected[key]), atol=1e-5)
    if name == "Resizing":  # masks are resized by nearest neighbour: class ids never blend
        assert set(np.unique(np.asarray(got["segmentation_masks"]))) <= {0.0, 1.0, 2.0, 3.0}
    with pytest.raises(ValueError, match=r"called on a dict expects an 'images' entry, got keys \['labels'\]"):
        getattr(L, name)(*size)({"labels": np.array([1, 2])})


# ---- Normalization broadcasts its statistics as Keras --------------------------------------------------------------

def test_normalization_adapted_on_1d_data_takes_a_column_like_keras(keras):
    """TensorFlow's "Basic regression" tutorial: axis=None adapted on 1-D data, then fed (batch, 1)."""
    results = []
    for lib in (keras, layerwise):
        norm = lib.layers.Normalization(axis=None)
        norm.adapt(HORSEPOWER)
        model = lib.Sequential([lib.Input((1,)), norm])
        results.append(np.asarray(model.predict(HORSEPOWER[:2, None], verbose=0)))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    assert results[1].shape == (2, 1)


def test_normalization_tutorial_form_trains():
    norm = L.Normalization(input_shape=[1], axis=None)
    norm.adapt(HORSEPOWER)
    model = layerwise.Sequential([norm, L.Dense(1)])
    model.compile(optimizer="adam", loss="mean_absolute_error")
    model.fit(HORSEPOWER, HORSEPOWER, epochs=1, verbose=0)
    assert model.predict(HORSEPOWER[:2], verbose=0).shape == (2, 1)


def test_normalization_statistics_broadcast_over_extra_axes_like_keras(keras):
    data = np.arange(30, dtype="float32").reshape(10, 3) ** 1.5
    x = np.random.RandomState(1).rand(2, 4, 3).astype("float32") * 20
    results = []
    for lib in (keras, layerwise):
        norm = lib.layers.Normalization()
        norm.adapt(data)
        results.append(np.asarray(norm(x)))
    assert results[1].shape == (2, 4, 3)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_normalization_over_the_batch_axis_gives_keras_output_shapes(keras):
    # Adapted with axis=0, an unknown batch size gave None instead of a shape (Keras: the input's shape).
    data = np.random.RandomState(0).rand(3, 4).astype("float32")
    ours, theirs = L.Normalization(axis=0), keras.layers.Normalization(axis=0)
    ours.adapt(data)
    theirs.adapt(data)
    for shape in [(None, 4), (3, 4), (None, 7)]:
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape)) == shape
    symbolic = ours(layerwise.Input((4,)))
    assert tuple(symbolic.shape) == (None, 4)
    with pytest.raises(ValueError, match=r"Normalization.*\(5, 4\)"):
        ours.compute_output_shape((5, 4))  # a known batch of another size than the statistics' 3


def test_normalization_mismatched_features_name_the_layer():
    norm = L.Normalization(name="feats")
    norm.adapt(np.ones((10, 3), "float32"))
    with pytest.raises(ValueError, match=r"'feats' \(Normalization\).*sizes \[3\].*\(2, 4, 7\)"):
        norm(np.zeros((2, 4, 7), "float32"))  # a longer rank used to raise a bare IndexError
    with pytest.raises(ValueError, match=r"'feats'.*\(2, 4\)"):
        norm(np.zeros((2, 4), "float32"))


# ---- integer images through Resizing -------------------------------------------------------------------------------

def test_resizing_returns_integer_images_rounded_like_keras(keras):
    expected = keras.layers.Resizing(3, 3)(UINT8_IMAGES)
    out = L.Resizing(3, 3)(UINT8_IMAGES)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), np.asarray(expected))


def test_integer_inputs_keep_an_integer_input_dtype():
    """``as_array_tensor`` and ``make_data`` keep integer data in the dtype an integer ``Input`` declares."""
    assert as_array_tensor(UINT8_IMAGES, "x", declared_dtype="uint8").dtype == torch.uint8
    assert as_array_tensor(UINT8_IMAGES, "x", declared_dtype="int32").dtype == torch.int32
    assert as_array_tensor(UINT8_IMAGES, "x", declared_dtype="float32").dtype == torch.float32
    assert as_array_tensor(UINT8_IMAGES, "x").dtype == torch.float32  # no declared dtype: as before
    data = make_data(UINT8_IMAGES, None, None, 1, torch.device("cpu"), input_dtypes=["uint8"])
    assert data.x.dtype == torch.uint8


# ---- colour layers on channels-first RGB images --------------------------------------------------------------------

COLOUR_LAYERS = [(L.RandomGrayscale, {"factor": 1.0}), (L.RandomHue, {"factor": 0.5}),
                 (L.RandomSaturation, {"factor": 0.5}), (L.RandomColorDegeneration, {"factor": 0.5})]


@pytest.mark.parametrize("cls, kwargs", COLOUR_LAYERS)
def test_colour_layers_take_channels_first_rgb(cls, kwargs):
    first = np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2))
    expected = cls(**kwargs, seed=3)(IMAGES, training=True).numpy().transpose(0, 3, 1, 2)
    out = cls(**kwargs, seed=3, data_format="channels_first")(first, training=True)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-4)
    layerwise.config.set_image_data_format("channels_first")
    try:
        assert tuple(cls(**kwargs)(first, training=True).shape) == (2, 3, 8, 10)
    finally:
        layerwise.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match=r"channels \(RGB\)"):
        cls(**kwargs, data_format="channels_first")(np.zeros((2, 4, 8, 10), "float32"))


# ---- the image layers' dtype policies ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs", [("CenterCrop", {"height": 4, "width": 5}), ("RandomFlip", {}),
                                          ("RandomBrightness", {"factor": 0.2}), ("MixUp", {}),
                                          ("Resizing", {"height": 4, "width": 5})])
@pytest.mark.parametrize("dtype", ["float64", "float16", "mixed_float16"])
def test_image_layers_compute_in_their_dtype_like_keras(keras, name, kwargs, dtype):
    expected = getattr(keras.layers, name)(**kwargs, dtype=dtype)(IMAGES, training=True).dtype
    assert getattr(L, name)(**kwargs, dtype=dtype)(IMAGES, training=True).dtype == expected
