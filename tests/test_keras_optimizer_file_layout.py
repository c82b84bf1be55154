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


def _model(lib, make_optimizer):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])
    model.set_weights([np.full((4, 2), 0.3, "float32"), np.zeros(2, "float32")])
    model.compile(optimizer=make_optimizer(lib.optimizers), loss="mse")
    return model


def _accumulating(o):
    return o.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2)


def _scaled(o):
    return o.LossScaleOptimizer(o.Adam(0.05), initial_scale=8.0, dynamic_growth_steps=2)


RESUMES = [  # (optimizer, writer, reader, Keras' iterations after two epochs, its variables or None)
    (_accumulating, "layerwise", "keras", 3, None), (_accumulating, "keras", "layerwise", 3, None),
    (_accumulating, "layerwise", "layerwise", 3, None),
    # a LossScaleOptimizer's own count and rate, its step counter and scale, Adam's count, rate and two slots each
    (_scaled, "layerwise", "keras", 6, 2 + 2 + 2 + 2 * 2), (_scaled, "keras", "layerwise", 6, 2 + 2 + 2 + 2 * 2),
]


@pytest.mark.parametrize("make_optimizer, writer, reader, iterations, variables", RESUMES)
def test_training_resumes_across_libraries(keras, tmp_path, make_optimizer, writer, reader, iterations, variables):
    # The files lacked the gradient accumulators and held the updates (1) instead of Keras' apply calls (3), and
    # a LossScaleOptimizer's step counter, scale and inner Adam slots: training resumed from a fresh state.
    libs = {"keras": keras, "layerwise": layerwise}
    x = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
    y = 2 * x[:, :2]
    uninterrupted = _model(keras, make_optimizer)
    for _ in range(2):
        uninterrupted.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first = _model(libs[writer], make_optimizer)
    first.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "m.keras")
    resumed = libs[reader].models.load_model(tmp_path / "m.keras")
    if variables is not None:
        assert len(resumed.optimizer.variables) == len(uninterrupted.optimizer.variables) == variables
    resumed.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert int(resumed.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == iterations
    if make_optimizer is _scaled:  # the scale doubled after every two finite steps: 8 -> 64 in six steps
        assert float(resumed.optimizer.dynamic_scale) == float(uninterrupted.optimizer.dynamic_scale) == 64.0
    np.testing.assert_allclose(resumed.get_weights()[0], uninterrupted.get_weights()[0], atol=1e-5)
