"""layerwise.metrics against Keras 3: subclasses of built-in metrics in compile/evaluate, counts kept
exactly under 16-bit metric dtypes, bfloat16 per-class results, and top-k accuracy of labels out of range."""
import warnings

import numpy as np
import pytest
import torch

import layerwise
from layerwise import metrics

RNG = np.random.default_rng(19)
X = RNG.normal(size=(24, 4)).astype("float32")
Y = RNG.integers(0, 2, (24, 1)).astype("float32")


def _flipped(base):
    """A subclass of the built-in metric ``base`` that scores ``1 - y_pred``, counting its update_state calls and
    clearing the count in its own reset_state."""
    class Flipped(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.calls += 1
            super().update_state(y_true, 1 - y_pred, sample_weight)

        def reset_state(self):
            super().reset_state()
            self.calls = 0

    return Flipped


def _models(keras):
    ours = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(1, activation="sigmoid")])
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.parametrize("name", ["Precision", "BinaryAccuracy", "AUC"])
def test_a_subclass_of_a_builtin_metric_runs_its_update_state_in_evaluate(keras, name):
    ours, theirs = _models(keras)
    mine = _flipped(getattr(metrics, name))(name="flipped")
    ours.compile(loss="binary_crossentropy", metrics=[mine])
    theirs.compile(loss="binary_crossentropy", metrics=[_flipped(getattr(keras.metrics, name))(name="flipped")])
    got = ours.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    expected = theirs.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    assert got["flipped"] == pytest.approx(expected["flipped"], abs=1e-5)
    assert mine.calls == 3  # evaluate reset it through the subclass's reset_state, then added 3 batches


def test_a_subclass_of_a_builtin_metric_standalone_and_reset():
    mine = _flipped(metrics.Recall)()
    mine.update_state(np.array([[1.0], [1.0], [0.0]]), np.array([[0.2], [0.9], [0.1]]))
    assert mine.result() == pytest.approx(0.5) and mine.calls == 1
    mine.reset_state()
    assert mine.result() == 0.0 and mine.calls == 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_confusion_counts_stay_exact_with_a_16_bit_dtype(dtype):
    y_true = RNG.integers(0, 2, 6000).astype("float32")
    y_pred = RNG.random(6000).astype("float32")
    exact, low = metrics.TruePositives(), metrics.TruePositives(dtype=dtype)
    auc, auc_low = metrics.AUC(), metrics.AUC(dtype=dtype)
    for metric in (exact, low, auc, auc_low):
        metric.update_state(y_true, y_pred)
    assert float(low.result()) == float(exact.result()) == float(((y_pred > 0.5) & (y_true == 1)).sum())
    assert float(auc_low.result()) == pytest.approx(float(auc.result()), abs=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_r2_score_sums_are_not_lost_with_a_16_bit_dtype(dtype):
    y_true = RNG.normal(size=(5000, 2)).astype("float32") + 3
    y_pred = y_true + RNG.normal(size=(5000, 2)).astype("float32")
    exact, low = metrics.R2Score(), metrics.R2Score(dtype=dtype)
    for metric in (exact, low):
        for _ in range(3):
            metric.update_state(y_true, y_pred)
    assert np.isfinite(float(low.result())) and float(low.result()) == pytest.approx(float(exact.result()), abs=1e-3)


def test_per_class_results_of_bfloat16_metrics_are_arrays(keras):
    y_true = np.eye(3, dtype="float32")[[0, 1, 2, 1, 0]]
    y_pred = RNG.random((5, 3)).astype("float32")
    ours, theirs = metrics.F1Score(dtype="bfloat16"), keras.metrics.F1Score(dtype="bfloat16")
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    expected = keras.ops.convert_to_numpy(keras.ops.cast(theirs.result(), "float32"))
    assert ours.result().dtype == theirs.result().dtype == torch.bfloat16  # numpy has no bfloat16: cast to read
    np.testing.assert_allclose(ours.result().float(), expected, atol=1e-2)
    scores = metrics.R2Score(class_aggregation=None, dtype="bfloat16")
    scores.update_state(y_true, y_pred)
    assert scores.result().shape == (3,)


def test_sparse_top_k_counts_labels_out_of_range_as_misses():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype="float32")
    metric = metrics.SparseTopKCategoricalAccuracy(k=2)
    metric.update_state(np.array([1, 5, -1, 0]), scores)
    assert metric.result() == pytest.approx(0.5)


def test_sparse_top_k_config_names_from_sorted_ids_only_when_set(keras):
    for options in ({}, {"from_sorted_ids": True}):
        ours = metrics.SparseTopKCategoricalAccuracy(k=2, **options).get_config()
        assert ours == keras.metrics.SparseTopKCategoricalAccuracy(k=2, **options).get_config()


def test_unknown_metric_message_lists_accuracy_once():
    with warnings.catch_warnings(), pytest.raises(ValueError) as error:
        metrics.get("no_such_metric")
    assert str(error.value).count(" accuracy,") == 1


@pytest.mark.parametrize("name", ["MeanAbsoluteError", "MeanSquaredError", "MeanAbsolutePercentageError",
                                  "MeanSquaredLogarithmicError", "LogCoshError", "CosineSimilarity", "Poisson",
                                  "ConcordanceCorrelation", "BinaryCrossentropy"])
def test_mean_metrics_take_integer_lists_as_keras_examples_do(keras, name):
    # Keras' docstrings pass lists of ints; its torch backend gets some of them wrong, so the reference is the
    # same data as floats (the values Keras documents).
    y_true, y_pred = [[0, 1], [0, 0]], [[1, 1], [0, 0]]
    ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
    ours.update_state(y_true, y_pred)
    theirs.update_state(np.array(y_true, "float32"), np.array(y_pred, "float32"))
    assert ours.result() == pytest.approx(float(keras.ops.convert_to_numpy(theirs.result())), rel=1e-5)


def test_a_subclass_of_a_builtin_metric_with_its_own_variable_resets_it():
    class Counted(metrics.MeanSquaredError):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.batches = self.add_variable((), name="batches")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.batches.assign_add(1.0)
            super().update_state(y_true, y_pred, sample_weight)

    metric = Counted()
    metric.update(*(layerwise.ops.convert_to_tensor(np.full((3, 2), v, "float32")) for v in (1.0, 0.0)))
    assert metric.result() == 1.0 and float(metric.batches) == 1.0  # the trainer's update ran update_state
    metric.reset()
    assert metric.result() == 0.0 and float(metric.batches) == 0.0
    assert [variable.name for variable in metric.variables] == ["total", "count", "batches"]


def test_shape_mismatches_of_mean_metrics_raise_clear_errors():
    with pytest.raises(ValueError, match=r"MeanSquaredError\('mean_squared_error'\).*y_true.shape=\(4, 3\).*"
                                         r"y_pred.shape=\(4, 2\)"):
        metrics.MeanSquaredError().update_state(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"MeanAbsoluteError\('mean_absolute_error'\): sample_weight of shape "
                                         r"\(5,\)"):
        metrics.MeanAbsoluteError().update_state(np.ones((4, 3)), np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match=r"Sum\('sum'\): sample_weight of shape \(2,\)"):
        metrics.Sum().update_state(np.ones(3), np.ones(2))
