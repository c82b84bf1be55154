"""preprocess_input and decode_predictions against keras.applications: the same numbers in every mode, data
format, dtype and rank; the caller's array is left as it was (Keras overwrites a float numpy array)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerwise import applications
from layerwise.applications import imagenet_utils

# (shape, data_format) pairs: batches and single images in both layouts.
LAYOUTS = [((2, 5, 4, 3), "channels_last"), ((5, 4, 3), "channels_last"), ((2, 3, 5, 4), "channels_first"),
           ((3, 5, 4), "channels_first")]


def images(shape, dtype="float32") -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, shape).astype(dtype)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("shape, data_format", LAYOUTS)
def test_numpy_matches_keras_and_leaves_the_input_alone(keras, mode, shape, data_format):
    ours_in = images(shape)
    theirs = keras.applications.imagenet_utils.preprocess_input(images(shape), data_format=data_format, mode=mode)
    ours = imagenet_utils.preprocess_input(ours_in, data_format=data_format, mode=mode)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours_in, images(shape))


@pytest.mark.xfail(strict=True, reason="Keras writes the result into a float numpy array it is given; layerwise "
                                       "returns a new array and leaves the caller's data as it was")
def test_a_float_array_is_overwritten_as_in_keras(keras):
    for preprocess in (keras.applications.imagenet_utils.preprocess_input, imagenet_utils.preprocess_input):
        x = np.full((1, 2, 2, 3), 255.0, "float32")
        preprocess(x, mode="tf")
        assert np.all(x == 1.0), preprocess.__module__


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_numpy_dtypes(keras, mode, dtype):
    """Integers become float32 (the input is left alone); float64 stays float64."""
    x = images((2, 4, 4, 3), dtype)
    theirs = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode)
    ours = imagenet_utils.preprocess_input(x.copy(), mode=mode)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    source = images((2, 4, 4, 3), "uint8")
    imagenet_utils.preprocess_input(source, mode=mode)
    np.testing.assert_array_equal(source, images((2, 4, 4, 3), "uint8"))


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("shape, data_format", LAYOUTS)
def test_torch_tensors_match_keras(keras, mode, shape, data_format):
    theirs = keras.applications.imagenet_utils.preprocess_input(torch.from_numpy(images(shape)),
                                                               data_format=data_format, mode=mode)
    ours = imagenet_utils.preprocess_input(torch.from_numpy(images(shape)), data_format=data_format, mode=mode)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))


def test_torch_integer_tensors_become_float32():
    x = images((2, 4, 4, 3), "uint8")
    ours = imagenet_utils.preprocess_input(torch.from_numpy(x), mode="caffe")
    assert ours.dtype == torch.float32
    np.testing.assert_array_equal(ours.numpy(), imagenet_utils.preprocess_input(x, mode="caffe"))


@pytest.mark.xfail(strict=True, reason="Keras on torch divides a float tensor in place in 'tf' and 'torch' modes, "
                                       "overwriting the caller's tensor; layerwise returns a new tensor")
def test_torch_tensor_is_overwritten(keras):
    for preprocess in (keras.applications.imagenet_utils.preprocess_input, imagenet_utils.preprocess_input):
        x = torch.full((1, 2, 2, 3), 255.0)
        preprocess(x, mode="tf")
        assert torch.all(x == 1.0)


@pytest.mark.parametrize("module, mode", [("vgg16", "caffe"), ("vgg19", "caffe"), ("resnet50", "caffe"),
                                          ("resnet", "caffe"), ("resnet_v2", "tf"), ("mobilenet", "tf"),
                                          ("mobilenet_v2", "tf"), ("densenet", "torch"), ("xception", "tf")])
def test_each_family_uses_keras_mode(keras, module, mode):
    x = images((1, 3, 3, 3))
    theirs = getattr(keras.applications, module).preprocess_input(x.copy())
    np.testing.assert_array_equal(getattr(applications, module).preprocess_input(x.copy()), theirs)
    np.testing.assert_array_equal(imagenet_utils.preprocess_input(x.copy(), mode=mode), theirs)


@pytest.mark.parametrize("kwargs", [{"mode": "pytorch"}, {"data_format": "channels_middle"}])
def test_bad_mode_or_data_format(keras, kwargs):
    with pytest.raises(ValueError):
        keras.applications.imagenet_utils.preprocess_input(images((1, 2, 2, 3)), **kwargs)
    with pytest.raises(ValueError, match=f"{list(kwargs)[0]}=.*{list(kwargs.values())[0]}"):
        imagenet_utils.preprocess_input(images((1, 2, 2, 3)), **kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match=r"3 colour channels.*axis 3.*\(1, 2, 2, 4\)"):
        imagenet_utils.preprocess_input(images((1, 2, 2, 4)), mode="caffe")
    with pytest.raises(ValueError, match=r"channels_first.*\(n, 3, h, w\).*\(2, 2\)"):
        imagenet_utils.preprocess_input(images((2, 2)), mode="torch", data_format="channels_first")
    with pytest.raises(TypeError, match="numpy array or a torch tensor.*list"):
        imagenet_utils.preprocess_input([[1.0, 2.0, 3.0]])


@pytest.fixture
def class_index(tmp_path, monkeypatch):
    """A made-up class index where Keras caches the real one, under a fresh KERAS_HOME."""
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return index


def test_decode_predictions_matches_keras(keras, class_index, monkeypatch):
    from keras.src.applications import imagenet_utils as keras_imagenet_utils
    monkeypatch.setattr(keras_imagenet_utils, "CLASS_INDEX", class_index)  # Keras then downloads nothing
    preds = np.random.default_rng(0).random((3, 1000)).astype("float32")
    theirs = keras.applications.imagenet_utils.decode_predictions(preds, top=4)
    assert applications.vgg16.decode_predictions(preds, top=4) == theirs
    assert imagenet_utils.decode_predictions(torch.from_numpy(preds), top=4) == theirs
    assert theirs[0][0][0].startswith("n") and len(theirs[2]) == 4


def test_decode_predictions_fetches_the_class_index_and_says_where_when_offline(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match=r"decode_predictions: the ImageNet class index could not be fetched: "
                                      r"'imagenet_class_index.json' is not in the cache .*no network.* Download "
                                      r"https://storage.googleapis.com/.*imagenet_class_index.json \(md5 "
                                      r"c2c37ea517e94d9795004a39431a14cb\) and save it as .*models/"
                                      r"imagenet_class_index.json"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)))
    assert not (tmp_path / "models" / "imagenet_class_index.json").exists()


def test_decode_predictions_rejects_a_bad_index(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps({"0": ["n0", "zero"]}))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="not ImageNet's class index"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)))


def test_decode_predictions_needs_1000_scores_per_sample(keras):
    for decode in (keras.applications.imagenet_utils.decode_predictions, imagenet_utils.decode_predictions):
        with pytest.raises(ValueError, match=r"\(2, 10\)"):
            decode(np.zeros((2, 10)))
