"""Damaged files are reported by their path and part, never loaded with wrong weights; saves over a read-only file or
into a read-only folder are refused naming the target (found by fuzzing corrupt files)."""
import json
import os
import tempfile
import zipfile

import numpy as np
import pytest
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

import layerwise as keras
from layerwise import layers as L


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    net.compile("adam", "mse")
    net.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), verbose=0)
    return net


def rewrite_member(path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            archive.writestr(name, value)


@pytest.mark.parametrize("member, data, message", [
    ("config.json", b'{"class_name": "Sequen', "its config.json is not valid JSON"),
    ("config.json", b"null", "its config.json holds a NoneType, not a JSON object"),
    ("metadata.json", b'{"keras_', "its metadata.json is not valid JSON"),
    ("metadata.json", b"[]", "its metadata.json holds a list"),
    ("model.weights.h5", b"garbage" * 20, "truncated or corrupt, or not an HDF5 file"),
])
def test_a_keras_archive_with_a_damaged_member_names_the_file_and_member(tmp_path, model, member, data, message):
    # They raised a bare JSONDecodeError, AttributeError or OSError that named neither.
    path = tmp_path / "bad.keras"
    model.save(path)
    rewrite_member(path, member, data)
    with pytest.raises(ValueError, match=rf"bad\.keras.*{message}"):
        keras.load_model(path)


def edit_header(path, **changes) -> None:
    """Rewrite a layerwise file's metadata (its tensors, and so their checksum, unchanged)."""
    data = path.read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    header.update(changes)
    path.write_bytes(save_bytes(load_bytes(data), metadata={k: v for k, v in header.items() if v is not None}))


@pytest.mark.parametrize("changes, message", [
    ({"model_config": '{"class_name": "Seq'}, "its model_config is not valid JSON"),
    ({"model_config": None}, "its header has no model_config"),
    ({"compile_config": '{"optim'}, "its compile_config is not valid JSON"),
])
def test_a_layerwise_file_with_a_damaged_header_names_the_file(tmp_path, model, changes, message):
    path = tmp_path / "bad.lw"
    model.save(path)
    edit_header(path, **changes)
    with pytest.raises(ValueError, match=rf"bad\.lw.*{message}"):
        keras.load_model(path)


@pytest.mark.parametrize("name", ["m.lw", "w.weights.lw"])
def test_changed_tensor_bytes_are_reported_not_loaded(tmp_path, model, name):
    # safetensors checks shapes, not values: a flipped byte loaded wrong weights silently (predictions off by 1e37).
    path = tmp_path / name
    model.save(path) if name == "m.lw" else model.save_weights(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{name}.*do not match the checksum"):
        keras.load_model(path) if name == "m.lw" else model.load_weights(path)


def test_a_file_written_before_checksums_still_loads(tmp_path, model):
    path = tmp_path / "old.lw"
    model.save(path)
    edit_header(path, tensors_crc32=None)
    np.testing.assert_array_equal(keras.load_model(path).predict(np.ones((2, 4)), verbose=0),
                                  model.predict(np.ones((2, 4)), verbose=0))


@pytest.mark.parametrize("version", ["2", "x"])
def test_a_file_of_an_unknown_format_version_is_refused_naming_it(tmp_path, model, version):
    # It loaded silently, as if a later layout were this one's.
    path = tmp_path / "future.lw"
    model.save(path)
    edit_header(path, version=version)
    with pytest.raises(ValueError, match=rf"future\.lw.*version {version}.*upgrade layerwise"):
        keras.load_model(path)


def test_weights_of_other_shapes_are_refused_naming_the_file_the_weight_and_both_shapes(tmp_path, model):
    path = tmp_path / "w.weights.lw"
    model.save_weights(path)
    # Tensors are kept in PyTorch's layout (out, in) in these files.
    wider = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu"), L.Dense(2)])
    with pytest.raises(ValueError, match=r"w\.weights\.lw.*'weights/0/kernel' has shape \(3, 4\) in the file, "
                                         r"the model's is \(5, 4\)"):
        wider.load_weights(path)
    deeper = keras.Sequential([keras.Input((4,)), L.Dense(3), L.Dense(2), L.Dense(2)])
    with pytest.raises(ValueError, match=r"w\.weights\.lw.*has no weight 'weights/2/kernel'"):
        deeper.load_weights(path)


def test_saving_over_a_read_only_file_is_refused_and_keeps_it(tmp_path, model, monkeypatch):
    # The rename replaced a read-only file that open(path, "wb") (Keras' way) refuses. Root may write anything, so
    # the permission is simulated.
    path = tmp_path / "frozen.keras"
    model.save(path)
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(path) else real_access(p, mode))
    with pytest.raises(PermissionError, match=r"frozen\.keras: the file is read-only"):
        model.save(path)
    assert path.read_bytes() == before


def test_saving_into_a_read_only_folder_names_the_target_not_the_temporary_file(tmp_path, model, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".tmp-abc123m.keras"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"Cannot write .*m\.keras: its folder .* is read-only") as caught:
        model.save(tmp_path / "m.keras")
    assert ".tmp-" not in str(caught.value)
    assert not list(tmp_path.iterdir())
