"""``layerwise.regularizers`` and the layers' ``*_regularizer`` arguments: identifiers, saving, frozen
layers, activity penalties on directly called layers, and the effect on training. Values and training
steps against Keras are in ``tests/parity/test_regularizers_parity.py``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
import layerwise as keras
from layerwise import layers, regularizers


def test_identifiers_resolve_to_regularizers():
    assert regularizers.get(None) is None
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}  # as Keras documents it
    assert regularizers.get(regularizers.L1).get_config() == {"l1": float(np.float32(0.01))}  # float32, as Keras 3.15
    l1l2 = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}})
    assert isinstance(l1l2, regularizers.L1L2) and (l1l2.l1, l1l2.l2) == (0.1, 0.2)
    assert regularizers.l2 is regularizers.L2 and regularizers.l1_l2 is regularizers.L1L2

    def custom(w):
        return 0.5 * w.abs().max()
    assert regularizers.get(custom) is custom


@pytest.mark.parametrize("bad, message", [
    ("l3", "Unknown regularizer 'l3'"),
    (3.0, "Could not interpret regularizer 3.0: pass a name"),
    ({"class_name": "Nope"}, "Unknown regularizer 'Nope'"),
])
def test_bad_identifiers_say_what_is_known(bad, message):
    with pytest.raises(ValueError, match=message):
        regularizers.get(bad)


def test_bad_factors_and_shapes_are_refused():
    with pytest.raises(ValueError, match="l2 must be non-negative, got -0.1"):
        regularizers.L2(-0.1)
    with pytest.raises(ValueError, match="l1 must be a number, got 'big'"):
        regularizers.L1("big")
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns'"):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"needs a 2-D weight, got shape \(2, 3, 4\)"):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 3, 4))


def _regularized_model():
    return keras.Sequential([
        keras.Input((6,)),
        layers.Dense(4, activation="relu", kernel_regularizer=regularizers.L2(0.1),
                     bias_regularizer="l1", activity_regularizer=regularizers.L1L2(0.01, 0.02)),
        layers.Dense(2, kernel_regularizer=regularizers.OrthogonalRegularizer(0.3, mode="columns")),
    ])


def test_regularizers_survive_save_and_load(tmp_path):
    model = _regularized_model()
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 6)).astype("float32"))
    model(x)
    before = [float(p.detach()) for p in model.losses]
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.lw")
    loaded = keras.models.load_model(tmp_path / "m.lw")
    loaded(x)
    assert len(before) == 4
    np.testing.assert_allclose([float(p.detach()) for p in loaded.losses], before, rtol=1e-6)
    assert loaded.layers[1].get_config()["kernel_regularizer"] == {
        "module": "keras.regularizers", "class_name": "OrthogonalRegularizer",
        "config": {"factor": float(np.float32(0.3)), "mode": "columns"}, "registered_name": None}


def test_custom_regularizers_without_a_config_or_registration_refuse_to_save(tmp_path):
    class Spiky(regularizers.Regularizer):
        def __call__(self, x):
            return x.abs().max()

    class Configured(Spiky):
        def get_config(self):
            return {}

    # As in Keras, a class without its own get_config fails there; with one, layerwise asks for registration
    # at save time (Keras would write a file that does not load).
    for regularizer, error, message in ((Spiky(), NotImplementedError, "Spiky does not implement get_config"),
                                        (Configured(), TypeError, "Cannot save the custom regularizer .*Configured")):
        model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_regularizer=regularizer)])
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(error, match=message):
            model.save(tmp_path / "m.lw")
        assert not (tmp_path / "m.lw").exists()


def test_frozen_layers_add_no_weight_penalty():
    layer = layers.Dense(3, kernel_regularizer="l2", bias_regularizer="l2", bias_initializer="ones")
    layer(torch.ones(2, 4))
    assert len(layer.losses) == 2
    layer.trainable = False
    assert layer.losses == []


def test_activity_penalty_of_a_directly_called_layer_is_per_sample():
    layer = layers.SimpleRNN(3, activity_regularizer=regularizers.L2(0.5))  # Keras 3.15 ignores this one
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(4, 5, 2)).astype("float32"))
    out = layer(x)
    (penalty,) = layer.losses
    torch.testing.assert_close(penalty, 0.5 * out.square().sum() / 4)


def test_weight_penalty_is_differentiable_through_keras_layout():
    layer = layers.GRU(2, bias_regularizer=regularizers.L1(1.0), bias_initializer="ones")
    layer(torch.zeros(1, 3, 2))
    (penalty,) = layer.losses
    penalty.backward()
    assert layer.bias.grad is not None and layer.bias.grad.abs().sum() > 0


def test_a_strong_l2_penalty_shrinks_the_weights_it_trains():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) * 3).astype("float32")
    norms = {}
    for factor in (0.0, 1.0):  # about w / (1 + factor) for these unit-variance inputs
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), layers.Dense(1, kernel_regularizer=regularizers.L2(factor))])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(x, y, epochs=60, batch_size=16, verbose=0)
        norms[factor] = float(np.linalg.norm(model.get_weights()[0]))
        # evaluate reports the penalised loss, as Keras does: the data term plus the penalty.
        mse = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
        assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + factor * norms[factor] ** 2, rel=1e-4)
    assert norms[1.0] < 0.6 * norms[0.0]


def test_a_shared_layer_pays_its_activity_penalty_for_every_call(keras):
    """A layer used twice in one model adds one activity penalty per call, as in Keras."""
    results = []
    x, y = np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")
    for lib in (keras, layerwise):
        dense = lib.layers.Dense(3, kernel_initializer="ones", activity_regularizer="l2")
        inputs = lib.Input((3,))
        model = lib.Model(inputs, lib.layers.Add()([dense(inputs), dense(inputs * 2.0)]))
        model.compile(optimizer="sgd", loss="mse")
        loss = model.evaluate(x, y, verbose=0)
        model(x)
        results.append((loss, sorted(float(p.detach() if hasattr(p, "detach") else p) for p in model.losses)))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6)
