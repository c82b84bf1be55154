"""``saving.KerasFileEditor`` against Keras 3.15's own editor: the same weights tree, comparisons and edits on files
Keras and layerwise write, edited files both load, and Keras' errors for bad input."""
from __future__ import annotations

import os
import re
import stat
import zipfile

import h5py
import numpy as np
import pytest

import layerwise
from layerwise.saving import KerasFileEditor

RNG = np.random.default_rng(0)


def _mlp(lib, units=(3, 3), compiled=False):
    """Input(4) -> Dense -> Dropout -> Dense, the same in Keras and layerwise."""
    L = lib.layers
    model = lib.Sequential([lib.Input((4,)), L.Dense(units[0]), L.Dropout(0.1), L.Dense(units[1])])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model


def _pair(keras, units=(3, 3), compiled=False):
    """A Keras model and a layerwise one holding the same weights."""
    k_model, l_model = _mlp(keras, units, compiled), _mlp(layerwise, units, compiled)
    l_model.set_weights(k_model.get_weights())
    return k_model, l_model


def _keras_editor(path):
    from keras.src.saving.file_editor import KerasFileEditor as Editor
    return Editor(str(path))


def _structure(tree):
    return {key: _structure(value) if isinstance(value, dict) else np.shape(value) for key, value in tree.items()}


def _assert_same_tree(ours, theirs):
    assert _structure(ours) == _structure(theirs)
    for key, value in ours.items():
        if isinstance(value, dict):
            _assert_same_tree(value, theirs[key])
        else:
            np.testing.assert_allclose(value, theirs[key], err_msg=key)


def _saved(keras, tmp_path, ext, compiled=True):
    """The same model saved by Keras and by layerwise: {"keras": path, "layerwise": path}."""
    k_model, l_model = _pair(keras, compiled=compiled)
    paths = {}
    for name, model in (("keras", k_model), ("layerwise", l_model)):
        paths[name] = tmp_path / f"{name}{ext}"
        (model.save if ext == ".keras" else model.save_weights)(paths[name])
    return paths


@pytest.mark.parametrize("ext", [".keras", ".weights.h5"])
def test_weights_dict_matches_keras_editor_on_both_writers_files(keras, tmp_path, ext):
    paths = _saved(keras, tmp_path, ext)
    reference = _keras_editor(paths["keras"])
    assert set(reference.weights_dict) == {"layers", "optimizer"}  # the oracle itself saw the optimizer
    for path in paths.values():
        ours, theirs = KerasFileEditor(path), _keras_editor(path)
        _assert_same_tree(ours.weights_dict, theirs.weights_dict)
        _assert_same_tree(ours.weights_dict, reference.weights_dict)
        assert ours.filepath == path
        if ext == ".keras":
            assert ours.config == theirs.config and ours.metadata["keras_version"] == theirs.metadata["keras_version"]
        else:
            assert ours.config is None and ours.metadata is None
    assert KerasFileEditor(paths["keras"]).object_metadata == reference.object_metadata  # {"/layers/dense": ...}


def _mismatch_lines(text):
    return sorted(line.strip() for line in text.splitlines() if line.startswith("...") or "shape=" in line)


@pytest.mark.parametrize("units, errors", [((3, 3), 0), ((3, 5), 2), ((6, 3), 3)])
def test_compare_reports_what_keras_reports(keras, tmp_path, capsys, units, errors):
    path = _saved(keras, tmp_path, ".weights.h5", compiled=False)["keras"]
    k_model, l_model = _pair(keras, units)
    capsys.readouterr()
    theirs = _keras_editor(path).compare(k_model)
    their_lines = _mismatch_lines(capsys.readouterr().out)
    ours = KerasFileEditor(path).compare(l_model)
    assert _mismatch_lines(capsys.readouterr().out) == their_lines
    assert ours == {"status": "success" if errors == 0 else "error", "error_count": errors, "match_count": 4 - errors}
    assert ours["status"] == theirs["status"]
    assert len([line for line in their_lines if line.startswith("...")]) == errors
    if units != (6, 3):  # Keras counts an error found before a later sibling object twice
        assert ours["error_count"] == theirs["error_count"]


def test_compare_counts_the_optimizer_and_missing_objects(keras, tmp_path):
    paths = _saved(keras, tmp_path, ".keras")
    k_model, l_model = _pair(keras, compiled=True)
    for path in paths.values():
        assert KerasFileEditor(path).compare(l_model) == {"status": "success", "error_count": 0, "match_count": 6}
        assert _keras_editor(path).compare(k_model)["status"] == "success"
    editor, theirs = KerasFileEditor(paths["layerwise"]), _keras_editor(paths["layerwise"])
    for each in (editor, theirs):
        each.delete_object("layers/dense_1")
        each.add_object("layers/extra", {"0": np.zeros((2, 2))})
    assert editor.compare(l_model) == {"status": "error", "error_count": 2, "match_count": 4}
    assert theirs.compare(k_model)["status"] == "error"
    uncompiled = _mlp(layerwise)  # no optimizer: the file's "optimizer" object is extra
    assert editor.compare(uncompiled)["error_count"] == 3
    with pytest.raises(TypeError, match="reference_model must be a layerwise model"):
        editor.compare(k_model)


def _edit(editor):
    """Keras' own test's edits: turn a two-Dense file into one for three Dense layers."""
    editor.add_object("layers/dense_3", weights={"0": np.full((3, 3), 0.5, "float32")})
    editor.rename_object("dense_3", "dense_4")
    editor.rename_object("layers/dense_4", "dense_2")
    editor.add_weights("dense_2", weights={"1": np.arange(3, dtype="float32")})
    editor.add_object("layers/dense_5", weights={"0": np.zeros((1,))})
    editor.delete_object("layers/dense_5")
    editor.add_weights("dense_1", {"2": np.zeros((7,))})
    editor.delete_weight("dense_1", "2")


def _three_dense(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.Dense(3), lib.layers.Dense(3)])


@pytest.mark.parametrize("writer", ["keras", "layerwise"])
def test_edits_save_a_file_keras_and_layerwise_load(keras, tmp_path, writer):
    path = _saved(keras, tmp_path, ".keras", compiled=False)[writer]
    ours, theirs = KerasFileEditor(path), _keras_editor(path)
    _edit(ours)
    _edit(theirs)
    _assert_same_tree(ours.weights_dict, theirs.weights_dict)
    k_target, l_target = _three_dense(keras), _three_dense(layerwise)
    assert ours.compare(l_target) == {"status": "success", "error_count": 0, "match_count": 6}
    assert theirs.compare(k_target)["status"] == "success"
    ours.save(tmp_path / "ours.weights.h5")
    theirs.save(str(tmp_path / "theirs.weights.h5"))
    _assert_same_tree(KerasFileEditor(tmp_path / "ours.weights.h5").weights_dict,
                      _keras_editor(tmp_path / "theirs.weights.h5").weights_dict)
    x = RNG.random((5, 4)).astype("float32")
    k_target.load_weights(tmp_path / "ours.weights.h5")
    l_target.load_weights(tmp_path / "ours.weights.h5")
    expected = x @ ours.weights_dict["layers"]["dense"]["0"] + ours.weights_dict["layers"]["dense"]["1"]
    for name in ("dense_1", "dense_2"):
        expected = expected @ ours.weights_dict["layers"][name]["0"] + ours.weights_dict["layers"][name]["1"]
    np.testing.assert_allclose(k_target.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(l_target.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.resave_weights(tmp_path / "again.weights.h5")
    _assert_same_tree(KerasFileEditor(tmp_path / "again.weights.h5").weights_dict, ours.weights_dict)


def test_sublayers_of_an_object_without_own_weights_are_kept(keras, tmp_path):
    # Keras' editor drops an LSTM's cell (its group holds an empty "vars"); Keras' own spec of the model has it.
    from keras.src.saving.file_editor import get_weight_spec_of_saveable

    def build(lib):
        return lib.Sequential([lib.Input((3, 4)), lib.layers.LSTM(2), lib.layers.Dense(1)])

    k_model, l_model = build(keras), build(layerwise)
    l_model.set_weights(k_model.get_weights())
    k_model.save_weights(tmp_path / "keras.weights.h5")
    l_model.save_weights(tmp_path / "layerwise.weights.h5")
    spec = {}
    get_weight_spec_of_saveable(k_model, spec)
    x = RNG.random((2, 3, 4)).astype("float32")
    for writer in ("keras", "layerwise"):
        editor = KerasFileEditor(tmp_path / f"{writer}.weights.h5")
        assert _structure(editor.weights_dict) == _structure(spec)
        assert editor.compare(l_model)["match_count"] == 5
        editor.save(tmp_path / "resaved.weights.h5")
        fresh_keras, fresh_layerwise = build(keras), build(layerwise)
        fresh_keras.load_weights(tmp_path / "resaved.weights.h5")
        fresh_layerwise.load_weights(tmp_path / "resaved.weights.h5")
        expected = k_model.predict(x, verbose=0)
        np.testing.assert_allclose(fresh_keras.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fresh_layerwise.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def _net(lib):
    """A subclassed model with a weight of its own and a layer that has its own weight beside a Dense."""
    class Block(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = lib.layers.Dense(2)

        def build(self, shape):
            self.scale = self.add_weight(shape=(2,), initializer="random_normal")
            self.inner.build(shape)

        def call(self, x):
            return self.inner(x) * self.scale

    class Net(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block()

        def build(self, shape):
            self.bias = self.add_weight(shape=(2,), initializer="random_normal")
            self.block.build(shape)

        def call(self, x):
            return self.block(x) + self.bias

    model = Net()
    model(np.ones((1, 3), "float32"))
    return model


def test_own_weights_beside_sublayers_are_kept(keras, tmp_path):
    # Keras' editor drops block/inner (block has weights of its own) and resaves the model's own as vars/vars.
    from keras.src.saving.file_editor import get_weight_spec_of_saveable

    k_model, l_model = _net(keras), _net(layerwise)
    k_model.save_weights(tmp_path / "net.weights.h5")
    spec = {}
    get_weight_spec_of_saveable(k_model, spec)
    editor = KerasFileEditor(tmp_path / "net.weights.h5")
    assert _structure(editor.weights_dict) == _structure(spec) == {"0": (2,), "block": {"0": (2,), "inner": {
        "0": (3, 2), "1": (2,)}}}
    assert editor.compare(l_model) == {"status": "success", "error_count": 0, "match_count": 4}
    editor.save(tmp_path / "resaved.weights.h5")
    x = RNG.random((4, 3)).astype("float32")
    fresh = _net(keras)
    fresh.load_weights(tmp_path / "resaved.weights.h5")
    l_model.load_weights(tmp_path / "resaved.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fresh(x)), keras.ops.convert_to_numpy(k_model(x)),
                               rtol=1e-6)
    np.testing.assert_allclose(l_model.predict(x, verbose=0), keras.ops.convert_to_numpy(k_model(x)), rtol=1e-5,
                               atol=1e-6)


def test_summary_prints_each_weight(keras, tmp_path, capsys):
    path = _saved(keras, tmp_path, ".keras")["keras"]
    editor = KerasFileEditor(path)
    assert f"Keras model file '{path}'" in capsys.readouterr().out
    editor.summary()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Weights structure"
    assert sum("shape=" in line for line in lines) == 6
    assert any(re.search(r"─ dense \('dense(_\d+)?'\)$", line) for line in lines)  # the name Keras records
    assert any(line.endswith("0: shape=(4, 3), dtype=float32") for line in lines)
    editor.weights_summary()
    assert capsys.readouterr().out.splitlines() == lines


def test_a_name_found_once_is_edited_beside_other_objects(keras, tmp_path):
    path = _saved(keras, tmp_path, ".keras")["layerwise"]  # "layers" and "optimizer" objects
    editor = KerasFileEditor(path)
    editor.rename_object("dense", "first")  # Keras 3.15 counts 'dense' twice here and refuses
    assert list(editor.weights_dict["layers"]) == ["dense_1", "first"]
    editor.rename_object("first", "first")
    assert "first" in editor.weights_dict["layers"]
    with pytest.raises(ValueError, match="'dense_1' already exists next to 'first'"):
        editor.rename_object("first", "dense_1")
    with pytest.raises(ValueError, match="'layers/first/0' is a weight"):
        editor.delete_weight("layers/first/0", "0")


def _keras_error(call):
    with pytest.raises(Exception) as info:
        call()
    return info.type, str(info.value)


def test_edit_errors_are_keras_errors(keras, tmp_path):
    path = _saved(keras, tmp_path, ".weights.h5", compiled=False)["layerwise"]
    ours, theirs = KerasFileEditor(path), _keras_editor(path)
    calls = [lambda e: e.rename_object("nope", "x"), lambda e: e.delete_object("layers/nope"),
             lambda e: e.delete_object("nope"), lambda e: e.rename_object("dense", "layers/x"),
             lambda e: e.delete_weight("dense", "7"), lambda e: e.add_weights("dense", [1, 2]),
             lambda e: e.add_object("nothere/dense", {"0": np.zeros(1)}), lambda e: e.add_object("x", np.zeros(1)),
             lambda e: e.save(tmp_path / "out.h5")]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call(ours)
        assert (ValueError, str(info.value)) == _keras_error(lambda call=call: call(theirs))


def test_bad_files_are_named(keras, tmp_path):
    missing = tmp_path / "missing.keras"
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        KerasFileEditor(missing)
    with pytest.raises(FileNotFoundError, match="gone.weights.h5"):
        KerasFileEditor(tmp_path / "gone.weights.h5")
    assert _keras_error(lambda: KerasFileEditor(tmp_path / "m.h5")) == \
        _keras_error(lambda: _keras_editor(tmp_path / "m.h5"))
    (tmp_path / "bad.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="bad.keras.*corrupt"):
        KerasFileEditor(tmp_path / "bad.keras")
    (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bad.weights.h5.*corrupt"):
        KerasFileEditor(tmp_path / "bad.weights.h5")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(ValueError, match="empty.keras.*without model.weights.h5, metadata.json"):
        KerasFileEditor(tmp_path / "empty.keras")


def test_links_and_virtual_datasets_are_refused(tmp_path):
    target = tmp_path / "victim.weights.h5"
    with h5py.File(target, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.arange(5, dtype="float32"))
    cases = {"external": lambda f: f.__setitem__("layers", h5py.ExternalLink(str(target), "/layers")),
             "soft": lambda f: (f.create_dataset("real/vars/0", data=np.zeros(1)),
                                f.__setitem__("layers", h5py.SoftLink("/real")))}
    for name, make in cases.items():
        with h5py.File(tmp_path / f"{name}.weights.h5", "w") as f:
            make(f)
        with pytest.raises(ValueError, match="ExternalLink" if name == "external" else "SoftLink"):
            KerasFileEditor(tmp_path / f"{name}.weights.h5")
    with h5py.File(tmp_path / "virtual.weights.h5", "w") as f:
        layout = h5py.VirtualLayout(shape=(5,), dtype="float32")
        layout[:] = h5py.VirtualSource(str(target), "layers/dense/vars/0", shape=(5,))
        f.require_group("layers/dense/vars").create_virtual_dataset("0", layout)
    with pytest.raises(ValueError, match="virtual Dataset at /layers/dense/0"):
        KerasFileEditor(tmp_path / "virtual.weights.h5")


def test_save_is_atomic(keras, tmp_path):
    path = _saved(keras, tmp_path, ".weights.h5", compiled=False)["layerwise"]
    target = tmp_path / "edited.weights.h5"
    target.write_bytes(b"previous")
    os.chmod(target, 0o640)
    editor = KerasFileEditor(path)
    editor.weights_dict["layers"]["dense"]["2"] = {1, 2}  # not an array: h5py cannot store it
    with pytest.raises(TypeError):
        editor.save(target)
    assert target.read_bytes() == b"previous" and sorted(os.listdir(tmp_path)) == [
        "edited.weights.h5", "keras.weights.h5", "layerwise.weights.h5"]
    editor.delete_weight("layers/dense", "2")
    editor.save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640  # written over, as open(..., "wb") would
    _assert_same_tree(KerasFileEditor(target).weights_dict, editor.weights_dict)
