"""compile(weighted_metrics=...): sample and class weights count in them and not in ``metrics``, with
Keras' log names (``weighted_<name>`` when the name is taken, ``_1`` for a repeat); checked against Keras."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L

RNG = np.random.default_rng(3)
X = RNG.normal(size=(24, 4)).astype("float32")
LABELS = RNG.integers(0, 3, 24)
WEIGHTS = RNG.uniform(0.1, 3.0, 24).astype("float32")


def twins(keras, **compile_kwargs):
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(3, activation="softmax")])
    lw_model.set_weights(k_model.get_weights())
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", **compile_kwargs)
    return k_model, lw_model


def assert_logs_equal(ours: dict, theirs: dict):
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=2e-5, err_msg=name)


@pytest.mark.parametrize("fit_kwargs", [{"sample_weight": WEIGHTS}, {"class_weight": {0: 0.2, 1: 1.0, 2: 4.0}}])
def test_weighted_and_plain_metrics_as_keras(keras, fit_kwargs):
    metrics = ["sparse_categorical_accuracy", "sparse_categorical_crossentropy"]
    k_model, lw_model = twins(keras, metrics=metrics, weighted_metrics=metrics)
    k_hist = k_model.fit(X, LABELS, batch_size=8, epochs=2, shuffle=False, verbose=0, **fit_kwargs)
    lw_hist = lw_model.fit(X, LABELS, batch_size=8, epochs=2, shuffle=False, verbose=0, **fit_kwargs)
    assert "weighted_sparse_categorical_accuracy" in lw_hist.history
    assert_logs_equal({k: v[-1] for k, v in lw_hist.history.items()}, {k: v[-1] for k, v in k_hist.history.items()})
    weights = fit_kwargs.get("sample_weight")
    assert_logs_equal(lw_model.evaluate(X, LABELS, sample_weight=weights, verbose=0, return_dict=True),
                      k_model.evaluate(X, LABELS, sample_weight=weights, verbose=0, return_dict=True))


def test_weighted_metrics_alone_keep_their_names_and_differ_from_unweighted(keras):
    k_model, lw_model = twins(keras, weighted_metrics=["sparse_categorical_accuracy"])
    theirs = k_model.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0, return_dict=True)
    ours = lw_model.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0, return_dict=True)
    assert_logs_equal(ours, theirs)
    plain = lw_model.evaluate(X, LABELS, verbose=0, return_dict=True)["sparse_categorical_accuracy"]
    assert ours["sparse_categorical_accuracy"] != pytest.approx(plain)


def test_a_repeated_metric_gets_a_number(keras):
    k_model, lw_model = twins(keras, metrics=["mae", "mae"])
    y = np.eye(3, dtype="float32")[LABELS]
    for model in (k_model, lw_model):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["mae", "mae"])
    assert_logs_equal(lw_model.evaluate(X, y, verbose=0, return_dict=True),
                      k_model.evaluate(X, y, verbose=0, return_dict=True))


def test_weighted_metrics_survive_saving(tmp_path):
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    model.fit(X, LABELS, sample_weight=WEIGHTS, verbose=0)
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    expected = model.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0, return_dict=True)
    assert loaded.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0, return_dict=True) == pytest.approx(expected)
    assert "weighted_accuracy" in expected


def test_unknown_weighted_metric_fails_at_compile():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="accurracy"):
        model.compile(optimizer="sgd", loss="mse", weighted_metrics=["accurracy"])


def test_per_step_sample_weights_weight_each_step_of_a_sequence_output_as_keras(keras):
    """Temporal sample weights: ``(n, steps)`` weights against per-step losses of a ``return_sequences`` model,
    with the padding mask from ``mask_zero`` on top; loss and weighted accuracy as Keras, in evaluate and fit."""
    rng = np.random.default_rng(0)
    tokens, labels = rng.integers(1, 10, (16, 7)), rng.integers(0, 3, (16, 7))
    tokens[:, 5:] = 0
    weights = rng.random((16, 7)).astype("float32")
    models = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((7,)), lib.layers.Embedding(10, 4, mask_zero=True),
                                lib.layers.LSTM(5, return_sequences=True), lib.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                      weighted_metrics=["accuracy"])
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    theirs, ours = [m.evaluate(tokens, labels, sample_weight=weights, verbose=0, return_dict=True) for m in models]
    assert_logs_equal(ours, theirs)
    assert ours["loss"] != models[1].evaluate(tokens, labels, verbose=0, return_dict=True)["loss"]
    theirs, ours = [m.fit(tokens, labels, sample_weight=weights, batch_size=8, epochs=2, shuffle=False,
                          verbose=0).history for m in models]
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, err_msg=name)


def test_per_step_sample_weights_against_one_loss_per_sample_are_refused_with_both_shapes():
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"sample_weight of shape \(24, 2\) does not fit the loss values of shape "
                                         r"\(24,\)"):
        model.evaluate(X, LABELS, sample_weight=np.ones((24, 2)), batch_size=24, verbose=0)
