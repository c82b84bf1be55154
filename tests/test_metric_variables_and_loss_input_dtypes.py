"""Metrics list Keras' state variables; losses take integer and bool predictions as Keras does."""
import numpy as np
import pytest
import torch

from layerwise import losses, metrics

Y_TRUE = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], "float32")
Y_PRED = np.array([[.1, .8, .1], [.6, .3, .1], [.2, .2, .6], [.3, .4, .3]], "float32")

STATEFUL = [
    ("TruePositives", {}), ("FalseNegatives", {"thresholds": [.3, .6, .9]}), ("Precision", {"thresholds": [.3, .6]}),
    ("Recall", {}), ("AUC", {}), ("AUC", {"multi_label": True}), ("AUC", {"multi_label": True, "num_labels": 3}),
    ("PrecisionAtRecall", {"recall": .5}), ("SensitivityAtSpecificity", {"specificity": .5, "num_thresholds": 7}),
    ("F1Score", {}), ("FBetaScore", {"average": "micro"}), ("R2Score", {}), ("Sum", {}),
    ("MeanIoU", {"num_classes": 3}), ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}),
]


def _described(metric) -> list:
    return [(v.name, tuple(v.shape)) for v in metric.variables]


def _update(metric, name: str) -> None:
    if name == "Sum":
        metric.update_state(Y_PRED)
    elif name == "MeanIoU":
        metric.update_state(Y_TRUE.argmax(1), Y_PRED.argmax(1))
    else:
        metric.update_state(Y_TRUE, Y_PRED)


@pytest.mark.parametrize("name,kwargs", STATEFUL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(STATEFUL)])
def test_variables_as_keras(keras, name, kwargs):
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert _described(ours) == _described(theirs)  # before the first update (lazily built ones: none yet)
    _update(ours, name)
    _update(theirs, name)
    assert _described(ours) == _described(theirs) and len(ours.variables) > 0
    for mine, keras_variable in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(mine.numpy(), keras.ops.convert_to_numpy(keras_variable), rtol=1e-6, atol=1e-6)
    ours.reset_state()
    assert all(not v.numpy().any() for v in ours.variables)


def test_variables_are_the_state():
    """As Keras' variables: assigning one changes the result, and one taken earlier follows updates and resets."""
    metric = metrics.Precision()
    true_positives, false_positives = metric.variables
    metric.update_state([1, 0, 1], [.9, .8, .2])
    assert metric.result() == pytest.approx(0.5) and true_positives.numpy().tolist() == [1.0]
    false_positives.assign([0.0])
    assert metric.result() == pytest.approx(1.0)
    metric.reset_state()
    assert true_positives.numpy().tolist() == [0.0] and metric.result() == 0.0


def test_results_do_not_change_when_the_metric_is_reset():
    """Per-threshold results are copies: resetting the (in place) counts leaves a returned array as it was."""
    metric = metrics.TruePositives(thresholds=[.3, .6, .9])
    metric.update_state(Y_TRUE, Y_PRED)
    result = metric.result()
    metric.reset_state()
    assert result.tolist() == [4.0, 1.0, 0.0]


def test_sum_keeps_a_total_variable(keras):
    metric = metrics.Sum()
    (total,) = metric.variables
    metric.update_state([1.0, 2.5], sample_weight=[2.0, 1.0])
    assert total.name == "total" and float(total) == pytest.approx(4.5) == metric.result()


FUNCTIONS = {"mean_squared_error": "MeanSquaredError", "mean_absolute_error": "MeanAbsoluteError",
             "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
             "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError", "huber": "Huber", "log_cosh": "LogCosh",
             "cosine_similarity": "CosineSimilarity", "poisson": "Poisson", "kl_divergence": "KLDivergence",
             "hinge": "Hinge", "squared_hinge": "SquaredHinge", "categorical_hinge": "CategoricalHinge",
             "binary_crossentropy": "BinaryCrossentropy", "binary_focal_crossentropy": "BinaryFocalCrossentropy",
             "categorical_crossentropy": "CategoricalCrossentropy",
             "categorical_focal_crossentropy": "CategoricalFocalCrossentropy"}
TARGETS, PREDICTIONS = np.array([[0, 1, 1], [1, 0, 1]]), np.array([[1, 1, 0], [0, 2, 1]])


@pytest.mark.parametrize("kind", ["numpy", "tensor", "bool"])
@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_integer_and_bool_inputs_as_keras(keras, function, kind):
    """Integer and bool predictions are computed in floatx, as Keras' loss classes compute them (Keras' bare
    functions keep integer arithmetic, e.g. huber's 0.5 * error ** 2 rounds to 0, or fail)."""
    y_true, y_pred = (TARGETS, PREDICTIONS) if kind != "bool" else (TARGETS.astype(bool), PREDICTIONS.astype(bool))
    if kind == "tensor":
        y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    expected = keras.ops.convert_to_numpy(getattr(keras.losses, FUNCTIONS[function])(reduction=None)(y_true, y_pred))
    values = getattr(losses, function)(y_true, y_pred)
    assert values.dtype == torch.float32
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-5, atol=1e-6)
    loss = getattr(losses, FUNCTIONS[function])()(y_true, y_pred)
    assert float(loss) == pytest.approx(float(expected.mean()), rel=1e-5)


def test_mean_squared_error_of_integer_lists():
    assert losses.mean_squared_error(np.array([1, 2]), np.array([1, 3])).item() == pytest.approx(0.5)
    assert float(losses.MeanSquaredError()([[1, 2]], [[1, 3]])) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["Dice", "Tversky", "MeanSquaredError"])
def test_scalar_sample_weight_as_keras(keras, name):
    """A scalar weight scales the loss, also for Dice/Tversky whose default axis=None gives one value."""
    y_true, y_pred = Y_TRUE[:, :2], Y_PRED[:, :2]
    expected = keras.ops.convert_to_numpy(getattr(keras.losses, name)()(y_true, y_pred, sample_weight=2.0))
    assert float(getattr(losses, name)()(y_true, y_pred, sample_weight=2.0)) == pytest.approx(float(expected), 1e-5)


@pytest.mark.parametrize("name,kwargs", [("RootMeanSquaredError", {}), ("OneHotIoU", {"num_classes": 3,
                                                                                      "target_class_ids": [0, 1]}),
                                         ("OneHotMeanIoU", {"num_classes": 3}), ("Precision", {})])
def test_bool_targets_and_predictions_as_keras(keras, name, kwargs):
    y_true, y_pred = Y_TRUE.astype(bool), Y_PRED > 0.5
    theirs = getattr(keras.metrics, name)(**kwargs)
    theirs.update_state(y_true, y_pred)
    ours = getattr(metrics, name)(**kwargs)
    ours.update_state(y_true, y_pred)
    assert ours.result() == pytest.approx(float(keras.ops.convert_to_numpy(theirs.result())), rel=1e-5)
