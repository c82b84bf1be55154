"""Keras' stateless metric API (``stateless_update_state``, ``stateless_result``, ``stateless_reset_state``): the
same new variables and results as Keras from the same state, for every family of metric, with the metric's own
state untouched."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise

Y_TRUE = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0]], "float32")
Y_PRED = np.array([[0.2, 0.7, 0.9], [0.6, 0.4, 0.8], [0.1, 0.3, 0.6], [0.9, 0.8, 0.2]], "float32")
CASES = {
    "Mean": (lambda m: m.Mean(), (Y_PRED,)),
    "BinaryAccuracy": (lambda m: m.BinaryAccuracy(), (Y_TRUE, Y_PRED)),
    "SparseCategoricalAccuracy": (lambda m: m.SparseCategoricalAccuracy(), (np.array([2, 0, 2, 0]), Y_PRED)),
    "Precision": (lambda m: m.Precision(thresholds=[0.3, 0.5]), (Y_TRUE, Y_PRED)),
    "AUC": (lambda m: m.AUC(num_thresholds=20), (Y_TRUE, Y_PRED)),
    "MeanIoU": (lambda m: m.MeanIoU(num_classes=3), (np.array([2, 0, 1, 0]), np.array([2, 1, 1, 0]))),
    "F1Score": (lambda m: m.F1Score(threshold=0.5), (Y_TRUE, Y_PRED)),
}


def _as_numpy(values):
    return [np.asarray(v.detach().cpu() if hasattr(v, "detach") else v) for v in values]


@pytest.mark.parametrize("case", sorted(CASES))
def test_stateless_api_matches_keras(keras, case):
    make, batch = CASES[case]
    found = {}
    for lib in (keras, layerwise):
        metric = make(lib.metrics)
        metric.update_state(*batch)  # a state of its own, which the stateless calls must leave alone
        own = _as_numpy(metric.variables)
        start = metric.stateless_reset_state()
        once = metric.stateless_update_state(start, *batch)
        twice = metric.stateless_update_state(once, *batch[::-1] if case == "MeanIoU" else batch)
        found[lib] = (_as_numpy(start), _as_numpy(once), _as_numpy(twice),
                      np.asarray(metric.stateless_result(twice)), np.asarray(metric.result()))
        for kept, now in zip(own, _as_numpy(metric.variables)):
            np.testing.assert_array_equal(kept, now)
    for ours, theirs in zip(found[layerwise], found[keras]):
        for a, b in zip(ours if isinstance(ours, list) else [ours], theirs if isinstance(theirs, list) else [theirs]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_a_wrong_number_of_variables_is_refused_as_keras(keras):
    for lib in (keras, layerwise):
        with pytest.raises(ValueError, match="corresponding 1:1 to Mean\\(\\).variables"):
            lib.metrics.Mean().stateless_update_state([0.0], [1.0])
