"""Review fixes of the preprocessing layers, each checked against Keras 3 (torch backend) where it runs
without TensorFlow: Normalization's broadcasting, integer images through Resizing, channels-first colour
layers, dtype policies of image layers and categorical encoders, Discretization's adapt on a list of
batches, rank checks of the row encodings, num_bins validation and symbolic output dtypes."""
import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.datasets.adapt import as_array_tensor, make_data

HORSEPOWER = np.array([130.0, 165.0, 150.0, 150.0, 140.0, 198.0], "float32")
UINT8_IMAGES = np.full((1, 4, 4, 3), 201, "uint8")
UINT8_IMAGES[:, :, ::2] = 10
IMAGES = np.random.RandomState(0).rand(2, 8, 10, 3).astype("float32") * 255


# ---- 1. Normalization broadcasts its statistics as Keras ------------------------------------------------------
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


def test_normalization_mismatched_features_name_the_layer():
    norm = L.Normalization(name="feats")
    norm.adapt(np.ones((10, 3), "float32"))
    with pytest.raises(ValueError, match=r"'feats' \(Normalization\).*sizes \[3\].*\(2, 4, 7\)"):
        norm(np.zeros((2, 4, 7), "float32"))  # a longer rank used to raise a bare IndexError
    with pytest.raises(ValueError, match=r"'feats'.*\(2, 4\)"):
        norm(np.zeros((2, 4), "float32"))


# ---- 2. integer images through Resizing ------------------------------------------------------------------------
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


# ---- 3. colour layers on channels-first RGB images -------------------------------------------------------------
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


# ---- 4. dtype policies ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", [("CenterCrop", {"height": 4, "width": 5}), ("RandomFlip", {}),
                                          ("RandomBrightness", {"factor": 0.2}), ("MixUp", {}),
                                          ("Resizing", {"height": 4, "width": 5})])
@pytest.mark.parametrize("dtype", ["float64", "float16", "mixed_float16"])
def test_image_layers_compute_in_their_dtype_like_keras(keras, name, kwargs, dtype):
    expected = getattr(keras.layers, name)(**kwargs, dtype=dtype)(IMAGES, training=True).dtype
    assert getattr(L, name)(**kwargs, dtype=dtype)(IMAGES, training=True).dtype == expected


@pytest.mark.parametrize("dtype", ["float64", "mixed_float16"])
def test_category_encoding_dtype_like_keras(keras, dtype):
    ids, weights = np.array([[0, 1, 1]]), np.array([[0.5, 2.0, 1.0]])  # float64 weights
    for mode in ("multi_hot", "one_hot", "count"):
        expected = keras.layers.CategoryEncoding(4, output_mode=mode, dtype=dtype)(ids)
        assert L.CategoryEncoding(4, output_mode=mode, dtype=dtype)(ids).dtype == expected.dtype
    expected = keras.layers.CategoryEncoding(4, output_mode="count", dtype=dtype)(ids, count_weights=weights)
    out = L.CategoryEncoding(4, output_mode="count", dtype=dtype)(ids, count_weights=weights)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.float().numpy(), np.asarray(expected.float()))


def test_category_encoding_count_weights_take_the_compute_dtype(keras):
    ids, weights = np.array([[0, 1, 1]]), np.array([[0.5, 2.0, 1.0]])
    expected = keras.layers.CategoryEncoding(4, output_mode="count")(ids, count_weights=weights)
    out = L.CategoryEncoding(4, output_mode="count")(ids, count_weights=weights)
    assert out.dtype == expected.dtype == torch.float32


def test_discretization_encoded_dtype_like_keras(keras):
    x = np.array([[-1.0, 0.5, 2.0]])
    for mode, dtype in [("one_hot", "float64"), ("count", "float64"), ("int", "float64")]:
        expected = keras.layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode, dtype=dtype)(x)
        out = L.Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode, dtype=dtype)(x)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), np.asarray(expected))


def test_hashing_dtype_as_keras():
    """Keras (hashing.py): int64 bins by default, 'int32' on request, a float dtype refused for 'int' bins."""
    assert L.Hashing(3)(np.array([[1, 2]])).dtype == torch.int64
    assert L.Hashing(3, dtype="int32")(np.array([[1, 2]])).dtype == torch.int32
    assert L.Hashing(3, dtype="int32")(np.array([["a", "b"]])).dtype == np.int32
    assert L.Hashing(3, output_mode="one_hot", dtype="float64")(np.array([1, 2])).dtype == torch.float64
    assert L.Hashing(3, output_mode="multi_hot")(np.array([[1, 2]])).dtype == torch.float32
    with pytest.raises(ValueError, match="Hashing.*dtype must be 'int32' or 'int64'.*float32"):
        L.Hashing(3, dtype="float32")
    config = L.Hashing(3).get_config()
    assert config["dtype"]["config"]["name"] == "int64"
    assert L.Hashing.from_config(config)(np.array([[7]])).dtype == torch.int64


# ---- 6. Discretization.adapt on a list of batches ----------------------------------------------------------------
def _keras_boundaries(keras, batches, num_bins=4):
    """What Keras' adapt computes for a list: update_state on each batch (its adapt iterates the list)."""
    layer = keras.layers.Discretization(num_bins=num_bins)
    layer.reset_state()
    for batch in batches:
        layer.update_state(batch)
    layer.finalize_state()
    return layer.bin_boundaries


def test_discretization_adapts_a_list_batch_by_batch_like_keras(keras):
    values = np.random.RandomState(0).randn(10000).astype("float32")
    for batches in ([values[:3000], values[3000:]], [values[:5000], values[5000:]]):
        layer = L.Discretization(num_bins=4)
        layer.adapt(batches)
        np.testing.assert_allclose(layer.bin_boundaries, _keras_boundaries(keras, batches), rtol=1e-6)
    layer = L.Discretization(num_bins=4)
    layer.adapt([values[:5000], values[5000:]], steps=1)
    np.testing.assert_allclose(layer.bin_boundaries, _keras_boundaries(keras, [values[:5000]]), rtol=1e-6)


# ---- 7. row encodings of rank-3 inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda mode: L.CategoryEncoding(4, output_mode=mode, name="enc"),
                                  lambda mode: L.Discretization(bin_boundaries=[0.5, 1.5, 2.5], output_mode=mode,
                                                                name="enc")])
@pytest.mark.parametrize("mode", ["multi_hot", "count"])
def test_row_encodings_refuse_rank_3_inputs(make, mode):
    ids = np.array([[[0, 1, 1], [2, 3, 3]]])
    with pytest.raises(ValueError, match=r"'enc' \(\w+\).*rank 1 or 2.*Keras supports.*\(1, 2, 3\)"):
        make(mode)(ids)
    with pytest.raises(ValueError, match="rank 1 or 2"):
        make(mode)(layerwise.Input((2, 3)))
    assert tuple(make(mode)(ids[0]).shape) == (2, 4)
    assert tuple(make("one_hot")(ids).shape) == (1, 2, 3, 4)  # one-hot keeps every axis, as Keras


# ---- 9. Discretization's num_bins -----------------------------------------------------------------------------
@pytest.mark.parametrize("num_bins", [0, -1, 2.5])
def test_discretization_rejects_fewer_than_one_bin(num_bins):
    with pytest.raises(ValueError, match="Discretization: num_bins must be an int >= 1"):
        L.Discretization(num_bins=num_bins)


# ---- 10. symbolic output dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_discretization_symbolic_dtype_like_keras(keras, mode, dtype):
    expected = keras.layers.Discretization(bin_boundaries=[0.0], output_mode=mode, dtype=dtype)(keras.Input((4,)))
    out = L.Discretization(bin_boundaries=[0.0], output_mode=mode, dtype=dtype)(layerwise.Input((4,)))
    assert out.dtype == expected.dtype


def test_encoders_symbolic_dtypes(keras):
    ids = keras.Input((3,), dtype="int64")
    expected = keras.layers.CategoryEncoding(4, dtype="float64")(ids).dtype
    assert L.CategoryEncoding(4, dtype="float64")(layerwise.Input((3,), dtype="int64")).dtype == expected
    # Keras' rules (these two need TensorFlow there): Hashing outputs layer.dtype, IntegerLookup int64 indices.
    assert L.Hashing(3)(layerwise.Input((3,), dtype="int64")).dtype == "int64"
    assert L.IntegerLookup(vocabulary=[1, 2])(layerwise.Input((3,), dtype="int64")).dtype == "int64"
    assert L.IntegerLookup(vocabulary=[1, 2], output_mode="multi_hot")(
        layerwise.Input((3,), dtype="int64")).dtype == "float32"
