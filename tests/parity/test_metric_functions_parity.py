"""keras.metrics' per-sample functions (``keras.metrics.binary_accuracy`` ...) against Keras 3, and one
passed to compile, saved and loaded."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise

RNG = np.random.default_rng(0)
PRED = RNG.random((8, 6)).astype("float32")
ONE_HOT = np.eye(6, dtype="float32")[RNG.integers(0, 6, 8)]
LABELS = ONE_HOT.argmax(1)
BINARY = (RNG.random((8, 6)) > 0.5).astype("float32")

CASES = [("binary_accuracy", BINARY), ("categorical_accuracy", ONE_HOT), ("sparse_categorical_accuracy", LABELS),
         ("top_k_categorical_accuracy", ONE_HOT), ("sparse_top_k_categorical_accuracy", LABELS),
         ("mean_squared_error", ONE_HOT), ("mean_absolute_error", ONE_HOT), ("kl_divergence", ONE_HOT),
         ("binary_crossentropy", BINARY), ("categorical_crossentropy", ONE_HOT),
         ("sparse_categorical_crossentropy", LABELS), ("hinge", BINARY), ("poisson", ONE_HOT)]


@pytest.mark.parametrize("name,y_true", CASES, ids=[c[0] for c in CASES])
def test_metric_functions_match_keras(keras, name, y_true):
    expected = np.asarray(getattr(keras.metrics, name)(y_true, PRED))
    got = getattr(layerwise.metrics, name)(y_true, PRED)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_binary_accuracy_compares_the_labels_themselves_as_keras(keras):
    # soft and regression targets: Keras counts 0.3, 0.7, 2 and -1 as misses (it does not round y_true)
    y_true = np.array([[0], [1], [0.3], [0.7], [2], [-1]], "float32")
    y_pred = np.array([[0.2], [0.9], [0.6], [0.6], [0.9], [0.1]], "float32")
    expected = np.asarray(keras.metrics.binary_accuracy(y_true, y_pred))
    np.testing.assert_array_equal(np.asarray(layerwise.metrics.binary_accuracy(y_true, y_pred)), expected)
    ours, theirs = layerwise.metrics.BinaryAccuracy(), keras.metrics.BinaryAccuracy()
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    assert float(ours.result()) == pytest.approx(float(theirs.result())) == pytest.approx(1 / 3)


def test_a_metric_function_in_compile_logs_its_name_and_saves(tmp_path):
    model = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(6, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=[layerwise.metrics.categorical_accuracy, layerwise.metrics.top_k_categorical_accuracy])
    x = RNG.random((8, 3)).astype("float32")
    logs = model.evaluate(x, ONE_HOT, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "categorical_accuracy", "top_k_categorical_accuracy"}
    model.save(tmp_path / "m.lw")
    assert layerwise.load_model(tmp_path / "m.lw").evaluate(x, ONE_HOT, verbose=0, return_dict=True) == logs
