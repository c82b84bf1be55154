"""The optimizer part of the ``.keras`` files layerwise writes is laid out as Keras writes it: the same datasets
with the same dtypes (``iterations`` int32) and shapes, and Keras' ``name`` attributes on the ``vars`` groups;
gradient accumulators and the count of apply calls are kept, so training resumes across the libraries."""
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


def _accumulating_model(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])
    model.set_weights([np.full((4, 2), 0.3, "float32"), np.zeros(2, "float32")])
    model.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2), loss="mse")
    return model


@pytest.mark.parametrize("writer, reader", [("layerwise", "keras"), ("keras", "layerwise"),
                                            ("layerwise", "layerwise")])
def test_gradient_accumulation_resumes_across_libraries(keras, tmp_path, writer, reader):
    # The files lacked the accumulators and held the updates (1) instead of Keras' apply calls (3): Keras and
    # layerwise then skipped the optimizer state, and layerwise resumed with an empty accumulator.
    libs = {"keras": keras, "layerwise": layerwise}
    x = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
    y = 2 * x[:, :2]
    uninterrupted = _accumulating_model(keras)
    for _ in range(2):
        uninterrupted.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first = _accumulating_model(libs[writer])
    first.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "m.keras")
    resumed = libs[reader].models.load_model(tmp_path / "m.keras")
    resumed.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert int(resumed.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == 3
    np.testing.assert_allclose(resumed.get_weights()[0], uninterrupted.get_weights()[0], atol=1e-5)
