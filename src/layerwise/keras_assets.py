"""The ``assets/`` part of a ``.keras`` archive: the files a layer writes in ``save_assets(dir)`` (an adapted
lookup layer's ``vocabulary.txt``, a user's own files) and reads back in ``load_assets(dir)``.

Keras keeps them under the layer's path in the archive, ``assets/layers/<layer>/...``, each layer named as in the
weights file (by its class in snake case, ``integer_lookup``, ``integer_lookup_1``...), nested models' layers
under their model's path. Only Sequential and functional models are walked, as their weights are.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Iterator

from layerwise.backend import to_snake_case
from layerwise.keras_weights import is_graph_model, keras_unique_name
from layerwise.layers.saving_hooks import overrides

ASSETS = "assets"


def _layer_paths(model, prefix: str = ASSETS) -> Iterator[tuple[object, str]]:
    """``(layer, its folder in the archive)`` for the layers of a Sequential or functional ``model``."""
    if not is_graph_model(model):
        return
    used: dict = {}
    for layer in model.layers:
        path = f"{prefix}/layers/{keras_unique_name(to_snake_case(type(layer).__name__), used)}"
        if hasattr(layer, "layers"):
            yield from _layer_paths(layer, path)
        else:
            yield layer, path


def write_assets(model, archive: zipfile.ZipFile) -> None:
    """What each layer that overrides ``save_assets`` writes, into ``archive`` at the layer's path."""
    for layer, path in _layer_paths(model):
        if not overrides(layer, "save_assets"):
            continue
        with tempfile.TemporaryDirectory() as directory:
            layer.save_assets(directory)
            for root, _, files in os.walk(directory):
                for name in files:
                    file = os.path.join(root, name)
                    archive.write(file, f"{path}/{os.path.relpath(file, directory).replace(os.sep, '/')}")


def read_assets(model, archive: zipfile.ZipFile) -> None:
    """Hand each layer that overrides ``load_assets`` the files the archive holds at its path, in a folder."""
    names = [name for name in archive.namelist() if name.startswith(f"{ASSETS}/") and not name.endswith("/")]
    if not names:
        return
    for layer, path in _layer_paths(model):
        mine = [name for name in names if name.startswith(f"{path}/")]
        if not mine or not overrides(layer, "load_assets"):
            continue
        with tempfile.TemporaryDirectory() as directory:
            for name in mine:
                parts = name[len(path) + 1:].split("/")
                if ".." in parts:  # a crafted archive must not write outside the folder
                    raise ValueError(f"The archive's member {name!r} points outside its layer's assets folder.")
                file = os.path.join(directory, *parts)
                os.makedirs(os.path.dirname(file), exist_ok=True)
                with open(file, "wb") as f:
                    f.write(archive.read(name))
            layer.load_assets(directory)
