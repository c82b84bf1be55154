"""Model configs in Keras 3's form: ``InputLayer``, ``Sequential`` and functional ``get_config()`` give Keras'
structure, ``from_config`` / ``model_from_json`` / ``serialize_keras_object`` round-trip it both ways, and the
form earlier layerwise versions wrote (in their ``.lw`` files too) still loads."""
import json

import numpy as np
import pytest
from safetensors.torch import save as save_bytes

import layerwise
from layerwise import layers as L
from layerwise import ops, saving

X = np.random.default_rng(0).random((5, 4), dtype=np.float32)


def entry_keys(config: dict) -> list:
    """Each layer entry's keys (the layers' inner configs are each layer's own business)."""
    return [sorted(entry) for entry in config["layers"]]


def without_layer_configs(config: dict) -> dict:
    """``config`` (as JSON reads it) with each non-Input layer's inner config left out."""
    config = json.loads(json.dumps(config))
    for entry in config["layers"]:
        if entry["class_name"] != "InputLayer":
            entry.pop("config")
    return config


def sequential(lib):
    return lib.Sequential([lib.Input((4,), name="x"), lib.layers.Dense(3, name="d"), lib.layers.Dense(2, name="e")],
                          name="seq")


def functional(lib):
    """Two inputs and a nested functional model called twice (its second call an output)."""
    x = lib.Input((4,), name="x")
    inner = lib.Model(x, lib.layers.Dense(2, name="d")(x), name="inner")
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    first, second = inner(a), inner(b)
    return lib.Model([a, b], [lib.layers.Dense(3, name="e")(first), second], name="fun")


def test_input_layer_config_is_keras(keras):
    for kwargs in ({"shape": (3,)}, {"shape": (2, 3), "batch_size": 5, "dtype": "int32"}):
        theirs = keras.layers.InputLayer(name="i", **kwargs).get_config()
        ours = L.InputLayer(name="i", **kwargs).get_config()
        assert ours == theirs
        assert L.InputLayer.from_config(theirs).get_config() == theirs


def test_sequential_config_is_keras(keras):
    theirs, ours = sequential(keras).get_config(), sequential(layerwise).get_config()
    assert list(ours) == list(theirs) == ["name", "trainable", "dtype", "layers", "build_input_shape"]
    assert entry_keys(ours) == entry_keys(theirs)
    assert without_layer_configs(ours) == without_layer_configs(theirs)
    assert ours["build_input_shape"] == theirs["build_input_shape"] == (None, 4)
    unbuilt = layerwise.Sequential([L.Dense(2, name="d")]).get_config()
    assert "build_input_shape" not in unbuilt and entry_keys(unbuilt) == entry_keys(
        keras.Sequential([keras.layers.Dense(2, name="d")]).get_config())


def test_functional_config_is_keras(keras):
    theirs, ours = functional(keras).get_config(), functional(layerwise).get_config()
    assert list(ours) == list(theirs) == ["name", "trainable", "layers", "input_layers", "output_layers"]
    assert entry_keys(ours) == entry_keys(theirs)
    # inbound_nodes ({"args", "kwargs"} with __keras_tensor__ references), input_layers and output_layers (the nested
    # model's second call counted from 1, as Keras counts it), Input entries: all as Keras writes them. Keras alone
    # records mask=None for a nested model's call.
    for entry in theirs["layers"]:
        for node in entry["inbound_nodes"]:
            if node["kwargs"] == {"mask": None}:
                node["kwargs"] = {}
    assert without_layer_configs(ours) == without_layer_configs(theirs)
    assert ours["output_layers"] == [["e", 0, 0], ["inner", 2, 0]]


@pytest.mark.parametrize("make", [sequential, functional])
def test_to_json_and_serialize_keras_object_match_keras(keras, make):
    theirs, ours = make(keras), make(layerwise)
    k_json, l_json = json.loads(theirs.to_json()), json.loads(ours.to_json())
    assert {k: v for k, v in l_json.items() if k != "config"} == {k: v for k, v in k_json.items() if k != "config"}
    assert without_layer_configs(l_json["config"]) == without_layer_configs(ours.get_config())
    serialized = layerwise.saving.serialize_keras_object(ours)
    assert serialized["class_name"] == keras.saving.serialize_keras_object(theirs)["class_name"]


@pytest.mark.parametrize("make", [sequential, functional])
def test_configs_round_trip_in_both_libraries(keras, make):
    data = X if make is sequential else [X, X[::-1].copy()]
    ours, theirs = make(layerwise), make(keras)
    theirs.set_weights(ours.get_weights())
    expected = theirs.predict(data, verbose=0)
    cls = layerwise.Sequential if make is sequential else layerwise.Model
    copies = [cls.from_config(ours.get_config()), cls.from_config(theirs.get_config()),
              layerwise.models.model_from_json(ours.to_json()),
              layerwise.saving.deserialize_keras_object(layerwise.saving.serialize_keras_object(ours))]
    keras_cls = keras.Sequential if make is sequential else keras.Model
    keras_copies = [keras_cls.from_config(json.loads(json.dumps(ours.get_config()))),
                    keras.models.model_from_json(ours.to_json())]
    for copy in copies + keras_copies:
        assert [layer.name for layer in copy.layers] == [layer.name for layer in ours.layers]
        copy.set_weights(ours.get_weights())
        for got, want in zip(*(np.atleast_1d(v) if make is sequential else v
                               for v in (copy.predict(data, verbose=0), expected))):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


OLD_SEQUENTIAL = {"class_name": "Sequential", "config": {
    "name": "old_seq", "trainable": True, "input_shape": [None, 4],
    "layers": [{"class_name": "Dense", "config": {"units": 3, "name": "d"}},
               {"class_name": "Dense", "config": {"units": 2, "name": "e", "activation": "relu"}}]}}
OLD_FUNCTIONAL = {"class_name": "Functional", "config": {
    "name": "old_fun", "trainable": False,
    "layers": [{"class_name": "InputLayer", "config": {"shape": [4], "batch_size": None, "dtype": None, "name": "x"}},
               {"class_name": "Dense", "config": {"units": 3, "name": "d"}},
               {"class_name": "Dense", "config": {"units": 2, "name": "e"}}],
    "nodes": [{"layer": 0, "args": None, "kwargs": {"dict": {}}},
              {"layer": 1, "args": {"node": 0, "output": 0}, "kwargs": {"dict": {}}},
              {"layer": 2, "args": {"node": 1, "output": 0}, "kwargs": {"dict": {}}}],
    "inputs": {"node": 0, "output": 0}, "outputs": {"dict": {"out": {"node": 2, "output": 0}}}}}


def test_configs_and_files_in_the_earlier_layerwise_form_still_load(tmp_path):
    seq = layerwise.Sequential.from_config(OLD_SEQUENTIAL["config"])
    assert seq.name == "old_seq" and seq.output_shape == (None, 2) and [la.name for la in seq.layers] == ["d", "e"]
    fun = layerwise.Model.from_config(OLD_FUNCTIONAL["config"])
    assert fun.name == "old_fun" and not fun.trainable and fun.output_shape == (None, 2)
    assert fun.output_names == ["out"]
    # A .lw file an earlier version wrote holds that form; its weights load into the layers it describes.
    for old in (OLD_SEQUENTIAL, OLD_FUNCTIONAL):
        model = layerwise.models.model_from_json(json.dumps(old))
        model.save(tmp_path / "new.lw")
        tensors, metadata = saving.read_file(tmp_path / "new.lw", saving.MODEL_FORMAT)
        assert "layers" in json.loads(metadata["model_config"])["config"]
        (tmp_path / "old.lw").write_bytes(save_bytes(tensors, metadata={**metadata, "model_config": json.dumps(old)}))
        loaded = layerwise.models.load_model(tmp_path / "old.lw")
        got, want = loaded.predict(X, verbose=0), model.predict(X, verbose=0)
        if isinstance(want, dict):
            assert list(got) == list(want) == ["out"]
            got, want = got["out"], want["out"]
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert json.dumps(loaded.get_config()) == json.dumps(model.get_config()).replace(
            model.layers[0].input.name if old is OLD_SEQUENTIAL else "x", loaded.layers[0].input.name)


def test_operations_keras_cannot_name_stay_in_layerwise_form(tmp_path):
    x = layerwise.Input((4,), name="x")
    model = layerwise.Model(x, ops.mean(L.Dense(3, name="d")(x), axis=1), name="m")
    op = model.get_config()["layers"][-1]
    assert (op["module"], op["class_name"], op["config"]["op"]) == ("layerwise.layers.operations", "TensorOperation",
                                                                    "mean")
    for copy in (layerwise.Model.from_config(model.get_config()), layerwise.models.model_from_json(model.to_json()),
                 layerwise.models.clone_model(model)):
        copy.set_weights(model.get_weights())
        np.testing.assert_allclose(copy.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    with pytest.warns(UserWarning, match="written in layerwise's own format.*operation 'mean'"):  # Keras cannot
        model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "m.keras").predict(X, verbose=0),
                               model.predict(X, verbose=0), rtol=1e-6)


def test_clone_model_uses_the_keras_form():
    for model in (sequential(layerwise), functional(layerwise)):
        clone = layerwise.models.clone_model(model)
        assert clone.get_config() == model.get_config()
        shared = layerwise.models.clone_model(model, clone_function=lambda layer: layer)
        assert all(a is b for a, b in zip(shared.layers, model.layers) if not isinstance(a, L.InputLayer))
