"""The optimizer part of the ``.keras`` files layerwise writes is laid out as Keras writes it: the same datasets
with the same dtypes (``iterations`` int32) and shapes, and Keras' ``name`` attributes on the ``vars`` groups."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import layerwise


def _optimizer_layout(lib, make_optimizer, path) -> list[tuple]:
    import h5py

    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="head"), lib.layers.Dense(1, name="out")])
    model.compile(make_optimizer(lib.optimizers), "mse")
    model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    model.save(path)
    found = []
    with h5py.File(io.BytesIO(zipfile.ZipFile(path).read("model.weights.h5")), "r") as f:
        f["optimizer"].visititems(lambda name, obj: found.append(
            (name, dict(obj.attrs)) if isinstance(obj, h5py.Group) else (name, str(obj.dtype), obj.shape)))
    return sorted(found, key=str)


@pytest.mark.parametrize("make_optimizer", [
    lambda o: o.Adam(name="adam"),
    lambda o: o.MultiOptimizer(o.OptimizerMap(o.Adam(name="a"), {".*head.*": o.SGD(name="s")}), name="multi"),
], ids=["adam", "multi_optimizer"])
def test_optimizer_groups_match_keras(keras, tmp_path, make_optimizer):
    ours = _optimizer_layout(layerwise, make_optimizer, tmp_path / "ours.keras")
    theirs = _optimizer_layout(keras, make_optimizer, tmp_path / "theirs.keras")
    assert ours == theirs
    assert ("vars/0", "int32", ()) in ours
