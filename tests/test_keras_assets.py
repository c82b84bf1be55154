"""The ``assets/`` of ``.keras`` archives: what layers write in ``save_assets`` travels in the archive at Keras'
path and comes back through ``load_assets``; an adapted ``IntegerLookup`` saved by Keras (its vocabulary in the
assets, none in the config) loads with its vocabulary. Keras' lookup layers need TensorFlow, so Keras' form of such
a file is made by rewriting one layerwise wrote as Keras 3.15 writes it."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import layerwise
from layerwise import layers as L

DATA = np.array([[1, 1, 2], [3, 3, 3], [2, 4, 0]])
X = np.array([[3, 9, 0], [4, 1, 2]])


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path, contents: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def adapted_lookup_model(output_mode: str):
    ids = L.Input(shape=(3,), dtype="int64")
    lookup = L.IntegerLookup(output_mode=output_mode, mask_token=0)
    lookup.adapt(DATA)
    return layerwise.models.Model(ids, lookup(ids))


@pytest.mark.parametrize("output_mode", ["int", "multi_hot", "tf_idf"])
def test_an_adapted_integer_lookup_saved_as_keras_saves_it_loads_with_its_vocabulary(tmp_path, output_mode):
    # Keras writes an adapted vocabulary to assets/.../vocabulary.txt and leaves it out of the config; layerwise
    # ignored the assets, so the loaded layer had no vocabulary.
    model = adapted_lookup_model(output_mode)
    model.save(tmp_path / "m.keras")
    contents = members(tmp_path / "m.keras")
    vocabulary = [str(v) for v in model.layers[1].get_vocabulary()]
    assert contents["assets/layers/integer_lookup/vocabulary.txt"].decode().split("\n") == vocabulary
    spec = json.loads(contents["config.json"])
    lookup = next(layer for layer in spec["config"]["layers"] if layer["class_name"] == "IntegerLookup")
    lookup["config"].update(vocabulary=None, idf_weights=None)  # as Keras 3.15 writes an adapted layer
    contents["config.json"] = json.dumps(spec).encode()
    rewrite(tmp_path / "m.keras", contents)
    np.testing.assert_array_equal(layerwise.models.load_model(tmp_path / "m.keras").predict(X, verbose=0),
                                  model.predict(X, verbose=0))


class Table(L.Layer):
    """A layer with a lookup table kept as an asset file, as in Keras' customizing-saving guide."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.table: list[str] = []

    def call(self, x):
        return x * float(len(self.table))

    def save_assets(self, dir_path):
        os.makedirs(os.path.join(dir_path, "tables"))
        with open(os.path.join(dir_path, "tables", "words.txt"), "w") as f:
            f.write("\n".join(self.table))

    def load_assets(self, dir_path):
        with open(os.path.join(dir_path, "tables", "words.txt")) as f:
            self.table = f.read().split("\n")


def test_a_layers_own_assets_travel_in_a_keras_archive(tmp_path):
    # They were dropped from .keras archives without a word.
    inputs = L.Input((2,))
    inner = layerwise.Sequential([L.Input((2,)), Table()])
    table = inner.layers[0]
    table.table = ["a", "b", "c"]
    model = layerwise.models.Model(inputs, L.Dense(1)(inner(inputs)))
    model.save(tmp_path / "m.keras")
    assert members(tmp_path / "m.keras")["assets/layers/sequential/layers/table/tables/words.txt"] == b"a\nb\nc"
    loaded = layerwise.models.load_model(tmp_path / "m.keras", custom_objects={"Table": Table})
    assert loaded.layers[1].layers[0].table == ["a", "b", "c"]


def test_an_asset_pointing_outside_its_folder_is_refused(tmp_path):
    model = adapted_lookup_model("int")
    model.save(tmp_path / "m.keras")
    contents = members(tmp_path / "m.keras")
    contents["assets/layers/integer_lookup/../../../escape.txt"] = b"x"
    rewrite(tmp_path / "m.keras", contents)
    with pytest.raises(ValueError, match=r"escape\.txt' points outside its layer's assets folder"):
        layerwise.models.load_model(tmp_path / "m.keras")
