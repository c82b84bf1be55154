"""``Metric.result()`` returns a tensor, as in Keras 3 (torch backend): its type, dtype, shape and value against
Keras for every metric family, the idioms of Keras' guides on it, and logs (History, callbacks, evaluate,
train_on_batch, a custom ``train_step`` returning results) that stay Python floats, as Keras' ``pythonify_logs``
makes them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import metrics, ops

RNG = np.random.default_rng(3)
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 12)]
P = RNG.random((12, 3)).astype("float32")
P /= P.sum(-1, keepdims=True)
W = RNG.uniform(0.5, 2.0, 12).astype("float32")


def _feed(kind: str):
    """The ``update_state`` arguments of a data kind."""
    if kind == "values":
        return (P[:, 0],), {"sample_weight": W}
    if kind == "ids":
        return (Y.argmax(-1), P.argmax(-1)), {}
    if kind == "none":
        return None, {}
    return (Y, P), {"sample_weight": W}


CASES = [  # (class, kwargs, data kind)
    ("Mean", {}, "values"),
    ("Mean", {}, "none"),
    ("Sum", {}, "values"),
    ("CategoricalAccuracy", {}, "pair"),
    ("MeanSquaredError", {}, "pair"),
    ("RootMeanSquaredError", {}, "pair"),
    ("KLDivergence", {}, "pair"),
    ("PearsonCorrelation", {}, "pair"),
    ("AUC", {}, "pair"),
    ("AUC", {"multi_label": True, "curve": "PR"}, "pair"),
    ("AUC", {}, "none"),
    ("Precision", {}, "pair"),
    ("Recall", {"thresholds": [0.2, 0.5, 0.7]}, "pair"),
    ("Precision", {"thresholds": [0.2, 0.5]}, "none"),
    ("TruePositives", {}, "pair"),
    ("FalsePositives", {"thresholds": [0.3, 0.6]}, "pair"),
    ("F1Score", {}, "pair"),
    ("F1Score", {"average": "micro"}, "pair"),
    ("FBetaScore", {"average": "weighted", "beta": 2.0}, "pair"),
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, "ids"),
    ("MeanIoU", {"num_classes": 3}, "ids"),
    ("OneHotMeanIoU", {"num_classes": 3}, "pair"),
    ("R2Score", {}, "pair"),
    ("R2Score", {"class_aggregation": None}, "pair"),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, "pair"),
    ("RecallAtPrecision", {"precision": 0.4}, "none"),
]


@pytest.mark.parametrize("dtype", [None, "float16", "float64"])
@pytest.mark.parametrize("cls,kwargs,kind", CASES)
def test_result_is_a_tensor_like_keras(keras, cls, kwargs, kind, dtype):
    options = kwargs if dtype is None else {**kwargs, "dtype": dtype}
    ours, theirs = getattr(metrics, cls)(**options), getattr(keras.metrics, cls)(**options)
    args, weights = _feed(kind)
    if args is not None:
        ours.update_state(*args, **weights)
        theirs.update_state(*args, **weights)
    got, expected = ours.result(), theirs.result()
    assert type(got) is torch.Tensor and not got.requires_grad
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape), (cls, dtype)
    tolerance = 2e-3 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(got.float().numpy(), expected.float().numpy(), rtol=tolerance, atol=tolerance)


def test_result_is_on_the_metric_device_and_a_copy_of_its_state():
    metric = metrics.TruePositives(thresholds=[0.3, 0.6])
    metric.update_state(Y, P)
    got = metric.result()
    assert got.device == metric.variables[0].device
    kept = got.clone()
    metric.reset_state()  # the state resets in place: the result read before keeps its value
    torch.testing.assert_close(got, kept)
    assert float(metric.result().sum()) == 0.0


def test_guide_idioms_on_result(keras):
    ours, theirs = metrics.Mean(), keras.metrics.Mean()
    for metric in (ours, theirs):
        metric.update_state([1.0, 2.0, 6.0])
    assert ours.result().numpy() == theirs.result().numpy() == np.float32(3.0)
    assert float(ours.result()) == float(theirs.result()) == 3.0
    assert ops.convert_to_numpy(ours.result()) == keras.ops.convert_to_numpy(theirs.result())
    scores = metrics.F1Score()
    scores.update_state(Y, P)
    assert float(ops.mean(scores.result())) == pytest.approx(float(scores.result().numpy().mean()), rel=1e-6)
    called = metrics.Mean()([1.0, 3.0])  # metric(y) updates and returns result(), a tensor as in Keras
    assert type(called) is torch.Tensor and float(called) == 2.0


def _keras_style(lib):
    class Total(lib.metrics.Metric):
        """A user metric following Keras' guide: its result() returns a variable's value."""

        def __init__(self, name="total", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(lib.ops.sum(lib.ops.cast(y_pred, "float32")))

        def result(self):
            return self.total * 1.0

    return Total()


def test_a_user_metric_result_is_what_it_returns(keras):
    ours, theirs = _keras_style(lw), _keras_style(keras)
    for metric in (ours, theirs):
        metric.update_state(Y, P)
    got, expected = ours.result(), theirs.result()
    assert isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


def _twins(keras):
    made = []
    for lib in (lw, keras):
        lib.utils.set_random_seed(0)
        made.append(lib.Sequential([lib.Input((3,)), lib.layers.Dense(3, activation="softmax")]))
        made[-1].compile(optimizer="sgd", loss="categorical_crossentropy",
                         metrics=["accuracy", lib.metrics.F1Score(name="f1"), lib.metrics.AUC(name="auc")])
    made[0].set_weights(made[1].get_weights())
    return made


def _recorder(lib):
    """A callback keeping the logs of every train batch and epoch."""
    class Recorder(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append(dict(logs))

        def on_epoch_end(self, epoch, logs=None):
            self.logs.append(dict(logs))

    return Recorder()


def _assert_logs_like(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert type(ours[key]) is type(value), key  # a float, or a numpy array for a per-class result
        np.testing.assert_allclose(ours[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def test_fit_evaluate_and_batch_logs_are_python_values_like_keras(keras):
    ours, theirs = _twins(keras)
    recorders = [_recorder(lw), _recorder(keras)]
    histories = [model.fit(P, Y, batch_size=6, epochs=2, shuffle=False, verbose=0, validation_data=(P, Y),
                           callbacks=[recorder]).history for model, recorder in zip((ours, theirs), recorders)]
    _assert_logs_like(*histories)
    assert all(isinstance(value, float) for value in histories[0]["loss"])
    assert isinstance(histories[0]["f1"][0], np.ndarray) and histories[0]["f1"][0].shape == (3,)
    assert len(recorders[0].logs) == len(recorders[1].logs) == 6  # 2 epochs of 2 batches and an end
    for got, expected in zip(*(recorder.logs for recorder in recorders)):
        _assert_logs_like(got, expected)
    _assert_logs_like(ours.evaluate(P, Y, verbose=0, return_dict=True),
                      theirs.evaluate(P, Y, verbose=0, return_dict=True))
    for method in ("test_on_batch", "train_on_batch"):
        _assert_logs_like(getattr(ours, method)(P, Y, return_dict=True),
                          getattr(theirs, method)(P, Y, return_dict=True))
    assert isinstance(ours.evaluate(P, Y, verbose=0)[0], float)


def test_a_one_class_per_class_result_stays_an_array_in_logs_like_keras(keras):
    # It became a Python float: Keras' pythonify_logs only turns 0-d values into floats.
    x, y = RNG.random((12, 3)).astype("float32"), (RNG.random((12, 1)) > 0.5).astype("float32")
    logs = []
    for lib in (lw, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")])
        model.compile("sgd", "binary_crossentropy", metrics=[lib.metrics.F1Score(average=None, threshold=0.5)])
        history = model.fit(x, y, epochs=1, verbose=0).history
        logs.append({key: values[0] for key, values in history.items()})
    _assert_logs_like(*logs)
    assert logs[0]["f1_score"].shape == (1,)


def _custom(lib):
    class Custom(lib.Model):
        """Keras' guide: a train_step returning the trackers' results (tensors)."""

        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(3)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae = lib.metrics.MeanAbsoluteError(name="mae")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = lib.ops.mean(lib.ops.square(y_pred - y))
            self.zero_grad()
            loss.backward()
            weights = self.trainable_weights  # Keras' weights hold the tensor in .value, layerwise's are parameters
            self.optimizer.apply([getattr(v, "value", v).grad for v in weights], weights)
            self.loss_tracker.update_state(loss)
            self.mae.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae]

    lib.utils.set_random_seed(0)
    model = Custom()
    model.compile(optimizer="sgd")
    model(P[:1])
    return model


def test_a_custom_train_step_returning_results_logs_floats_like_keras(keras):
    ours, theirs = _custom(lw), _custom(keras)
    ours.set_weights(theirs.get_weights())
    recorders = [_recorder(lw), _recorder(keras)]
    histories = [model.fit(P, Y, batch_size=6, epochs=2, shuffle=False, verbose=0, callbacks=[recorder]).history
                 for model, recorder in zip((ours, theirs), recorders)]
    _assert_logs_like(*histories)
    assert all(isinstance(value, float) for values in histories[0].values() for value in values)
    assert len(recorders[0].logs) == len(recorders[1].logs) == 6  # 2 epochs of 2 batches and an end
    for got, expected in zip(*(recorder.logs for recorder in recorders)):
        _assert_logs_like(got, expected)
    results = ours.get_metrics_result()
    assert list(results) == ["loss", "mae"] and all(type(v) is torch.Tensor for v in results.values())


def test_compute_metrics_and_get_metrics_result_return_tensors_like_keras(keras):
    ours, theirs = _twins(keras)
    for model in (ours, theirs):
        model.fit(P, Y, batch_size=12, epochs=1, verbose=0)
    got = ours.compute_metrics(P, Y, ours(P), sample_weight=None)
    expected = theirs.compute_metrics(P, Y, theirs(P), sample_weight=None)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert type(got[key]) is torch.Tensor and (got[key].dtype, got[key].shape) == (value.dtype, value.shape), key
        np.testing.assert_allclose(got[key].detach().numpy(), value.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert all(type(v) is torch.Tensor for v in ours.get_metrics_result().values())
