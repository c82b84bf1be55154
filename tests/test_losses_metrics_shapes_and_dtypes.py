"""Losses and metrics, each checked side by side with Keras 3 (torch backend): shape checks of
the crossentropies, float32 loss values for half-precision inputs, ``l2_normalize`` in float16, the
``ignore_class`` of the sparse crossentropy metric, results after ``reset_state()``, the default name of
``MeanMetricWrapper``, and the shapes a user's loss function is handed."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import losses, metrics

RNG = np.random.default_rng(5)
PROBS = RNG.random((4, 3)).astype("float32")
PROBS /= PROBS.sum(-1, keepdims=True)
LABELS = np.array([0, 2, 1, 2])
HALF_TRUE = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
HALF_PRED = [[0.5, 0.2, 3.0], [1.0, 2.0, -1.0]]


def _half(dtype: torch.dtype = torch.float16) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(HALF_TRUE, dtype=dtype), torch.tensor(HALF_PRED, dtype=dtype)


def _value(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().float() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


# ---- 1. sparse categorical crossentropy: labels must have y_pred's shape without the classes -----------------

@pytest.mark.parametrize("make", [
    lambda lib: lib.losses.SparseCategoricalCrossentropy(),
    lambda lib: lib.losses.SparseCategoricalCrossentropy(from_logits=True),
    lambda lib: lib.losses.sparse_categorical_crossentropy,
    lambda lib: lib.metrics.SparseCategoricalCrossentropy(),
], ids=["loss", "loss_logits", "function", "metric"])
def test_sparse_crossentropy_rejects_labels_of_another_batch(keras, make):
    with pytest.raises(ValueError, match="same shape up until the last dimension"):
        make(keras)(LABELS[:3], PROBS)
    with pytest.raises(ValueError, match=r"y_true.shape=\(3,\) for predictions of shape \(4, 3\)"):
        make(lw)(LABELS[:3], PROBS)


def test_sparse_crossentropy_rejects_labels_without_the_steps(keras):
    logits = RNG.normal(size=(2, 5, 3)).astype("float32")
    labels = np.array([[0, 1, 2], [1, 1, 0]])
    with pytest.raises(ValueError, match="same shape up until the last dimension"):
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    with pytest.raises(ValueError, match=r"\(2, 3\) for predictions of shape \(2, 5, 3\)"):
        losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)


def test_fit_rejects_sparse_labels_without_the_steps(keras):
    x = RNG.random((8, 5, 4)).astype("float32")
    y = RNG.integers(0, 3, (8, 3))
    reference = keras.Sequential([keras.layers.Input((5, 4)), keras.layers.Dense(3)])
    reference.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    with pytest.raises(ValueError, match="same shape up until the last dimension"):
        reference.fit(x, y, epochs=1, verbose=0)
    model = lw.Sequential([lw.layers.Input((5, 4)), lw.layers.Dense(3)])
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    with pytest.raises(ValueError, match=r"y_true.shape=\(\d+, 3\) for predictions of shape \(\d+, 5, 3\)"):
        model.fit(x, y, epochs=1, verbose=0)


def test_sparse_crossentropy_one_hot_labels_say_what_to_use(keras):
    one_hot = np.eye(3, dtype="float32")[LABELS]
    with pytest.raises(ValueError, match="same shape up until the last dimension"):
        keras.losses.SparseCategoricalCrossentropy()(one_hot, PROBS)
    with pytest.raises(ValueError, match="one-hot rows: use categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()(one_hot, PROBS)


@pytest.mark.parametrize("labels, low, high", [([0, 5, 1, 2], 0, 5), ([0, -1, 1, 2], -1, 2)])
def test_sparse_crossentropy_out_of_range_labels_raise_a_value_error(keras, labels, low, high):
    with pytest.raises((IndexError, RuntimeError)):  # Keras lets torch's error through
        keras.losses.SparseCategoricalCrossentropy()(np.array(labels), PROBS)
    message = rf"class ids in \[0, 2\] for predictions of 3 classes; received labels from {low} to {high}"
    with pytest.raises(ValueError, match=message):
        losses.SparseCategoricalCrossentropy()(np.array(labels), PROBS)
    with pytest.raises(ValueError, match=message):
        losses.sparse_categorical_crossentropy(np.array(labels), PROBS)


def test_sparse_crossentropy_squeezes_the_classes_axis_as_keras(keras):
    logits = RNG.normal(size=(2, 3, 4)).astype("float32")
    labels = RNG.integers(0, 3, (2, 1, 4))  # the size-1 axis is the classes axis, not the last
    ours = losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)(labels, logits)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)(labels, logits)
    np.testing.assert_allclose(_value(ours), _value(theirs), rtol=1e-6)


# ---- 2. categorical crossentropy: targets must have y_pred's shape -----------------------------------------

@pytest.mark.parametrize("labels", [LABELS, LABELS[:, None]], ids=["labels", "column"])
@pytest.mark.parametrize("make", [
    lambda lib: lib.losses.CategoricalCrossentropy(),
    lambda lib: lib.losses.get("categorical_crossentropy"),
    lambda lib: lib.losses.categorical_crossentropy,
], ids=["loss", "get", "function"])
def test_categorical_crossentropy_rejects_integer_labels(keras, make, labels):
    with pytest.raises(ValueError, match="must have the same shape"):
        make(keras)(labels, PROBS)
    shape = str(labels.shape).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"y_true.shape={shape}, y_pred.shape=\(4, 3\).*sparse_categorical"):
        make(lw)(labels, PROBS)


def test_categorical_crossentropy_still_expands_a_rank_one_partner(keras):
    y_true, y_pred = np.ones((3, 1), "float32"), np.full(3, 0.5, "float32")
    ours = losses.CategoricalCrossentropy()(y_true, y_pred)
    theirs = keras.losses.CategoricalCrossentropy()(y_true, y_pred)
    np.testing.assert_allclose(_value(ours), _value(theirs), rtol=1e-6)


# ---- 3. loss objects compute in float32 for half-precision inputs ------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["MeanAbsolutePercentageError", "CosineSimilarity", "MeanSquaredError",
                                  "BinaryCrossentropy", "Hinge"])
def test_half_precision_losses_are_float32_as_in_keras(keras, name, dtype):
    y_true, y_pred = _half(dtype)
    ours = getattr(losses, name)()(y_true, y_pred)
    theirs = getattr(keras.losses, name)()(y_true, y_pred)
    assert ours.dtype == theirs.dtype == torch.float32
    np.testing.assert_allclose(_value(ours), _value(theirs), rtol=1e-5)


def test_half_precision_crossentropies_with_labels_are_float32(keras):
    logits = torch.tensor(RNG.normal(size=(4, 3)), dtype=torch.float16)
    for make in (lambda lib: lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                 lambda lib: lib.losses.CategoricalCrossentropy(from_logits=True)):
        targets = torch.tensor(LABELS) if make(lw).fn is losses.sparse_categorical_crossentropy else \
            torch.eye(3, dtype=torch.float16)[LABELS]
        ours, theirs = make(lw)(targets, logits), make(keras)(targets, logits)
        assert ours.dtype == theirs.dtype == torch.float32
        np.testing.assert_allclose(_value(ours), _value(theirs), rtol=1e-5)


def test_loss_dtype_argument_keeps_float16(keras):
    y_true, y_pred = _half()
    ours = losses.MeanSquaredError(dtype="float16")(y_true, y_pred)
    theirs = keras.losses.MeanSquaredError(dtype="float16")(y_true, y_pred)
    assert ours.dtype == theirs.dtype == torch.float16
    np.testing.assert_allclose(_value(ours), _value(theirs), rtol=1e-3)


# ---- 4. l2_normalize does not overflow float16 -------------------------------------------------------------

def test_cosine_similarity_in_float16_as_keras(keras):
    y_true, y_pred = _half()
    ours = losses.CosineSimilarity(dtype="float16")(y_true, y_pred)
    theirs = keras.losses.CosineSimilarity(dtype="float16")(y_true, y_pred)
    assert ours.dtype == torch.float16
    np.testing.assert_allclose(_value(ours), _value(theirs), atol=1e-3)

    ours_metric, theirs_metric = metrics.CosineSimilarity(), keras.metrics.CosineSimilarity()
    ours_metric.update_state(y_true, y_pred)
    theirs_metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(ours_metric.result(), _value(theirs_metric.result()), atol=1e-3)


def test_l2_normalize_keeps_dtype_and_zero_vectors():
    x = torch.tensor([[300.0, 400.0], [0.0, 0.0]], dtype=torch.float16)
    normalized = losses.functions.l2_normalize(x)
    assert normalized.dtype == torch.float16
    np.testing.assert_allclose(_value(normalized), [[0.6, 0.8], [0.0, 0.0]], atol=1e-3)


# ---- 5. the sparse crossentropy metric takes ignore_class, as Keras 3.15 ------------------------------------

def test_sparse_crossentropy_metric_ignore_class_counts_ignored_entries_as_zero(keras):
    logits = np.array([[1.0, 2, 3], [0, 1, 0], [2, 0, 1], [1, 1, 1], [0, 3, 1]], "float32")
    labels = np.array([0, 1, 2, 1, 0])
    ours = metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)
    theirs = keras.metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)
    np.testing.assert_allclose(ours(labels, logits), _value(theirs(labels, logits)), rtol=1e-6)
    assert ours.get_config() == theirs.get_config()
    # The loss, unlike the metric, averages over the entries that are not ignored.
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(labels, logits)
    assert abs(float(loss) - ours.result() * 5 / 3) < 1e-5


# ---- 6. results after reset_state() keep their shape --------------------------------------------------------

@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("make", [lambda lib, average: lib.metrics.F1Score(average=average),
                                  lambda lib, average: lib.metrics.FBetaScore(average=average, beta=2.0)],
                         ids=["f1", "fbeta"])
def test_fbeta_result_after_reset_as_keras(keras, make, average):
    y_true, y_pred = np.round(PROBS), RNG.random((4, 3)).astype("float32")
    results = []
    for lib in (lw, keras):
        metric = make(lib, average)
        metric.update_state(y_true, y_pred)
        metric.reset_state()
        results.append(_value(metric.result()))
    assert results[0].shape == results[1].shape
    np.testing.assert_allclose(results[0], results[1])


@pytest.mark.parametrize("num_regressors", [0, 2])
@pytest.mark.parametrize("aggregation", ["uniform_average", None, "variance_weighted_average"])
def test_r2_result_after_reset_as_keras(keras, aggregation, num_regressors):
    y_true, y_pred = RNG.random((6, 3)).astype("float32"), RNG.random((6, 3)).astype("float32")
    results = []
    for lib in (lw, keras):
        metric = lib.metrics.R2Score(aggregation, num_regressors)
        metric.update_state(y_true, y_pred)
        metric.reset_state()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the adjusted score's fallback, which both announce
            results.append(_value(metric.result()))
    assert results[0].shape == results[1].shape
    assert np.isnan(results[0]).all() and np.isnan(results[1]).all()


def test_results_before_any_update():
    # Keras fails here (its state is built by the first update); the shapes are not known yet.
    assert np.isnan(metrics.R2Score().result())
    assert metrics.F1Score().result() == 0.0


# ---- 7. MeanMetricWrapper is named as Keras names it ------------------------------------------------------

def test_mean_metric_wrapper_default_name_as_keras(keras):
    def relative_error(y_true, y_pred):
        return abs(y_pred - y_true)

    lw.backend.clear_session()
    keras.backend.clear_session()
    ours = [metrics.MeanMetricWrapper(relative_error).name for _ in range(2)]
    theirs = [keras.metrics.MeanMetricWrapper(relative_error).name for _ in range(2)]
    assert ours == theirs == ["mean_metric_wrapper", "mean_metric_wrapper_1"]
    assert metrics.MeanMetricWrapper(relative_error, name="err").name == "err"


def test_compiled_metric_functions_keep_their_log_names(keras):
    def relative_error(y_true, y_pred):
        return abs(y_pred - y_true)

    def MeanGap(y_true, y_pred):  # noqa: N802 (Keras logs it in snake case)
        return abs(y_pred - y_true)

    x, y = RNG.random((8, 4)).astype("float32"), RNG.random((8, 2)).astype("float32")
    names = []
    for lib in (lw, keras):
        model = lib.Sequential([lib.layers.Input((4,)), lib.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse", metrics=[relative_error, lib.metrics.mean_absolute_error,
                                                            MeanGap, lambda y_true, y_pred: y_pred])
        names.append(sorted(model.evaluate(x, y, verbose=0, return_dict=True)))
    assert names[0] == names[1]
    # A lambda was logged as '<lambda>': Keras drops the characters a name cannot hold.
    assert {"relative_error", "mean_absolute_error", "mean_gap", "lambda"} <= set(names[0])


# ---- ranks handed to a user's loss function ----------------------------------------------------------------------

@pytest.mark.parametrize("true_shape, pred_shape",
                         [((4,), (4, 3)), ((4,), (4, 1)), ((4, 1), (4,)), ((4, 2), (4, 2, 3))])
def test_a_user_loss_function_gets_the_shapes_keras_hands_it(keras, true_shape, pred_shape):
    """Only Keras' size-1 squeeze/expand: a rank-1 y against (n, 3) predictions reaches the function as it is (it
    broadcasts as a row there), where a built-in loss compares each target with every prediction of its row."""
    seen = []

    def shapes_loss(y_true, y_pred):
        seen.append((tuple(y_true.shape), tuple(y_pred.shape)))
        return (y_pred * 0.0).sum() + (y_true * 0.0).sum()

    y_true, y_pred = RNG.random(true_shape).astype("float32"), RNG.random(pred_shape).astype("float32")
    keras.src.losses.losses.LossFunctionWrapper(shapes_loss)(y_true, y_pred)  # what compile(loss=fn) makes
    losses.get(shapes_loss)(y_true, y_pred)
    keras_shapes, our_shapes = seen
    assert our_shapes == keras_shapes
    if true_shape == (4,) and pred_shape == (4, 3):
        assert keras_shapes == ((4,), (4, 3))
        built_in = losses.get("mean_squared_error")(y_true, y_pred)
        expected = np.mean((y_pred - y_true[:, None]) ** 2)
        assert _value(built_in) == pytest.approx(expected, rel=1e-6)
