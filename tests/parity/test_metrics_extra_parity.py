"""Parity with Keras 3 of the IoU metrics, the correlation metrics and the metrics at a constraint
(PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity): streamed over
several batches with and without sample weights, in compile()/fit() and through save/load, configs, bad input."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import layerwise
from layerwise import metrics


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def batch_of(kind: str, shape: tuple, seed: int):
    """Targets and predictions of ``shape`` for one family, predictions leaning towards the targets so
    that no result is trivially 0 or 1."""
    rng = np.random.default_rng(seed)
    if kind == "ids":  # class ids 0..3, predictions off by one now and then, some out of range (-1, 4)
        y = rng.integers(0, 4, shape)
        return y, np.where(rng.uniform(size=shape) < 0.6, y, rng.integers(-1, 5, shape))
    if kind == "onehot":  # (..., 3) one-hot targets and softmax scores
        y = rng.integers(0, 3, shape[:-1])
        return np.eye(3, dtype="float32")[y], _softmax(2.0 * np.eye(3)[y] + rng.normal(0, 1.2, shape))
    if kind == "onehot_ids":
        y = rng.integers(0, 3, shape[:-1])
        return np.eye(3, dtype="float32")[y], np.where(rng.uniform(size=y.shape) < 0.6, y, rng.integers(0, 3, y.shape))
    if kind in ("binary", "binary_logits"):  # 0/1 targets; scores in [0, 1] (or logits)
        y = rng.integers(0, 2, shape).astype("float32")
        logits = (2 * y - 1) + rng.normal(0, 1.5, shape)
        return y, (logits if kind == "binary_logits" else 1 / (1 + np.exp(-logits))).astype("float32")
    y = rng.normal(size=shape).astype("float32")  # regression
    return y, (0.8 * y + 0.3 + rng.normal(0, 0.6, shape)).astype("float32")


def stream(keras_metric, our_metric, kind: str, shape: tuple, weights: str | None, batches: int = 3):
    """Feed the same batches to both (numpy to Keras, torch tensors to layerwise); both results (tensors).
    ``weights``: None, "sample" (one per sample) or "entry" (one per target entry)."""
    for seed in range(batches):
        y, pred = batch_of(kind, shape, seed)
        weight = None
        if weights is not None:
            weight_shape = shape[:1] if weights == "sample" else shape[:-1] if kind.startswith("onehot") else shape
            weight = np.random.default_rng(50 + seed).uniform(0, 3, weight_shape).astype("float32")
        with warnings.catch_warnings():  # an int IoU truncates float weights: both libraries warn
            warnings.simplefilter("ignore")
            keras_metric.update_state(y, pred, sample_weight=weight)
            our_metric.update(torch.from_numpy(np.asarray(y)), torch.from_numpy(np.asarray(pred)),
                              None if weight is None else torch.from_numpy(weight))
    return our_metric.result(), keras_metric.result()


CASES = [  # (class, kwargs, data kind, shape, weights)
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "ids", (6, 5), None),
    ("IoU", {"num_classes": 4, "target_class_ids": [3]}, "ids", (6, 5), "entry"),  # int: weights truncated
    ("IoU", {"num_classes": 4, "target_class_ids": (1, 2, 3), "ignore_class": 0, "dtype": "float32"}, "ids",
     (6, 5), "entry"),
    ("MeanIoU", {"num_classes": 4}, "ids", (6, 5), None),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 2, "dtype": "float32"}, "ids", (6, 5), "entry"),
    ("MeanIoU", {"num_classes": 5}, "ids", (8,), "sample"),  # class 4 never occurs: left out of the mean
    ("MeanIoU", {"num_classes": 3, "sparse_y_true": False, "sparse_y_pred": False, "dtype": "float32"}, "onehot",
     (8, 3), "sample"),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1, 2]}, "onehot", (4, 5, 3), None),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [0], "dtype": "float32"}, "onehot", (4, 5, 3), "entry"),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [0, 1], "sparse_y_pred": True, "ignore_class": 1},
     "onehot_ids", (4, 5, 3), None),
    ("OneHotMeanIoU", {"num_classes": 3}, "onehot", (4, 5, 3), "entry"),
    ("OneHotMeanIoU", {"num_classes": 3, "dtype": "float64"}, "onehot", (8, 3), "sample"),
    ("BinaryIoU", {}, "binary", (8, 3), None),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3, "dtype": "float32"}, "binary", (8, 3), "entry"),
    ("BinaryIoU", {"target_class_ids": (0,), "threshold": 0.0}, "binary_logits", (8, 1), "sample"),
    ("PearsonCorrelation", {}, "regression", (6, 4), None),
    ("PearsonCorrelation", {}, "regression", (6, 4), "sample"),
    ("PearsonCorrelation", {"axis": 1}, "regression", (3, 4, 5), "sample"),
    ("PearsonCorrelation", {"axis": (1, 2)}, "regression", (3, 4, 5), None),
    ("ConcordanceCorrelation", {}, "regression", (6, 4), None),
    ("ConcordanceCorrelation", {}, "regression", (6, 4), "sample"),
    ("ConcordanceCorrelation", {"axis": 1}, "regression", (3, 4, 5), "sample"),
    ("ConcordanceCorrelation", {"axis": (1, 2)}, "regression", (3, 4, 5), None),
    ("PrecisionAtRecall", {"recall": 0.6}, "binary", (16, 3), None),
    ("PrecisionAtRecall", {"recall": 0.8, "num_thresholds": 20, "class_id": 2}, "binary", (16, 3), "sample"),
    ("RecallAtPrecision", {"precision": 0.7}, "binary", (16,), "sample"),
    ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 7}, "binary", (16, 3), None),
    ("RecallAtPrecision", {"precision": 1.0}, "binary", (16, 3), None),  # out of reach: 0
    ("SensitivityAtSpecificity", {"specificity": 0.4}, "binary", (16, 3), "sample"),
    ("SensitivityAtSpecificity", {"specificity": 0.9, "class_id": 1, "num_thresholds": 50}, "binary", (16, 3), None),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7}, "binary", (16, 1), "sample"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.3, "num_thresholds": 1}, "binary", (16, 3), None),  # at 0.5
    ("PrecisionAtRecall", {"recall": 0.7, "num_thresholds": 2}, "binary", (16, 3), "sample"),  # 0 and 1 only
]


@pytest.mark.parametrize("cls,kwargs,kind,shape,weights", CASES)
def test_metrics_stream_like_keras(keras, cls, kwargs, kind, shape, weights):
    ours = getattr(metrics, cls)(**kwargs)
    got, expected = stream(getattr(keras.metrics, cls)(**kwargs), ours, kind, shape, weights)
    # result() is a tensor of Keras' dtype and shape
    assert type(got) is torch.Tensor and (got.dtype, got.shape) == (expected.dtype, expected.shape)
    got, expected = float(got), float(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert 0.0 < abs(got) < 1.0 or cls == "RecallAtPrecision"  # the data leave room to be wrong
    # reset_state starts afresh: the same batches give the same result again.
    ours.reset_state()
    assert ours.result() == 0.0
    again, _ = stream(getattr(keras.metrics, cls)(**kwargs), ours, kind, shape, weights)
    assert float(again) == pytest.approx(got, rel=1e-6)


def test_iou_by_hand_and_int_weights_truncate_with_a_warning():
    metric = metrics.IoU(num_classes=2, target_class_ids=[0])
    metric.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert metric.result() == pytest.approx(1 / 3)  # cm [[1, 1], [1, 1]]: 1 / (2 + 2 - 1)
    assert metric.total_cm.dtype == torch.int32 and metric.total_cm.tolist() == [[1, 1], [1, 1]]
    with pytest.warns(UserWarning, match=r"IoU\('io_u(_\d+)?'\): float sample weights are truncated .* int32"):
        metric.update_state([0, 1], [0, 0], sample_weight=np.array([2.7, 0.9], "float32"))
    assert metric.total_cm.tolist() == [[3, 1], [1, 1]]  # 2.7 counts 2, 0.9 counts 0
    exact = metrics.MeanIoU(num_classes=2, dtype="float32")
    exact.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert exact.result() == pytest.approx((0.3 / 0.9 + 0.1 / 0.7) / 2, rel=1e-6)


def test_functions_match_keras(keras):
    rng = np.random.default_rng(7)
    y = rng.normal(size=(5, 6)).astype("float32")
    pred = (y + rng.normal(0, 0.5, (5, 6))).astype("float32")
    for name in ("pearson_correlation", "concordance_correlation"):
        ours, theirs = getattr(metrics, name), getattr(keras.metrics, name)
        for args, kwargs in (((y, pred), {}), ((y.T, pred.T), {"axis": 0}), ((y[..., None], pred), {})):
            got = ours(*args, **kwargs)
            assert isinstance(got, torch.Tensor) and got.shape == (5,)
            np.testing.assert_allclose(got.numpy(), np.asarray(theirs(*args, **kwargs)), rtol=1e-5, atol=1e-6)
    assert metrics.pearson_correlation(y, y).numpy() == pytest.approx(np.ones(5), rel=1e-6)


def test_channels_first_axis_matches_keras_on_channels_last_data(keras):
    """axis=1 takes the argmax over the channels of (batch, classes, ...) data (Keras fails in result() there,
    summing its 1-D IoUs along axis 1; the same data channels-last give Keras' value)."""
    y, pred = batch_of("onehot", (4, 5, 3), 0)
    ours = metrics.OneHotMeanIoU(num_classes=3, axis=1)
    ours.update_state(np.moveaxis(y, -1, 1), np.moveaxis(pred, -1, 1))
    theirs = keras.metrics.OneHotMeanIoU(num_classes=3)
    theirs.update_state(y, pred)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6)


def test_at_threshold_predictions_on_and_beyond_the_grid_count_as_keras(keras):
    """0, 0.5 and 1 exactly, and scores outside [0, 1]: Keras clips them onto its grid."""
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0], "float32")
    pred = np.array([0.0, 0.5, 1.0, 1.0, -0.5, 1.5, 0.25, 0.5, 0.0], "float32")
    # Without the clipping, 1.5 would pass the threshold 1: the last four differ then.
    for cls, kwargs in [("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 3}),
                        ("SensitivityAtSpecificity", {"specificity": 0.5}),
                        ("SpecificityAtSensitivity", {"sensitivity": 0.5, "num_thresholds": 1}),
                        ("RecallAtPrecision", {"precision": 0.9, "num_thresholds": 5}),
                        ("SpecificityAtSensitivity", {"sensitivity": 0.2, "num_thresholds": 3}),
                        ("SensitivityAtSpecificity", {"specificity": 1.0, "num_thresholds": 3}),
                        ("PrecisionAtRecall", {"recall": 0.1, "num_thresholds": 2})]:
        ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
        ours.update_state(y, pred)
        theirs.update_state(y, pred)
        assert ours.result() == pytest.approx(float(theirs.result()), abs=1e-7), cls


CONFIGS = [
    ("IoU", {"num_classes": 3, "target_class_ids": (0, 2), "ignore_class": 255, "sparse_y_pred": False,
             "axis": 1, "name": "iou"}),
    ("IoU", {"num_classes": 3, "target_class_ids": [1], "dtype": "float32", "name": "iou"}),
    ("BinaryIoU", {"name": "b"}), ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.2, "name": "b"}),
    ("MeanIoU", {"num_classes": 4, "ignore_class": -1, "sparse_y_true": False, "name": "m"}),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [2], "sparse_y_pred": True, "name": "o"}),
    ("OneHotMeanIoU", {"num_classes": 3, "dtype": "float64", "axis": 2, "name": "o"}),
    ("PearsonCorrelation", {}), ("PearsonCorrelation", {"axis": 1, "name": "p", "dtype": "float64"}),
    ("ConcordanceCorrelation", {}), ("ConcordanceCorrelation", {"axis": [1, 2], "name": "c"}),
    ("PrecisionAtRecall", {"recall": 0.5, "name": "par"}),
    ("RecallAtPrecision", {"precision": 0.8, "num_thresholds": 20, "class_id": 1, "name": "rap"}),
    ("SensitivityAtSpecificity", {"specificity": 0.3, "num_thresholds": 1, "name": "s"}),
    ("SpecificityAtSensitivity", {"sensitivity": 1.0, "class_id": 0, "name": "s", "dtype": "float64"}),
]


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_configs_match_keras_and_round_trip(keras, cls, kwargs):
    ours = getattr(metrics, cls)(**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.metrics, cls)(**kwargs).get_config()
    again = getattr(metrics, cls).from_config(config)
    assert again.get_config() == config and type(again) is type(ours)
    assert metrics.deserialize(metrics.serialize(ours)).get_config() == config


@pytest.mark.parametrize("cls,kwargs", [(cls, {k: v for k, v in kwargs.items() if k != "name"})
                                        for cls, kwargs in CONFIGS[::2]])
def test_default_names_as_keras(keras, cls, kwargs):
    """Keras numbers a repeated default name (``mean_io_u_3``) when the class has no fixed one; so do we."""
    ours = [getattr(metrics, cls)(**kwargs).name for _ in range(2)]
    theirs = [getattr(keras.metrics, cls)(**kwargs).name for _ in range(2)]
    assert re.sub(r"_\d+$", "", ours[0]) == re.sub(r"_\d+$", "", theirs[0])
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])


@pytest.mark.parametrize("name", ["binary_io_u", "BinaryIoU", "pearson_correlation", "PearsonCorrelation",
                                  "concordance_correlation", "ConcordanceCorrelation"])
def test_names_resolve_like_keras(keras, name):
    ours = metrics.get(name)
    assert type(ours).__name__ == type(keras.metrics.get(name)).__name__
    assert ours.name == name


def _twins(keras, units: int, activation: str):
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation=activation)])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(units, activation=activation)])
    weights = [np.random.default_rng(3).normal(0, 0.8, (4, units)).astype("float32"), np.zeros(units, "float32")]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    return k_model, lw_model


def _fit_and_compare(k_model, lw_model, x, y, sample_weight=None) -> dict:
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sample_weight,
               validation_data=(x[:8] + 0.1, y[:8]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = k_model.fit(x, y, **fit).history
        got = lw_model.fit(x, y, **fit).history
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)
    return got


def test_fit_logs_iou_and_correlation_metrics_as_keras(keras):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]
    k_model, lw_model = _twins(keras, 3, "softmax")

    def chosen(lib):  # named: Keras numbers the default names of the objects made in a session
        return [lib.metrics.OneHotMeanIoU(num_classes=3, name="one_hot_mean_io_u"),
                lib.metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2], name="iou02"),
                lib.metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False, name="miou"),
                lib.metrics.ConcordanceCorrelation(name="ccc"), "pearson_correlation"]

    k_model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=chosen(keras),
                    weighted_metrics=[keras.metrics.OneHotMeanIoU(3, dtype="float32", name="w_iou")])
    lw_model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=chosen(layerwise),
                     weighted_metrics=[metrics.OneHotMeanIoU(3, dtype="float32", name="w_iou")])
    got = _fit_and_compare(k_model, lw_model, x, y, sample_weight=rng.uniform(0.2, 2, 24).astype("float32"))
    assert {"one_hot_mean_io_u", "iou02", "val_miou", "ccc", "pearson_correlation", "w_iou"} <= set(got)


def test_fit_saves_loads_and_evaluates_threshold_metrics_as_keras(keras, tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, :3] + rng.normal(0, 1, (32, 3)) > 0).astype("float32")
    k_model, lw_model = _twins(keras, 3, "sigmoid")

    def chosen(lib):
        return [lib.metrics.PrecisionAtRecall(0.5, name="par"),
                lib.metrics.RecallAtPrecision(0.6, num_thresholds=20, name="rap"),
                lib.metrics.SensitivityAtSpecificity(0.5, class_id=1, name="sas"),
                lib.metrics.SpecificityAtSensitivity(0.8, name="sas2"),
                lib.metrics.BinaryIoU(target_class_ids=[1], threshold=0.4, name="biou"), "binary_io_u"]

    k_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen(keras))
    lw_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen(layerwise))
    _fit_and_compare(k_model, lw_model, x, y)
    before = lw_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    after = loaded.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    k_eval = k_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert sorted(after) == sorted(before) == sorted(k_eval)
    assert {"par", "rap", "sas", "sas2", "biou", "binary_io_u"} <= set(after)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-6), key
        assert after[key] == pytest.approx(float(k_eval[key]), rel=2e-5, abs=1e-6), key


def test_bad_input():
    with pytest.raises(ValueError, match=r"IoU: target_class_ids must be .* in \[0, 3\); received .*\[0, 3\]"):
        metrics.IoU(num_classes=3, target_class_ids=[0, 3])
    with pytest.raises(ValueError, match=r"IoU: target_class_ids must be a non-empty list .*received .*\[\]"):
        metrics.IoU(num_classes=3, target_class_ids=[])
    with pytest.raises(ValueError, match="MeanIoU: num_classes must be an integer >= 1; received num_classes=0"):
        metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="BinaryIoU: target_class_ids must be .*received target_class_ids=\\[2\\]"):
        metrics.BinaryIoU(target_class_ids=[2])
    with pytest.raises(ValueError, match="BinaryIoU: threshold must be a number; received threshold='0.5'"):
        metrics.BinaryIoU(threshold="0.5")
    with pytest.raises(ValueError, match="OneHotMeanIoU: ignore_class must be None or an integer"):
        metrics.OneHotMeanIoU(3, ignore_class=0.5)
    with pytest.raises(ValueError, match=r"MeanIoU expects as many target ids as predicted ids; received 4 and 12"):
        metrics.MeanIoU(3).update_state(np.zeros(4), np.zeros((4, 3)))  # scores need sparse_y_pred=False
    with pytest.raises(ValueError, match=r"MeanIoU: sample_weight of shape \(4,\) does not match the 8 target ids"):
        metrics.MeanIoU(3).update_state(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(4, "int32"))
    with pytest.raises(ValueError, match=r"PrecisionAtRecall: recall must be a number in \[0, 1\]; received "
                                         r"recall=1.5"):
        metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="SensitivityAtSpecificity: specificity must be .*received specificity=-0.1"):
        metrics.SensitivityAtSpecificity(-0.1)
    with pytest.raises(ValueError, match="RecallAtPrecision: num_thresholds must be an integer > 0; received "
                                         "num_thresholds=0"):
        metrics.RecallAtPrecision(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="SpecificityAtSensitivity: class_id must be None or an integer >= 0"):
        metrics.SpecificityAtSensitivity(0.5, class_id=-1)
    with pytest.raises(ValueError, match=r"PrecisionAtRecall: class_id needs predictions of shape \(batch, classes"):
        metrics.PrecisionAtRecall(0.5, class_id=0).update_state(np.zeros(4), np.zeros(4))
    # Classes that need arguments cannot come from a name or a bare class (Keras: a TypeError).
    with pytest.raises(ValueError, match=r"Metric 'mean_io_u' needs the argument\(s\) num_classes.*"
                                         r"metrics.MeanIoU\(num_classes=...\)"):
        metrics.get("mean_io_u")
    with pytest.raises(ValueError, match=r"Metric 'PrecisionAtRecall' needs the argument\(s\) recall"):
        metrics.get(metrics.PrecisionAtRecall)
    model = layerwise.Sequential([layerwise.Input((2,)), layerwise.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"Metric 'IoU' needs the argument\(s\) num_classes, target_class_ids"):
        model.compile(optimizer="sgd", loss="mse", metrics=["IoU"])


def test_mean_metric_wrapper_of_a_built_in_function_serializes_as_keras(keras):
    ours = metrics.serialize(metrics.MeanMetricWrapper(metrics.mean_absolute_error, name="mae"))
    theirs = keras.metrics.serialize(keras.metrics.MeanMetricWrapper(keras.metrics.mean_absolute_error, name="mae"))
    assert ours["config"] == theirs["config"]
    for saved in (ours, theirs, {"class_name": "MeanMetricWrapper",  # Keras 2 names the function
                                 "config": {"name": "mae", "dtype": "float32", "fn": "mean_absolute_error"}}):
        loaded = metrics.deserialize(saved)
        assert loaded.fn is metrics.mean_absolute_error and loaded.name == "mae"


@pytest.mark.parametrize("true_shape, weight_shape", [((6,), (6,)), ((6, 1), (6, 1)), ((4, 5), (4, 5)),
                                                      ((4, 5, 1), (4, 5)), ((4, 5), None)])
def test_sparse_crossentropy_metric_ignore_class_with_sample_weights_as_keras(keras, true_shape, weight_shape):
    # With sample weights, the ignored labels' weights are zeroed as Keras zeroes them; they were kept, so the
    # ignored entries' zeros pulled the mean down (0.843 against Keras' 1.204 in one case).
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, true_shape)
    pred = rng.dirichlet(np.ones(3), true_shape[:2] if len(true_shape) == 3 else
                         true_shape[:1] if true_shape[-1] == 1 else true_shape).astype("float32")
    weights = None if weight_shape is None else rng.random(weight_shape).astype("float32")
    results = []
    for lib in (layerwise, keras):
        metric = lib.metrics.SparseCategoricalCrossentropy(ignore_class=0)
        metric.update_state(y, pred, sample_weight=weights)
        metric.update_state(y, pred)  # and without: Keras then counts the ignored entries (as zeros)
        results.append(float(metric.result()))
    assert results[0] == pytest.approx(results[1], rel=1e-5)
