"""``layerwise.constraints`` and the layers' ``*_constraint`` arguments: identifiers, saving, frozen
layers and train_on_batch. Projections and training against Keras are in
``tests/parity/test_constraints_parity.py``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise as keras
from layerwise import constraints, layers


def test_identifiers_resolve_to_constraints():
    assert constraints.get(None) is None
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.get({"class_name": "UnitNorm", "config": {"axis": 1}}).get_config() == {"axis": 1}
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    assert constraints.max_norm is constraints.MaxNorm
    with pytest.raises(ValueError, match="Unknown constraint 'max'; known: .*max_norm"):
        constraints.get("max")
    with pytest.raises(ValueError, match="Could not interpret constraint 2"):
        constraints.get(2)


def test_constraints_survive_save_and_load(tmp_path):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, kernel_constraint=constraints.MaxNorm(0.1, axis=0),
                                                               bias_constraint="non_neg")])
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.lw")
    loaded = keras.models.load_model(tmp_path / "m.lw")
    config = loaded.layers[0].get_config()
    assert config["kernel_constraint"] == {"module": "keras.constraints", "class_name": "MaxNorm",
                                           "config": {"max_value": 0.1, "axis": 0}, "registered_name": None}
    assert config["bias_constraint"] == {"module": "keras.constraints", "class_name": "NonNeg", "config": {},
                                         "registered_name": None}  # given by name, written as Keras writes it
    x, y = np.ones((8, 4), "float32"), -np.ones((8, 3), "float32")
    loaded.fit(x, y, epochs=3, verbose=0)
    kernel, bias = loaded.get_weights()
    assert np.linalg.norm(kernel, axis=0).max() <= 0.1 + 1e-6 and bias.min() >= 0


def test_custom_constraints_refuse_to_save_by_name(tmp_path):
    class Clip(constraints.Constraint):
        def __call__(self, w):
            return w.clamp(-1, 1)

    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_constraint=Clip())])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="Cannot save the custom constraint .*Clip"):
        model.save(tmp_path / "m.lw")


def test_frozen_weights_are_not_projected_and_train_on_batch_projects():
    frozen = layers.Dense(2, kernel_constraint=constraints.NonNeg(), kernel_initializer="ones")
    model = keras.Sequential([keras.Input((3,)), frozen, layers.Dense(2, kernel_constraint=constraints.NonNeg())])
    frozen.trainable = False
    with torch.no_grad():
        frozen.kernel.fill_(-1.0)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"))
    assert (frozen.get_weights()[0] == -1).all()  # Keras projects trainable variables only
    assert (model.layers[1].get_weights()[0] >= 0).all()
