"""Saving of ``layerwise.ops`` functions (Keras' serialized form, Keras cross-load), seeded autoencoder
noise layers, atomic writes and errors for damaged files."""
import os
import warnings

import numpy as np
import pytest
import torch

import layerwise
from layerwise import activations, layers, ops
from layerwise.autoencoders import MaskingNoise, SaltAndPepperNoise, corruption_layer
from layerwise.saving import deserialize_keras_object, load_model, serialize_keras_object

X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def _lambda_model(fn):
    return layerwise.models.Sequential([layers.Input((3,)), layers.Lambda(fn), layers.Dense(2)])


@pytest.mark.parametrize("ext", [".keras", ".lw"])
@pytest.mark.parametrize("fn", [ops.relu, ops.abs, ops.square, ops.gelu])
def test_lambda_of_an_op_round_trips(tmp_path, fn, ext):
    model = _lambda_model(fn)
    path = str(tmp_path / f"m{ext}")
    model.save(path)
    loaded = load_model(path)
    assert loaded.layers[0].function is fn  # the op itself (ops.gelu is approximate, activations.gelu not)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_op_is_written_in_keras_form_keras_resolves(keras):
    from keras.src.saving import serialization_lib

    form = serialize_keras_object(ops.square)
    assert form == {"module": "keras", "class_name": "function", "config": "ops.square",
                    "registered_name": "function"}
    assert serialization_lib.deserialize_keras_object(form) is keras.ops.square
    assert deserialize_keras_object(form) is ops.square
    assert serialize_keras_object(ops.abs)["config"] in ("ops.abs", "ops.absolute")  # one function, two names
    assert serialize_keras_object(activations.relu)["config"] == "relu"  # built-in activations keep Keras' form


@pytest.mark.parametrize("fn, keras_name", [(ops.relu, "relu"), (ops.square, "square"), (ops.gelu, "gelu")])
def test_keras_loads_a_lambda_of_an_op(tmp_path, keras, fn, keras_name):
    model = _lambda_model(fn)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=False)
    assert loaded.layers[0].function is getattr(keras.ops, keras_name)
    np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), model.predict(X, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_dense_activation_op_round_trips(tmp_path):
    model = layerwise.models.Sequential([layers.Input((3,)), layers.Dense(2, activation=ops.gelu)])
    model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").layers[0].activation is ops.gelu


def test_unregistered_function_still_refused(tmp_path):
    def my_fn(x):
        return x * 2

    with pytest.raises(ValueError, match="register_keras_serializable"):
        _lambda_model(my_fn).save(tmp_path / "m.lw")


def test_unknown_op_path_is_not_found():
    with pytest.raises(ValueError, match="ops.no_such_op"):
        deserialize_keras_object({"module": "keras", "class_name": "function", "config": "ops.no_such_op"})


@pytest.mark.parametrize("cls", [MaskingNoise, SaltAndPepperNoise])
def test_noise_seed_reproducible(cls):
    x = torch.rand(8, 16)
    a, b, free = cls(0.5, seed=7), cls(0.5, seed=7), cls(0.5)
    for layer in (a, b, free):
        layer.train()
    first = a(x)
    assert torch.equal(first, b(x))  # same seed, same corruption
    assert not torch.equal(a(x), first)  # the generator moves on between calls
    assert not torch.equal(cls(0.5, seed=8).train()(x), first)
    rebuilt = cls.from_config(a.get_config())
    assert rebuilt.get_config()["seed"] == 7
    assert torch.equal(rebuilt.train()(x), first)
    assert torch.equal(a.eval()(x), x)  # inference passes inputs through


def test_noise_seed_checked_and_passed_by_corruption_layer():
    with pytest.raises(ValueError, match=r"MaskingNoise seed must be an int.*'a'"):
        MaskingNoise(0.1, seed="a")
    assert corruption_layer("salt_pepper", 0.2, seed=3).seed == 3
    assert corruption_layer("masking", 0.2, seed=3).seed == 3
    assert corruption_layer("gaussian", 0.2, seed=3).seed == 3


@pytest.mark.parametrize("name", ["m.keras", "m.lw", "w.weights.h5"])
def test_crash_mid_save_keeps_the_old_file(tmp_path, monkeypatch, name):
    model = _lambda_model(ops.relu)
    path = tmp_path / name
    save = model.save_weights if name.endswith(".weights.h5") else model.save
    save(path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    model.layers[1].set_weights([w + 1 for w in model.layers[1].get_weights()])
    with pytest.raises(OSError, match="disk full"):
        save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left behind


@pytest.mark.parametrize("name", ["m.keras", "w.weights.h5"])
def test_damaged_keras_files_name_the_file(tmp_path, name):
    model = _lambda_model(ops.relu)
    good = tmp_path / name
    (model.save_weights if name.endswith(".weights.h5") else model.save)(good)
    for damaged, data in (("trunc_" + name, good.read_bytes()[:300]), ("junk_" + name, b"not a file" * 20)):
        path = tmp_path / damaged
        path.write_bytes(data)
        with pytest.raises(ValueError, match="truncated or corrupt") as err:
            _lambda_model(ops.relu).load_weights(str(path))
        assert str(path) in str(err.value)


def test_read_only_arrays_from_save_own_variables_save_without_warning(tmp_path):
    class Frozen(layers.Layer):
        def save_own_variables(self, store):
            array = np.arange(3.0)
            array.setflags(write=False)
            store["a"] = array

        def load_own_variables(self, store):
            self.loaded = np.asarray(store["a"])

    model = layerwise.models.Sequential([layers.Input((3,)), Frozen(), layers.Dense(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.save_weights(tmp_path / "w.lw")
    model.load_weights(tmp_path / "w.lw")
    np.testing.assert_array_equal(model.layers[0].loaded, np.arange(3.0))


def test_every_public_op_has_a_path_keras_resolves(keras):
    import inspect

    from keras.src.api_export import get_symbol_from_name

    for name in ops.__all__:
        fn = getattr(ops, name)
        if not inspect.isroutine(fn):
            continue
        form = serialize_keras_object(fn)
        assert deserialize_keras_object(form) is fn, name
        assert get_symbol_from_name("keras." + form["config"]) is not None, form


@pytest.mark.parametrize("ext", [".keras", ".lw"])
def test_a_loaded_compiled_model_has_its_optimizer_built_as_keras(tmp_path, keras, ext):
    """Keras builds the optimizer when it compiles a loaded model, so its variables and the summary's "Optimizer
    params" exist before any training."""
    counts = []
    for lib, suffix in ((keras, ".keras"), (layerwise, ext)):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        model.save(tmp_path / f"{lib.__name__}{suffix}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras: "Skipping variable loading for optimizer" (none were saved)
            loaded = lib.models.load_model(tmp_path / f"{lib.__name__}{suffix}")
        counts.append((loaded.optimizer.built, len(loaded.optimizer.variables)))
        loaded.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0)
        assert int(loaded.optimizer.iterations) == 1
    assert counts[0] == counts[1] == (True, 6)  # iterations, learning rate, two moments per weight
