"""CosineDecayRestarts (SGDR): Keras' values at every step, restarts on the same steps, saving, an optimizer."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L
from layerwise.optimizers import schedules

CASES = [
    {},
    {"t_mul": 1.0},
    {"t_mul": 1.5, "m_mul": 0.5, "alpha": 0.1},  # step 25 ends a period only by float32 rounding
    {"t_mul": 3.0, "m_mul": 0.9, "alpha": 0.05},
]


@pytest.mark.parametrize("kwargs", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "defaults")
def test_values_at_every_step_equal_keras(keras, kwargs):
    ours = schedules.CosineDecayRestarts(0.1, 10, **kwargs)
    theirs = keras.optimizers.schedules.CosineDecayRestarts(0.1, 10, **kwargs)
    steps = range(0, 160)
    expected = np.array([float(keras.ops.convert_to_numpy(theirs(step))) for step in steps])
    # Both compute in float32 with the same formulas: equal, restarts included.
    np.testing.assert_array_equal([ours(step) for step in steps], expected)
    assert np.sum(np.diff(expected) > 0) >= 2  # the steps cross at least two restarts


def test_known_values_without_keras():
    sgdr = schedules.CosineDecayRestarts(1.0, 4, t_mul=2.0, m_mul=0.5)
    # Periods: steps 0-3, 4-11 (from 0.5), 12-27 (from 0.25).
    assert [sgdr(s) for s in (0, 2, 4, 8, 12)] == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])
    assert sgdr(3) < sgdr(4) and sgdr(11) < sgdr(12)  # the warm restarts
    assert schedules.CosineDecayRestarts(1.0, 4, alpha=0.25)(2) == pytest.approx(0.25 + 0.75 * 0.5)


def test_config_and_serialization_round_trip_as_keras(keras):
    kwargs = {"initial_learning_rate": 0.05, "first_decay_steps": 20, "t_mul": 1.5, "m_mul": 0.8, "alpha": 0.01}
    ours = schedules.CosineDecayRestarts(**kwargs)
    theirs = keras.optimizers.schedules.CosineDecayRestarts(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert ours.get_config()["name"] == "SGDRDecay"
    saved = schedules.serialize(ours)
    assert saved["class_name"] == keras.optimizers.schedules.serialize(theirs)["class_name"] == "CosineDecayRestarts"
    for restored in (schedules.deserialize(saved), schedules.CosineDecayRestarts.from_config(ours.get_config()),
                     schedules.deserialize(keras.optimizers.schedules.serialize(theirs))):
        assert type(restored) is schedules.CosineDecayRestarts
        assert restored.get_config() == ours.get_config()
        assert [restored(s) for s in (0, 19, 20, 49, 50)] == [ours(s) for s in (0, 19, 20, 49, 50)]


def test_sgd_follows_it_like_keras_and_the_model_saves(keras, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    lw_model.set_weights(k_model.get_weights())
    args = {"initial_learning_rate": 0.1, "first_decay_steps": 2, "m_mul": 0.5}
    k_model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecayRestarts(**args)), loss="mse")
    lw_model.compile(optimizer=layerwise.optimizers.SGD(schedules.CosineDecayRestarts(**args)), loss="mse")
    for _ in range(7):  # crosses the restarts at steps 2 and 6
        k_model.train_on_batch(x, y)
        lw_model.train_on_batch(x, y)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    lw_model.save(tmp_path / "m.keras")
    loaded = layerwise.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.get_config()["learning_rate"] == schedules.serialize(schedules.CosineDecayRestarts(**args))
    assert loaded.optimizer.learning_rate == lw_model.optimizer.learning_rate


@pytest.mark.parametrize("kwargs,message", [
    ({"first_decay_steps": 0}, "first_decay_steps must be positive, got 0"),
    ({"first_decay_steps": 10, "t_mul": 0.0}, "t_mul must be positive, got 0.0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        schedules.CosineDecayRestarts(0.1, **kwargs)
