"""Learning-rate schedules: Keras' values step by step, optimizers that follow them, saving, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L
from layerwise.optimizers import schedules

STEPS = [0, 1, 7, 49, 50, 51, 99, 100, 101, 250, 1000]

SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 0.5, "staircase": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 0.5}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 0.5, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [50, 100], "values": [0.1, 0.01, 0.001]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 100, "end_learning_rate": 0.01,
                         "power": 2.0, "cycle": True}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 100, "alpha": 0.1}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 100, "warmup_target": 0.1, "warmup_steps": 50}),
]


def _case_id(value):
    return value if isinstance(value, str) else "-".join(f"{k}={v}" for k, v in value.items() if k != "decay_steps")


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=_case_id)
def test_schedule_values_match_keras(keras, name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    expected = [float(keras.ops.convert_to_numpy(theirs(step))) for step in STEPS]
    # Keras computes in float32: hence the absolute tolerance near the end of a decay.
    np.testing.assert_allclose([ours(step) for step in STEPS], expected, rtol=1e-6, atol=1e-8)
    assert len(set(expected)) > 2  # the steps really cross the schedule's changes


def test_known_values_without_keras():
    cosine = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.1)
    assert cosine(0) == pytest.approx(0.1)
    assert cosine(50) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    assert cosine(100) == cosine(500) == pytest.approx(0.01)
    piecewise = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]


def _twin_classifiers(keras):
    specs = [("Dense", (5,), {"activation": "tanh"}), ("Dense", (3,), {"activation": "softmax"})]
    k_model = keras.Sequential([keras.Input((4,))] + [getattr(keras.layers, n)(*a, **kw) for n, a, kw in specs])
    lw_model = layerwise.Sequential([layerwise.Input((4,))] + [getattr(L, n)(*a, **kw) for n, a, kw in specs])
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_steps_follow_the_schedule_like_keras(keras, optimizer):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
    k_model, lw_model = _twin_classifiers(keras)
    args = {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.1}
    k_model.compile(optimizer=getattr(keras.optimizers, optimizer)(keras.optimizers.schedules.ExponentialDecay(**args)),
                    loss="categorical_crossentropy")
    lw_opt = getattr(layerwise.optimizers, optimizer)(schedules.ExponentialDecay(**args))
    lw_model.compile(optimizer=lw_opt, loss="categorical_crossentropy")
    for _ in range(6):
        k_model.train_on_batch(x, y)
        lw_model.train_on_batch(x, y)
    # Adam's normalisation magnifies float32 rounding to ~5e-6 after 6 steps at rate 0.1 (with a
    # constant rate too); a rate off by one step would move the weights by ~1e-2.
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5)
    assert lw_opt.learning_rate == pytest.approx(0.1 * 0.1 ** (6 / 4))


def test_schedule_really_changes_training():
    """Same model and data: a schedule that drops the rate to zero after one step freezes the weights."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.integers(0, 3, 8)
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(3)])
    model.compile(optimizer=layerwise.optimizers.SGD(schedules.PiecewiseConstantDecay([0], [0.5, 0.0])),
                  loss=layerwise.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_weights()
    model.train_on_batch(x, y)
    after_first = model.get_weights()
    model.train_on_batch(x, y)
    assert not np.allclose(before[0], after_first[0])
    np.testing.assert_array_equal(after_first[0], model.get_weights()[0])


def test_model_with_schedule_saves_and_resumes(tmp_path):
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer=layerwise.optimizers.Adam(schedules.CosineDecay(0.01, 100, alpha=0.2)), loss="mse")
    x = np.random.default_rng(2).normal(size=(32, 4)).astype("float32")
    model.fit(x, x[:, :2], epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config == model.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "CosineDecay" and config["config"]["alpha"] == 0.2
    assert loaded.optimizer.iterations == 8
    assert loaded.optimizer.learning_rate == pytest.approx(model.optimizer.learning_rate)


def test_custom_schedule_refuses_to_save_with_a_clear_message(tmp_path):
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 / 2 ** step

        def get_config(self):
            return {}

    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    model.compile(optimizer=layerwise.optimizers.SGD(Halving()), loss="mse")
    with pytest.raises(TypeError, match="Halving.*built-in schedules"):
        model.save(tmp_path / "m.lw")
    assert not (tmp_path / "m.lw").exists()


def test_setting_a_number_over_a_schedule_is_refused():
    optimizer = layerwise.optimizers.Adam(schedules.CosineDecay(0.01, 100))
    with pytest.raises(TypeError, match="schedule CosineDecay.*float learning_rate"):
        optimizer.learning_rate = 0.1
    plain = layerwise.optimizers.Adam(0.01)
    plain.learning_rate = 0.1
    assert plain.learning_rate == 0.1


@pytest.mark.parametrize("make,message", [
    (lambda: schedules.CosineDecay(0.1, decay_steps=0), "decay_steps must be positive"),
    (lambda: schedules.ExponentialDecay(0.1, decay_steps=-5, decay_rate=0.5), "decay_steps must be positive"),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01]), "one more element"),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]), "increasing"),
])
def test_bad_schedule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
