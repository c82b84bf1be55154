"""The optimizer part of the ``.keras`` files layerwise writes is laid out as Keras writes it: the same datasets
with the same dtypes (``iterations`` int32) and shapes, and Keras' ``name`` attributes on the ``vars`` groups;
gradient accumulators, the count of apply calls and a LossScaleOptimizer's scale are kept, so training resumes
across the libraries."""
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
    lambda o: o.LossScaleOptimizer(o.Adam(name="adam"), name="scaled"),
], ids=["adam", "multi_optimizer", "loss_scale_optimizer"])
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


def _scaled_model(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])
    model.set_weights([np.full((4, 2), 0.3, "float32"), np.zeros(2, "float32")])
    optimizer = lib.optimizers.LossScaleOptimizer(lib.optimizers.Adam(0.05), initial_scale=8.0, dynamic_growth_steps=2)
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("writer, reader", [("layerwise", "keras"), ("keras", "layerwise")])
def test_loss_scale_optimizer_resumes_across_libraries(keras, tmp_path, writer, reader):
    # Its step counter, scale and inner Adam slots were not written, and its `variables` listed two of Adam's slots.
    libs = {"keras": keras, "layerwise": layerwise}
    x = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
    y = 2 * x[:, :2]
    uninterrupted = _scaled_model(keras)
    for _ in range(2):
        uninterrupted.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first = _scaled_model(libs[writer])
    first.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "m.keras")
    resumed = libs[reader].models.load_model(tmp_path / "m.keras")
    assert len(resumed.optimizer.variables) == len(uninterrupted.optimizer.variables) == 2 + 2 + 2 + 2 * 2
    resumed.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert float(resumed.optimizer.dynamic_scale) == float(uninterrupted.optimizer.dynamic_scale) == 64.0
    assert int(resumed.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == 6
    np.testing.assert_allclose(resumed.get_weights()[0], uninterrupted.get_weights()[0], atol=1e-5)
