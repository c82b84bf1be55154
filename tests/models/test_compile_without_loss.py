"""A model whose only loss is what its layers add (add_loss, regularizers) compiles without a loss and
trains, as in Keras; a model without trainable weights reports its loss without a backward pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

X = np.random.default_rng(0).random((8, 3)).astype("float32")


class PenaltyOnOutputs(L.Layer):
    def call(self, inputs):
        self.add_loss(0.5 * inputs.square().mean())
        return inputs


def penalised_model():
    inputs = layerwise.Input((3,))
    return layerwise.Model(inputs, PenaltyOnOutputs()(L.Dense(2)(inputs)))


def test_add_loss_alone_is_minimised_and_needs_no_targets(tmp_path):
    layerwise.utils.set_random_seed(0)
    model = penalised_model()
    model.compile(optimizer=layerwise.optimizers.SGD(0.5))
    history = model.fit(X, epochs=40, batch_size=8, verbose=0).history
    final_penalty = 0.5 * float(np.mean(model.predict(X, verbose=0) ** 2))
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert history["loss"][-1] == pytest.approx(final_penalty, rel=0.3)  # the last epoch's batch, before its step
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    assert loaded.loss is None
    loaded.fit(X, verbose=0)


def test_no_loss_at_all_is_a_clear_error_at_fit():
    inputs = layerwise.Input((3,))
    model = layerwise.Model(inputs, L.Dense(2)(inputs))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="compiled without a loss and adds none"):
        model.fit(X, np.zeros((8, 2), "float32"), verbose=0)


def test_a_model_without_trainable_weights_reports_its_loss():
    inputs = layerwise.Input((3,))
    model = layerwise.Model(inputs, PenaltyOnOutputs()(inputs))
    model.compile(optimizer="adam", loss="mse")
    y = np.zeros((8, 3), "float32")
    history = model.fit(X, y, batch_size=8, verbose=0).history
    expected = float(np.mean(X ** 2)) * 1.5  # mse against zeros plus half of it added
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert torch.equal(torch.as_tensor(model.predict(X, verbose=0)), torch.as_tensor(X))


def penalised_twin(lib):
    """``penalised_model`` written for ``lib`` (Keras or layerwise), its penalty in ``lib.ops``."""
    ops = lib.ops

    class Penalty(lib.layers.Layer):
        def call(self, inputs):
            self.add_loss(0.5 * ops.mean(ops.square(inputs)))
            return inputs

    inputs = lib.Input((3,))
    return lib.Model(inputs, Penalty()(lib.layers.Dense(2)(inputs)))


def test_metrics_without_a_compiled_loss_match_keras(keras):
    y = np.random.default_rng(1).random((8, 2)).astype("float32")
    k_model, lw_model = penalised_twin(keras), penalised_twin(layerwise)
    lw_model.set_weights(k_model.get_weights())
    results = []
    for lib, model in ((keras, k_model), (layerwise, lw_model)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), metrics=["mae"])
        history = model.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        results.append((history, model.evaluate(X, y, verbose=0, return_dict=True)))
    (k_history, k_scores), (lw_history, lw_scores) = results
    for name in ("loss", "mae"):
        np.testing.assert_allclose(lw_history[name], k_history[name], rtol=1e-5)
        assert lw_scores[name] == pytest.approx(k_scores[name], rel=1e-5)


def _own_loss_model(lib):
    class OwnLoss(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(1)
            self.loss = lib.losses.MeanAbsoluteError()

        def call(self, x):
            return self.dense(x)

    return OwnLoss()


def test_model_loss_is_what_compile_was_given_and_a_models_own_loss_stays(keras):
    """As Keras: ``model.loss`` is the argument given to compile (a name, a dict...), and compile without a loss
    leaves a ``loss`` attribute the model set itself (Deep Learning with Python's diffusion model calls its own)."""
    found = []
    for lib in (keras, layerwise):
        own = _own_loss_model(lib)
        own.compile(optimizer="sgd")
        named = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        named.compile(optimizer="sgd", loss="mse")
        found.append((type(own.loss).__name__, named.loss))
    assert found[0] == found[1] == ("MeanAbsoluteError", "mse")
