"""Saving and loading, against Keras 3.15 (torch backend), continued: ``serialize_keras_object`` of models,
optimizers, schedules, dtype policies and NumPy values; a Keras layer without ``__init__``; the file names Keras
gives its own formats; a missing file; ``zipped``, ``max_shard_size`` and models not built yet."""
from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest

import layerwise as lw

RNG = np.random.default_rng(1)
X = RNG.random((8, 3)).astype("float32")


# ---- serialize_keras_object / deserialize_keras_object on Keras' common objects ------------------------------
def _sequential(lib):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)], name="seq")


def _functional(lib):
    inputs = lib.Input((3,))
    return lib.Model(inputs, lib.layers.Dense(2)(inputs), name="fn")


@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_models_serialize_in_keras_form_both_ways(keras, build):
    ours = build(lw)
    # once: "Cannot save the custom function Sequential(...)"
    written = json.loads(json.dumps(lw.saving.serialize_keras_object(ours)))
    by_keras = keras.saving.deserialize_keras_object(json.loads(json.dumps(written)))  # which changes its argument
    by_us = lw.saving.deserialize_keras_object(written)
    assert type(by_us) is type(ours) and by_us.count_params() == ours.count_params() == by_keras.count_params()
    theirs = lw.saving.deserialize_keras_object(keras.saving.serialize_keras_object(build(keras)))
    assert theirs.count_params() == ours.count_params()  # once: "'keras' is no kind of object layerwise saves"


def test_keras_optimizers_and_schedules_deserialize_and_ours_serialize(keras):
    adam = lw.saving.deserialize_keras_object(keras.saving.serialize_keras_object(keras.optimizers.Adam(0.02)))
    assert isinstance(adam, lw.optimizers.Adam) and adam.learning_rate == pytest.approx(0.02)  # once "Unknown 'Adam'"
    keras_decay = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    ours = lw.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    written = lw.saving.serialize_keras_object(ours)  # once: "Cannot save the custom function"
    assert written == keras.saving.serialize_keras_object(keras_decay)
    again = lw.saving.deserialize_keras_object(keras.saving.serialize_keras_object(keras_decay))
    assert isinstance(again, lw.optimizers.schedules.ExponentialDecay) and again.get_config() == ours.get_config()
    assert keras.saving.deserialize_keras_object(written).get_config() == keras_decay.get_config()


def test_numpy_values_and_dtype_policies_serialize_as_keras_does(keras):
    for value in (np.arange(3), np.float32(1.5), np.array([[1.0, 2.0]], "float32"), np.int64(3)):
        written = lw.saving.serialize_keras_object(value)  # once a TypeError
        assert written == keras.saving.serialize_keras_object(value)
        np.testing.assert_array_equal(lw.saving.deserialize_keras_object(written), value)
    policy = lw.dtype_policies.DTypePolicy("mixed_float16")
    written = lw.saving.serialize_keras_object(policy)
    assert written == keras.saving.serialize_keras_object(keras.DTypePolicy("mixed_float16"))
    assert lw.saving.deserialize_keras_object(written).name == "mixed_float16"
    assert keras.saving.deserialize_keras_object(written).name == "mixed_float16"


def test_unknown_kinds_are_still_named():
    with pytest.raises(ValueError, match="'layerwise.nope' is no kind of object"):
        lw.saving.deserialize_keras_object({"module": "layerwise.nope", "class_name": "X", "config": {}})
    with pytest.raises(ValueError, match="Could not locate function 'nowhere'"):
        lw.saving.deserialize_keras_object({"module": "builtins", "class_name": "function", "config": "nowhere",
                                            "registered_name": "function"})


# ---- a Keras layer without __init__ (needs layers/base.py to take Keras' autocast argument) -------------------
def test_keras_layer_without_init_loads_with_custom_objects(keras, tmp_path):
    class NoInit(keras.layers.Layer):
        def call(self, x):
            return x * 3

    class OurNoInit(lw.layers.Layer):
        def call(self, x):
            return x * 3

    theirs = keras.Sequential([keras.Input((3,)), NoInit(), keras.layers.Dense(1)])
    theirs.save(tmp_path / "k.keras")
    ours = lw.models.load_model(tmp_path / "k.keras", custom_objects={"NoInit": OurNoInit})
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-6)


# ---- Keras' file names ----------------------------------------------------------------------------------------
def _model():
    model = lw.Sequential([lw.Input((3,)), lw.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


@pytest.mark.parametrize("name", ["w.h5", "w.hdf5", "w.keras", "w.weights.json"])
def test_save_weights_refuses_keras_names_of_other_formats(tmp_path, name):
    with pytest.raises(ValueError, match=r"The filename must end in `\.weights\.h5`\. Received: filepath=.*" + name):
        _model().save_weights(tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["m.h5", "m.hdf5", "m.weights.h5"])
def test_save_refuses_keras_legacy_hdf5_names(tmp_path, name):
    with pytest.raises(ValueError, match=r"legacy HDF5 model format.*\.keras.*\.lw"):
        _model().save(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_model_checkpoint_refuses_those_names_before_training(tmp_path):
    with pytest.raises(ValueError, match="save_weights_only=True.*must end in `.weights.h5`.*w-{epoch}.keras"):
        lw.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="ModelCheckpoint: .*legacy HDF5"):
        lw.callbacks.ModelCheckpoint(tmp_path / "m.h5")


def test_layerwise_and_keras_names_still_save(keras, tmp_path):
    model = _model()
    model.fit(X, X[:, :1], verbose=0)
    for name in ("w.lw", "w", "w.weights.h5"):
        model.save_weights(tmp_path / name)
        fresh = _model()
        fresh.load_weights(tmp_path / name)
        np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])
    for name in ("m.lw", "m.keras"):
        model.save(tmp_path / name)
        np.testing.assert_array_equal(lw.models.load_model(tmp_path / name).get_weights()[0],
                                      model.get_weights()[0])
    callbacks = [lw.callbacks.ModelCheckpoint(tmp_path / "c.weights.h5", save_weights_only=True),
                 lw.callbacks.ModelCheckpoint(tmp_path / "c.lw")]
    model.fit(X, X[:, :1], verbose=0, callbacks=callbacks)
    assert (tmp_path / "c.weights.h5").exists() and (tmp_path / "c.lw").exists()


# ---- a missing file ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [ValueError, FileNotFoundError])
def test_a_missing_file_raises_what_keras_and_python_code_catch(tmp_path, error):
    with pytest.raises(error, match=r"File not found: filepath=.*nope\.keras"):  # once only FileNotFoundError
        lw.models.load_model(tmp_path / "nope.keras")
    with pytest.raises(error, match="File not found"):
        _model().load_weights(tmp_path / "nope.lw")


# ---- zipped, max_shard_size and models not built yet ----------------------------------------------------------
def test_keras_saving_arguments_are_taken(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras", zipped=True)  # once a TypeError
    assert zipfile.is_zipfile(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.weights.h5", max_shard_size=None)
    with pytest.raises(ValueError, match="zipped=False.*unzipped"):
        model.save(tmp_path / "folder.keras", zipped=False)
    with pytest.raises(ValueError, match="max_shard_size=1.*shards"):
        model.save_weights(tmp_path / "w.weights.json", max_shard_size=1)


@pytest.mark.parametrize("name", ["m.keras", "m.lw"])
def test_a_model_not_built_yet_saves_and_reloads_unbuilt(keras, tmp_path, name):
    model = lw.Sequential([lw.layers.Dense(3), lw.layers.Dense(1)])
    model.compile("adam", "mse")
    with pytest.warns(UserWarning, match="not yet been built"):
        model.save(tmp_path / name)  # once: "is not built yet; build it (or fit it) before saving"
    loaded = lw.models.load_model(tmp_path / name)
    assert not loaded.built and [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dense"]
    loaded.fit(X, X[:, :1], verbose=0)
    assert loaded.predict(X, verbose=0).shape == (8, 1)
    if name.endswith(".keras"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.filterwarnings("ignore", message=".*__array__")
            theirs = keras.models.load_model(tmp_path / name)
        assert not theirs.built


def test_keras_unbuilt_archive_loads_unbuilt(keras, tmp_path):
    theirs = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(1)])
    theirs.compile("adam", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.save(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*__array__")
        ours = lw.models.load_model(tmp_path / "k.keras")
    assert not ours.built and isinstance(ours.optimizer, lw.optimizers.Adam)
