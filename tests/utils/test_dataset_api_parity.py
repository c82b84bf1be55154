"""The datasets of Keras' utilities as keras-io examples use them: tf.data's common methods on the folder datasets
and on ``timeseries_dataset_from_array``'s windows, Keras 3.15's ``format`` argument, the bare batches of windows
without targets, and ``fit`` on a ``torch.utils.data.DataLoader`` whose batches are bare tensors (x, no y).

Keras' own datasets are ``tf.data.Dataset``\\ s and TensorFlow is not installed, so the windows are checked against
Keras' rule (``keras/src/utils/timeseries_dataset_utils.py``) and its docstring's examples, the signatures against
Keras' functions, and ``fit`` on a DataLoader against Keras itself."""
from __future__ import annotations

import inspect
import math
import wave

import numpy as np
import pytest
import torch
from PIL import Image

import layerwise
from layerwise.utils import (audio_dataset_from_directory, image_dataset_from_directory,
                             text_dataset_from_directory, timeseries_dataset_from_array)

COLOURS = {"cats": (200, 30, 30), "dogs": (30, 30, 200)}


@pytest.fixture
def folder(tmp_path):
    """root/<class>/ with 5 small solid-colour PNGs per class: 10 images."""
    for name, colour in COLOURS.items():
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.new("RGB", (6, 4), tuple(c + i for c in colour)).save(tmp_path / name / f"{i}.png")
    return str(tmp_path)


def images(folder, **kwargs):
    kwargs = {"image_size": (4, 6), "batch_size": 4, "verbose": False, **kwargs}
    return image_dataset_from_directory(folder, **kwargs)


def pixel_ids(x) -> list[int]:
    """Each image's identity: its red value (class colour + index)."""
    return [int(v) for v in np.asarray(x)[..., 0].reshape(len(x), -1)[:, 0]]


# ---- timeseries_dataset_from_array --------------------------------------------------------------------------

def test_windows_without_targets_are_bare_batches_as_keras_docstring_example_3():
    # "Example 3: Temporal regression for many-to-many architectures", as written in Keras' docstring.
    X = np.arange(100)
    Y = X * 2
    sample_length = 20
    input_dataset = timeseries_dataset_from_array(X, None, sequence_length=sample_length,
                                                  sequence_stride=sample_length)
    target_dataset = timeseries_dataset_from_array(Y, None, sequence_length=sample_length,
                                                   sequence_stride=sample_length)
    for batch in zip(input_dataset, target_dataset):
        inputs, targets = batch
        assert np.array_equal(inputs[0], X[:sample_length])
        assert np.array_equal(targets[1], Y[sample_length:2 * sample_length])
        assert inputs.shape == targets.shape == (5, sample_length)
        break
    else:
        raise AssertionError("no batch")


def test_batch_size_none_yields_single_windows_as_keras():
    # Keras: "If None, the data will not be batched (the dataset will yield individual samples)."
    data, targets = np.arange(10), np.arange(10) * 10
    windows = list(timeseries_dataset_from_array(data, None, sequence_length=3, batch_size=None))
    assert len(windows) == 8 and all(w.shape == (3,) for w in windows)
    np.testing.assert_array_equal(windows[2], [2, 3, 4])
    pairs = timeseries_dataset_from_array(data, targets, sequence_length=3, batch_size=None)
    assert len(pairs) == 8
    x, y = next(iter(pairs))
    np.testing.assert_array_equal(x, [0, 1, 2])
    assert y == 0
    x_all, y_all = pairs.as_arrays()  # unchanged: all windows at once
    assert x_all.shape == (8, 3) and y_all.shape == (8,)


def test_windows_take_map_and_fit():
    # The weather-forecasting example: `for batch in dataset_train.take(1): inputs, targets = batch`.
    series = np.sin(np.arange(60) / 4).astype("float32")[:, None]
    ds = timeseries_dataset_from_array(series, series[5:], sequence_length=5, batch_size=8)
    assert len(ds) == 7 and int(ds.cardinality()) == 7
    (inputs, targets), = list(ds.take(1))
    assert inputs.shape == (8, 5, 1) and targets.shape == (8, 1)
    doubled = ds.map(lambda x, y: (2 * x, y))
    np.testing.assert_array_equal(next(iter(doubled))[0], 2 * inputs)
    model = layerwise.Sequential([layerwise.Input((5, 1)), layerwise.layers.Flatten(), layerwise.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(ds.prefetch(2), epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


# ---- Keras 3.15's arguments: format ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["image_dataset_from_directory", "timeseries_dataset_from_array"])
def test_signature_matches_keras(keras, name):
    ours = inspect.signature(getattr(layerwise.utils, name)).parameters
    theirs = inspect.signature(getattr(keras.utils, name)).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


def test_format_tf_is_accepted_and_others_raise(folder):
    assert images(folder, format="tf").num_samples == 10
    assert len(timeseries_dataset_from_array(np.arange(10), None, 3, format="tf")) == 1
    for make in (lambda f: images(folder, format=f), lambda f: timeseries_dataset_from_array(np.arange(9), None, 3,
                                                                                               format=f)):
        with pytest.raises(ValueError, match="grain.*not supported"):
            make("grain")
        with pytest.raises(ValueError, match='`format` should be either "tf" or "grain"'):
            make("torch")


# ---- tf.data's methods on the folder datasets -----------------------------------------------------------------

def test_take_and_prefetch_as_the_examples_use_them(folder):
    ds = images(folder, shuffle=False)
    assert ds.prefetch(buffer_size=32) is ds  # nothing to load ahead: the images are in memory
    assert ds.prefetch(-1) is ds  # tf.data.AUTOTUNE
    batches = list(ds.take(1))  # `for images, labels in train_ds.take(1):`
    assert len(batches) == 1
    x, y = batches[0]
    assert tuple(x.shape) == (4, 4, 6, 3) and y.tolist() == [0, 0, 0, 0]
    assert len(ds.take(1)) == 1 and len(ds.take(10)) == len(ds.take(-1)) == 3
    assert [len(b[0]) for b in ds.skip(1)] == [4, 2] and len(ds.skip(5)) == 0 and list(ds.skip(-1)) == []
    # the class attributes stay on the loader's dataset; map keeps them (tf.data's derived datasets lose them)
    assert ds.map(lambda x, y: (x / 255.0, y), num_parallel_calls=-1).class_names == ["cats", "dogs"]


def test_cardinality_len_and_repeat(folder):
    ds = images(folder)
    assert int(ds.cardinality()) == len(ds) == 3 and ds.cardinality().numpy() == 3
    assert len(ds.repeat(2)) == 6 and sum(1 for _ in ds.repeat(2)) == 6
    endless = ds.repeat()
    assert int(endless.cardinality()) == -1  # tf.data.INFINITE_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(endless)
    assert len(endless.take(7)) == 7 and sum(1 for _ in endless.take(7)) == 7
    filtered = ds.filter(lambda x, y: y[0] == 0)
    assert int(filtered.cardinality()) == -2  # UNKNOWN
    with pytest.raises(TypeError, match="unknown"):
        len(filtered)
    assert list(ds.repeat(0)) == [] and list(images(folder).skip(3).repeat()) == []  # empty stays empty


def test_unbatch_batch_shuffle_and_as_numpy_iterator(folder):
    ds = images(folder, shuffle=False)
    samples = list(ds.unbatch())
    assert len(samples) == 10 and tuple(samples[0][0].shape) == (4, 6, 3) and samples[0][1].ndim == 0
    rebatched = ds.unbatch().batch(3)
    sizes = [len(x) for x, _ in rebatched]
    assert sizes == [3, 3, 3, 1] and [len(x) for x, _ in ds.unbatch().batch(3, drop_remainder=True)] == [3, 3, 3]
    assert int(ds.unbatch().cardinality()) == int(ds.unbatch().batch(3).cardinality()) == -2  # as tf.data
    x, y = next(iter(ds.unbatch().batch(10)))
    x0, _ = next(iter(images(folder, shuffle=False, batch_size=10)))
    torch.testing.assert_close(x, x0)
    assert y.tolist() == [0] * 5 + [1] * 5
    # shuffle: every sample once, in a new order each pass; the same order each pass without reshuffling
    order = [pixel_ids(x) for x, _ in ds.unbatch().batch(10).shuffle(3, seed=0)]
    shuffled = ds.unbatch().shuffle(10, seed=1).batch(10)
    first, second = (pixel_ids(next(iter(shuffled))[0]) for _ in range(2))
    assert sorted(first) == sorted(second) == sorted(order[0]) and first != second
    fixed = ds.unbatch().shuffle(10, seed=1, reshuffle_each_iteration=False).batch(10)
    assert pixel_ids(next(iter(fixed))[0]) == pixel_ids(next(iter(fixed))[0])
    arrays = list(ds.as_numpy_iterator())
    assert isinstance(arrays[0][0], np.ndarray) and arrays[0][0].shape == (4, 4, 6, 3)


def test_cache_replays_the_first_complete_pass(folder):
    ds = images(folder, seed=3).map(lambda x, y: (x + torch.rand(()), y))  # shuffled, random map
    cached = ds.cache()
    next(iter(cached))  # a pass not read to its end fills nothing
    first = [x.clone() for x, _ in cached]
    again = [x for x, _ in cached]
    assert len(first) == 3 and all(torch.equal(a, b) for a, b in zip(first, again))
    fresh = [x for x, _ in ds]
    assert not all(torch.equal(a, b) for a, b in zip(first, fresh))


def test_fit_takes_the_derived_datasets(folder):
    ds = images(folder).map(lambda x, y: (x / 255.0, y))
    model = layerwise.Sequential([layerwise.Input((4, 6, 3)), layerwise.layers.Flatten(),
                                  layerwise.layers.Dense(2)])
    model.compile("adam", layerwise.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds.take(2).cache().prefetch(1), epochs=2, validation_data=ds.skip(2), verbose=0).history
    assert len(history["loss"]) == 2
    history = model.fit(ds.unbatch().shuffle(10, seed=0).batch(5).repeat(), steps_per_epoch=2, epochs=2,
                        verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


def test_text_and_audio_datasets_take_too(tmp_path):
    for name in ("neg", "pos"):
        (tmp_path / "text" / name).mkdir(parents=True)
        (tmp_path / "audio" / name).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "text" / name / f"{i}.txt").write_text(f"{name} {i}")
            with wave.open(str(tmp_path / "audio" / name / f"{i}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(8000)
                f.writeframes((np.arange(20 + i, dtype="<i2") * 100).tobytes())
    texts = text_dataset_from_directory(tmp_path / "text", batch_size=4, shuffle=False, verbose=False)
    (x, y), = list(texts.take(1))  # the text-classification example: `for text_batch, label_batch in ds.take(1)`
    assert list(x) == ["neg 0", "neg 1", "neg 2", "pos 0"] and y.tolist() == [0, 0, 0, 1]
    assert int(texts.cardinality()) == 2 and texts.cache().prefetch(buffer_size=10) is not None
    assert [str(t) for t in texts.map(lambda x, y: x).unbatch().take(2)] == ["neg 0", "neg 1"]
    clips = audio_dataset_from_directory(tmp_path / "audio", batch_size=4, shuffle=False, verbose=False)
    (audio, labels), = list(clips.take(1))
    assert tuple(audio.shape) == (4, 22, 1) and labels.tolist() == [0, 0, 0, 1]  # padded to the batch's longest
    assert [tuple(a.shape) for a, _ in clips.unbatch().take(2)] == [(22, 1), (22, 1)]
    assert math.isclose(float(audio[0, 1, 0]), 100 / 32768)


def test_method_arguments_are_checked(folder):
    ds = images(folder)
    for call, match in [(lambda: ds.take(1.5), "take: count"), (lambda: ds.batch(0), "batch_size must be positive"),
                        (lambda: ds.shuffle(0), "buffer_size must be positive"),
                        (lambda: list(ds.map(lambda x, y: y.sum()).unbatch()), "scalar"),
                        (lambda: list(ds.unbatch().map(lambda x, y: x[:, :1 + int(y)]).batch(2)), "different shapes")]:
        with pytest.raises(ValueError, match=match):
            call()


# ---- fit on a DataLoader of bare tensors ----------------------------------------------------------------------

def reconstruction_model(lib):
    """A model whose loss is an ``add_loss``: it trains on x alone."""
    class Reconstruction(lib.layers.Layer):
        def call(self, inputs, outputs):
            self.add_loss(lib.ops.mean((inputs - outputs) ** 2))
            return outputs

    inputs = lib.Input((4,))
    outputs = lib.layers.Dense(4)(lib.layers.Dense(3)(inputs))
    return lib.Model(inputs, Reconstruction()(inputs, outputs))


def test_fit_evaluate_predict_a_dataloader_of_bare_tensors_as_keras(keras):
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(10, 4)).astype("float32"))
    results, weights = [], None
    for lib in (keras, layerwise):
        model = reconstruction_model(lib)
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer="sgd")
        loader = torch.utils.data.DataLoader(x, batch_size=4)  # each batch: a bare (4, 4) tensor
        history = model.fit(loader, epochs=2, verbose=0).history
        results.append((history["loss"], model.evaluate(loader, verbose=0), model.predict(loader, verbose=0)))
    (loss, evaluated, predicted), (k_loss, k_evaluated, k_predicted) = results[1], results[0]
    np.testing.assert_allclose(loss, k_loss, rtol=1e-5)
    assert loss[1] < loss[0]
    assert evaluated == pytest.approx(k_evaluated, rel=1e-5)
    np.testing.assert_allclose(predicted, k_predicted, rtol=1e-5, atol=1e-6)


def test_a_custom_train_step_gets_the_bare_batch_as_keras(keras):
    x = torch.ones(6, 4)
    seen = {}
    for lib in (keras, layerwise):
        class Model(lib.Model):
            def train_step(self, data, name=lib.__name__, ops=lib.ops):
                seen.setdefault(name, type(data))
                return {"n": ops.sum(data)}

        inputs = lib.Input((4,))
        model = Model(inputs, lib.layers.Dense(1)(inputs))
        model.compile(optimizer="sgd")
        model.fit(torch.utils.data.DataLoader(x, batch_size=3), epochs=1, verbose=0)
    assert seen == {"keras": torch.Tensor, "layerwise": torch.Tensor}


def test_a_compiled_loss_without_targets_and_malformed_batches_raise():
    x = torch.ones(6, 4)
    model = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="needs targets"):
        model.fit(torch.utils.data.DataLoader(x, batch_size=3), epochs=1, verbose=0)
    for batch, got in [((x[:3], x[:3, :1], None, None), "a tuple of 4 items"), ((), "a tuple of 0 items"),
                       ("abc", "got str"), (5, "got int")]:
        with pytest.raises(ValueError, match=rf"Batch 0 of the dataset must be x .*{got}"):
            model.fit(_Batches(batch), epochs=1, verbose=0)


class _Batches:
    """A re-iterable dataset of one given item."""

    def __init__(self, item):
        self.item = item

    def __iter__(self):
        return iter([self.item])
