"""Metric parity with Keras 3: every metric against keras.metrics, streamed over several batches of
several shapes, with and without sample weights; names and aliases in compile() and History; bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import metrics


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def metric_batch(kind: str, shape: tuple, seed: int):
    """One batch of targets and predictions of ``shape`` for a family of metrics."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, shape).astype("float32")
    classes = shape[-1]
    if kind == "onehot":
        return np.eye(classes, dtype="float32")[rng.integers(0, classes, shape[:-1])], _softmax(logits)
    if kind == "onehot_logits":
        return np.eye(classes, dtype="float32")[rng.integers(0, classes, shape[:-1])], logits
    if kind == "sparse":
        return rng.integers(0, classes, shape[:-1]), _softmax(logits)
    if kind == "sorted_ids":  # the class ids sorted by score, best first
        return rng.integers(0, classes, shape[:-1]), np.argsort(-logits, axis=-1).astype("float32")
    if kind == "labels":  # Accuracy compares values exactly
        return rng.integers(0, 3, shape).astype("float32"), rng.integers(0, 3, shape).astype("float32")
    if kind == "binary":
        return rng.integers(0, 2, shape).astype("float32"), (1 / (1 + np.exp(-logits))).astype("float32")
    if kind == "binary_logits":
        return rng.integers(0, 2, shape).astype("float32"), logits
    if kind == "multilabel":
        y = rng.integers(0, 2, shape).astype("float32")
        return y, np.clip(0.4 * y + rng.uniform(0, 0.7, shape), 0, 1).astype("float32")
    if kind == "signed":
        return rng.choice([-1.0, 1.0], shape).astype("float32"), logits
    if kind == "distribution":
        return _softmax(rng.normal(size=shape)), _softmax(logits)
    if kind == "counts":
        return rng.poisson(2.0, shape).astype("float32"), rng.uniform(0.1, 4, shape).astype("float32")
    y = rng.normal(size=shape).astype("float32")
    return y, (y + rng.normal(0, 0.7, shape)).astype("float32")


MEAN_METRICS = [  # (class, kwargs, data kind): metrics Keras averages per sample
    ("Accuracy", {}, "labels"),
    ("BinaryCrossentropy", {}, "binary"), ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
                                           "binary_logits"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_logits"),
    ("SparseCategoricalCrossentropy", {}, "sparse"), ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"), ("TopKCategoricalAccuracy", {}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 3, "from_sorted_ids": True}, "sorted_ids"),
    ("RootMeanSquaredError", {}, "regression"), ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "regression"), ("LogCoshError", {}, "regression"),
    ("Hinge", {}, "binary"), ("Hinge", {}, "signed"), ("SquaredHinge", {}, "signed"),
    ("CategoricalHinge", {}, "onehot"), ("KLDivergence", {}, "distribution"), ("Poisson", {}, "counts"),
    ("CosineSimilarity", {}, "regression"), ("CosineSimilarity", {"axis": 1}, "regression"),
]


def _stream(keras_metric, our_metric, kind: str, shape: tuple, weighted: bool, batches: int = 3):
    """Feed the same batches (numpy to Keras, tensors to layerwise) and return both results."""
    for seed in range(batches):
        y, pred = metric_batch(kind, shape, seed)
        weight = np.random.default_rng(50 + seed).uniform(0, 2, shape[0]).astype("float32") if weighted else None
        keras_metric.update_state(y, pred, sample_weight=weight)
        our_metric.update(torch.from_numpy(np.asarray(y)), torch.from_numpy(pred),
                          None if weight is None else torch.from_numpy(weight))
    return our_metric.result(), np.asarray(keras_metric.result())


# axis=1 on 2-D data is the features axis, which the default already covers: only 3-D data for it.
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cls,kwargs,kind,shape", [(*case, shape) for case in MEAN_METRICS
                                                   for shape in [(6, 5), (4, 3, 5)]
                                                   if not (case[1].get("axis") == 1 and len(shape) == 2)])
def test_mean_metrics_stream_like_keras(keras, cls, kwargs, kind, shape, weighted):
    got, expected = _stream(getattr(keras.metrics, cls)(**kwargs), getattr(metrics, cls)(**kwargs), kind, shape,
                            weighted)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


STATEFUL_METRICS = [  # (class, kwargs, data kind, shape)
    ("R2Score", {}, "regression", (8, 3)), ("R2Score", {"class_aggregation": None}, "regression", (8, 3)),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, "regression", (8, 3)),
    ("R2Score", {"num_regressors": 2}, "regression", (8, 1)),
    ("F1Score", {}, "onehot", (8, 4)), ("F1Score", {"average": "micro"}, "onehot", (8, 4)),
    ("F1Score", {"average": "macro", "threshold": 0.3}, "multilabel", (8, 4)),
    ("F1Score", {"average": "weighted"}, "multilabel", (8, 4)),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, "onehot", (8, 4)),
    ("FBetaScore", {"beta": 0.5, "threshold": 0.5}, "multilabel", (8, 4)),
    ("TruePositives", {}, "binary", (8, 1)), ("FalsePositives", {}, "multilabel", (8, 3)),
    ("TrueNegatives", {"thresholds": [0.2, 0.5, 0.9]}, "binary", (8, 1)),
    ("FalseNegatives", {"thresholds": 0.7}, "multilabel", (8, 3)),
    ("TruePositives", {"thresholds": [0.0, 1.0]}, "binary", (8,)),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cls,kwargs,kind,shape", STATEFUL_METRICS)
def test_stateful_metrics_stream_like_keras(keras, cls, kwargs, kind, shape, weighted):
    got, expected = _stream(getattr(keras.metrics, cls)(**kwargs), getattr(metrics, cls)(**kwargs), kind, shape,
                            weighted)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_sum_and_mean_of_values(keras):
    values = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    weight = np.array([1.0, 0.0, 2.0, 0.5, 1.0], "float32")
    for cls in ("Sum", "Mean"):
        ours, theirs = getattr(metrics, cls)(), getattr(keras.metrics, cls)()
        for sw in (None, weight):
            ours.update_state(values, sample_weight=sw)
            theirs.update_state(values, sample_weight=sw)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6)
        ours.reset_state()
        assert ours.result() == 0.0


def test_reset_starts_afresh_and_results_stay_on_the_device():
    metric = metrics.RootMeanSquaredError()
    metric.update(torch.zeros(4, 2), torch.ones(4, 2))
    assert isinstance(metric.total, torch.Tensor)  # accumulated as a tensor: no sync in update
    assert metric.result() == pytest.approx(1.0)
    metric.reset()
    metric.update(torch.zeros(2, 2), torch.full((2, 2), 3.0))
    assert metric.result() == pytest.approx(3.0)


@pytest.mark.parametrize("cls,kwargs", [
    ("TopKCategoricalAccuracy", {"k": 3}), ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}),
    ("F1Score", {"average": "macro", "threshold": 0.4}), ("FBetaScore", {"beta": 2.0}),
    ("R2Score", {"class_aggregation": None, "num_regressors": 1}),
    ("TruePositives", {"thresholds": [0.3, 0.6], "name": "tp"}),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}), ("CategoricalCrossentropy", {"axis": -1}),
    ("SparseCategoricalCrossentropy", {"from_logits": True}), ("LogCoshError", {}), ("Accuracy", {"name": "acc2"}),
])
def test_config_matches_keras_and_round_trips(keras, cls, kwargs):
    ours = getattr(metrics, cls)(**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.metrics, cls)(**kwargs).get_config()
    assert getattr(metrics, cls).from_config(config).get_config() == config


@pytest.mark.parametrize("name", ["mape", "MAPE", "msle", "bce", "r2_score", "R2Score", "f1_score",
                                  "f_beta_score", "log_cosh_error", "kl_divergence", "top_k_categorical_accuracy",
                                  "sparse_top_k_categorical_accuracy", "root_mean_squared_error", "true_positives",
                                  "cosine_similarity", "poisson", "categorical_hinge", "sum", "accuracy"])
def test_metric_names_resolve_like_keras(keras, name):
    ours, theirs = metrics.get(name), keras.metrics.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == name  # compile logs a metric under the name it was given


def _twin_regressors(keras, units: int = 3, activation: str = "softmax"):
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation=activation)])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(units, activation=activation)])
    weights = [w.astype("float32") for w in
               (np.random.default_rng(3).normal(0, 0.5, (4, units)), np.zeros(units))]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    return k_model, lw_model


def my_abs_error(y_true, y_pred):
    return abs(y_true - y_pred).mean(-1)  # torch tensors in both libraries (Keras' torch backend)


def test_fit_and_evaluate_log_new_losses_and_metrics_as_keras(keras):
    """String-named new losses and metrics, a Metric class, a metric object and a plain function: History
    and evaluate() have Keras' keys and values."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = _softmax(rng.normal(size=(24, 3)))
    x_val, y_val = x[:8] + 0.1, y[:8]
    k_model, lw_model = _twin_regressors(keras)
    names = ["mape", "msle", "log_cosh_error", "cosine_similarity", "r2_score", "kl_divergence", "poisson",
             "categorical_hinge", "categorical_crossentropy"]
    k_model.compile(optimizer="sgd", loss="kld",
                    metrics=[*names, keras.metrics.RootMeanSquaredError, keras.metrics.F1Score(average="macro"),
                             my_abs_error])
    lw_model.compile(optimizer="sgd", loss="kld",
                     metrics=[*names, metrics.RootMeanSquaredError, metrics.F1Score(average="macro"), my_abs_error])
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x_val, y_val))
    expected = k_model.fit(x, y, **fit).history
    got = lw_model.fit(x, y, **fit).history
    assert sorted(got) == sorted(expected)
    assert {"val_log_cosh_error", "root_mean_squared_error", "f1_score", "my_abs_error", "mape"} <= set(got)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)
    k_eval = k_model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    lw_eval = lw_model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert sorted(lw_eval) == sorted(k_eval)
    for key in k_eval:
        assert lw_eval[key] == pytest.approx(float(k_eval[key]), rel=2e-5, abs=1e-6), key


def test_fit_with_focal_loss_and_binary_metrics(keras):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 4)).astype("float32")
    y = rng.integers(0, 2, (20, 1)).astype("float32")
    k_model, lw_model = _twin_regressors(keras, 1, "sigmoid")
    names = ["hinge", "squared_hinge", "true_positives", "false_negatives", "bce"]
    k_model.compile(optimizer="sgd", loss="binary_focal_crossentropy", metrics=names)
    lw_model.compile(optimizer="sgd", loss="binary_focal_crossentropy", metrics=names)
    expected = k_model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0).history
    got = lw_model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0).history
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"F1Score: average must be one of .*received average='mean'"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="FBetaScore: beta must be a float > 0; received beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match="F1Score: threshold must be None or a float with 0 < threshold <= 1"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match="F1Score expects one-hot or multi-label targets.*y_true.shape=\\(4,\\)"):
        metrics.F1Score().update(torch.tensor([0, 1, 2, 1]), torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"TopKCategoricalAccuracy: k=6 is larger than the number of classes, 4"):
        metrics.TopKCategoricalAccuracy(k=6).update(torch.eye(4), torch.rand(4, 4))
    with pytest.raises(ValueError, match=r"SparseTopKCategoricalAccuracy: k=5 is larger .* classes, 3"):
        metrics.SparseTopKCategoricalAccuracy().update(torch.tensor([0, 1]), torch.rand(2, 3))
    with pytest.raises(ValueError, match="TopKCategoricalAccuracy: k must be a positive integer; received k=0"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"R2Score expects .*\(batch, outputs\).*y_pred.shape=\(2, 3, 1\)"):
        metrics.R2Score().update(torch.rand(2, 3, 1), torch.rand(2, 3, 1))
    with pytest.raises(ValueError, match="R2Score: class_aggregation must be one of"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match=r"TruePositives: thresholds must be .* in \[0, 1\]; received"):
        metrics.TruePositives(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="Unknown metric 'logcosh'"):
        metrics.get("logcosh")
    with pytest.raises(ValueError, match="A metric must be a name, a Metric or a function"):
        metrics.get(3)


def test_compile_rejects_unknown_metric_names():
    model = layerwise.Sequential([layerwise.Input((2,)), layerwise.layers.Dense(1)])
    with pytest.raises(ValueError, match="Unknown metric 'rmse'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["rmse"])


# Precision, Recall and AUC: thresholds, top_k, class_id, curves, summation methods, multi-label, saving.

THRESHOLD_METRICS = [  # (class, kwargs, data kind, shape)
    ("Precision", {}, "multilabel", (8, 3)), ("Recall", {}, "binary", (8, 1)),
    ("Precision", {"thresholds": [0.3, 0.7]}, "multilabel", (8, 3)),
    ("Recall", {"thresholds": [0.7, 0.2, 0.5]}, "multilabel", (8, 3)),
    ("Precision", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "binary", (8,)),  # Keras' even-grid path
    ("Precision", {"top_k": 2}, "onehot", (8, 4)), ("Recall", {"top_k": 1}, "onehot", (8, 4)),
    ("Precision", {"class_id": 1}, "multilabel", (8, 3)), ("Recall", {"class_id": 2}, "onehot", (8, 4)),
    ("Recall", {"top_k": 2, "class_id": 3, "thresholds": [0.1, 0.6]}, "onehot", (8, 4)),
    ("Precision", {"top_k": 3, "thresholds": 0.2}, "multilabel", (8, 5)),
    ("AUC", {}, "multilabel", (16, 3)), ("AUC", {"num_thresholds": 7}, "binary", (16,)),
    ("AUC", {"curve": "PR"}, "multilabel", (16, 3)), ("AUC", {"curve": "pr", "num_thresholds": 30}, "binary", (16, 1)),
    ("AUC", {"summation_method": "minoring"}, "multilabel", (16, 3)),
    ("AUC", {"summation_method": "majoring"}, "multilabel", (16, 3)),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "multilabel", (16, 3)),
    ("AUC", {"curve": "PR", "summation_method": "Majoring"}, "multilabel", (16, 3)),
    ("AUC", {"curve": "PRGAIN"}, "multilabel", (16, 3)),
    ("AUC", {"thresholds": [0.9, 0.1, 0.5, 0.3]}, "multilabel", (16, 3)),  # uneven: compared one by one
    ("AUC", {"thresholds": [0.25, 0.5, 0.75], "curve": "PR"}, "multilabel", (16, 3)),  # even: Keras' grid
    ("AUC", {"multi_label": True}, "multilabel", (16, 3)),
    ("AUC", {"multi_label": True, "num_labels": 3, "curve": "PR"}, "multilabel", (16, 3)),
    ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.5], "summation_method": "majoring"},
     "multilabel", (16, 3)),
    ("AUC", {"label_weights": [0.2, 1.0, 0.5]}, "multilabel", (16, 3)),
    ("AUC", {"from_logits": True, "num_thresholds": 50}, "binary_logits", (16, 2)),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cls,kwargs,kind,shape", THRESHOLD_METRICS)
def test_precision_recall_auc_stream_like_keras(keras, cls, kwargs, kind, shape, weighted):
    got, expected = _stream(getattr(keras.metrics, cls)(**kwargs), getattr(metrics, cls)(**kwargs), kind, shape,
                            weighted, batches=4)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", [
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}), ("Recall", {"thresholds": [0.5, 0.25, 0.0]}),
    ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}), ("AUC", {}), ("AUC", {"num_thresholds": 3}),
    ("AUC", {"curve": "PR"}), ("AUC", {"thresholds": [0.0, 0.5, 1.0]}), ("AUC", {"thresholds": [0.5]}),
])
def test_predictions_on_and_beyond_the_thresholds_count_as_keras(keras, cls, kwargs):
    """Exactly 0, 0.5 and 1, and values outside [0, 1]: the even grid clips them, the other thresholds do not."""
    y = np.array([0, 1, 1, 0, 1, 0, 1, 0], "float32")
    pred = np.array([0.0, 0.5, 1.0, 1.0, -0.5, 1.5, 0.25, 0.5], "float32")
    ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
    ours.update_state(y, pred)
    theirs.update_state(y, pred)
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-6, atol=1e-7)


def test_threshold_metrics_by_hand():
    y = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    pred = torch.tensor([[0.9, 0.8, 0.1], [0.6, 0.7, 0.2]])
    top1 = metrics.Precision(top_k=1)
    top1.update(y, pred)
    assert top1.result() == pytest.approx(1.0)  # 0.9 and 0.7 are both positives
    by_threshold = metrics.Recall(thresholds=[0.5, 0.05])
    by_threshold.update(y, pred, torch.tensor([1.0, 3.0]))
    np.testing.assert_allclose(by_threshold.result(), [4 / 5, 1.0])
    column = metrics.Precision(class_id=0)
    column.update(y, pred)
    assert column.result() == pytest.approx(0.5)
    assert isinstance(column.counts, torch.Tensor) and column.counts.shape == (4, 1)  # no sync in update
    perfect = metrics.AUC(curve="PR", multi_label=True)
    perfect.update(torch.tensor([[1.0, 0], [0, 1]]), torch.tensor([[0.9, 0.2], [0.1, 0.8]]))
    assert perfect.result() == pytest.approx(1.0, abs=1e-6)
    assert perfect.counts.shape == (4, 200, 2)
    perfect.reset_state()
    assert perfect.result() == 0.0
    assert metrics.Precision(thresholds=[0.3, 0.7]).result().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("cls,kwargs", [
    ("Precision", {"thresholds": [0.3, 0.7], "name": "p2"}), ("Precision", {"thresholds": 0.4, "name": "p1"}),
    ("Recall", {"top_k": 2, "class_id": 1, "name": "r", "dtype": "float64"}),
    ("AUC", {"name": "auc_a"}),
    ("AUC", {"num_thresholds": 50, "curve": "pr", "summation_method": "Minoring", "multi_label": True,
             "num_labels": 3, "from_logits": True, "name": "auc_b"}),
    ("AUC", {"thresholds": [0.7, 0.2], "curve": "PRGAIN", "name": "auc_c"}),
])
def test_threshold_metric_configs_match_keras_and_round_trip(keras, cls, kwargs):
    ours = getattr(metrics, cls)(**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.metrics, cls)(**kwargs).get_config()
    again = getattr(metrics, cls).from_config(config)
    assert again.get_config() == config
    assert again.thresholds == ours.thresholds


def test_auc_label_weights_round_trip():
    ours = metrics.AUC(multi_label=True, label_weights=[0.5, 2.0], name="w")
    config = ours.get_config()
    assert config["label_weights"] == [0.5, 2.0]
    assert metrics.AUC.from_config(config).get_config() == config


def test_model_with_precision_recall_auc_saves_loads_and_evaluates_as_keras(keras, tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (rng.uniform(size=(40, 3)) < 0.5).astype("float32")
    k_model, lw_model = _twin_regressors(keras, 3, "sigmoid")

    def chosen(lib):
        # Named: Keras numbers the default names of every metric object made in the session.
        return [lib.metrics.Precision(thresholds=[0.3, 0.7], name="precision"),
                lib.metrics.Recall(class_id=1, name="recall"),
                lib.metrics.AUC(curve="PR", multi_label=True, name="pr_auc"),
                lib.metrics.AUC(from_logits=True, num_thresholds=20, name="auc")]

    k_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen(keras))
    lw_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen(layerwise))
    fit = dict(batch_size=16, epochs=2, shuffle=False, verbose=0)
    expected = k_model.fit(x, y, **fit).history
    got = lw_model.fit(x, y, **fit).history
    assert sorted(got) == sorted(expected) == ["auc", "loss", "pr_auc", "precision", "recall"]
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)
    before = lw_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    after = loaded.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    k_eval = k_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert sorted(after) == sorted(before) == sorted(k_eval)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(after[key], np.asarray(k_eval[key]), rtol=2e-5, atol=1e-6, err_msg=key)
    assert np.shape(after["precision"]) == (2,)


def test_precision_recall_auc_bad_input():
    with pytest.raises(ValueError, match=r"AUC: curve must be one of 'ROC', 'PR', 'PRGAIN'.*received curve='Roc'"):
        metrics.AUC(curve="Roc")
    with pytest.raises(ValueError, match="AUC: summation_method must be one of .*received summation_method='trapz'"):
        metrics.AUC(summation_method="trapz")
    with pytest.raises(ValueError, match=r"AUC: thresholds must be .* in \[0, 1\]; received thresholds=\[0.2, 1.2\]"):
        metrics.AUC(thresholds=[0.2, 1.2])
    with pytest.raises(ValueError, match=r"Precision: thresholds must be .* in \[0, 1\]; received thresholds=-0.1"):
        metrics.Precision(thresholds=-0.1)
    with pytest.raises(ValueError, match=r"Recall: thresholds must be .*received thresholds=\[0.5, None\]"):
        metrics.Recall(thresholds=[0.5, None])
    with pytest.raises(ValueError, match="AUC: num_thresholds must be an integer > 1; received num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="AUC: num_labels is needed only with multi_label=True"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="Precision: top_k must be None or an integer >= 1; received top_k=0"):
        metrics.Precision(top_k=0)
    with pytest.raises(ValueError, match="Recall: class_id must be None or an integer >= 0; received class_id=-1"):
        metrics.Recall(class_id=-1)
    with pytest.raises(ValueError, match=r"Recall: class_id=3 is out of range for predictions of 3 classes"):
        metrics.Recall(class_id=3).update(torch.eye(3), torch.rand(3, 3))
    with pytest.raises(ValueError, match=r"Precision: class_id needs predictions of shape \(batch, classes\)"):
        metrics.Precision(class_id=0).update(torch.ones(4), torch.rand(4))
    with pytest.raises(ValueError, match=r"Precision: top_k=5 is larger than the number of classes, 3"):
        metrics.Precision(top_k=5).update(torch.eye(3), torch.rand(3, 3))
    with pytest.raises(ValueError, match=r"AUC\(multi_label=True\) expects predictions of shape \(batch, labels\)"):
        metrics.AUC(multi_label=True).update(torch.ones(4), torch.rand(4))
    with pytest.raises(ValueError, match=r"AUC: num_labels=2 but the predictions have 3 labels"):
        metrics.AUC(multi_label=True, num_labels=2).update(torch.eye(3), torch.rand(3, 3))
    with pytest.raises(ValueError, match=r"Precision expects targets of the predictions' shape; .*y_true.shape=\(4,\)"):
        metrics.Precision().update(torch.ones(4), torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"Recall: the weights of shape \(2, 1\) .* do not broadcast to .*\(4, 3\)"):
        metrics.Recall().update(torch.ones(4, 3), torch.rand(4, 3), torch.ones(2))
