"""Keras parity of the model API a custom PyTorch training loop leans on, side by side with Keras 3 (torch
backend) from the same weights: ``compute_metrics``/``compute_loss`` before any ``fit``, ``metrics`` and
``metrics_names``, the compiled metrics' ``metrics`` and the metrics' ``variables``; a Sequential called on
``[x]``; ``get_layer``'s argument errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers


def _pair(keras, outputs: int = 1):
    """The same Sequential (4 features -> ``outputs``) in Keras and in layerwise, with Keras' weights."""
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                               keras.layers.Dense(outputs)])
    ours = layerwise.models.Sequential([layers.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(outputs)])
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _data(rows: int = 8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 4)).astype("float32"), rng.normal(size=(rows, 1)).astype("float32")


def _floats(logs: dict) -> dict:
    return {name: float(value) for name, value in logs.items()}


# ---- compute_metrics / compute_loss before any fit -------------------------------------------------------
def test_compute_metrics_before_any_fit_updates_the_compiled_metrics(keras):
    x, y = _data()
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile("sgd", "mse", metrics=["mae"])
    assert ours.metrics_names == theirs.metrics_names == ["loss", "compile_metrics"]
    assert [m.metrics for m in ours.metrics[1:]] == [m.metrics for m in theirs.metrics[1:]] == [[]]  # unbuilt

    expected = _floats(theirs.compute_metrics(x, torch.tensor(y), theirs(x), None))
    got = _floats(ours.compute_metrics(x, torch.tensor(y), ours(x), None))
    assert got.keys() == expected.keys() == {"loss", "mae"}
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-6)
    assert ours.metrics_names == theirs.metrics_names
    assert [type(m).__name__ for m in ours.metrics] == [type(m).__name__ for m in theirs.metrics]
    assert [m.name for m in ours.metrics[1].metrics] == [m.name for m in theirs.metrics[1].metrics] == ["mae"]


def test_a_custom_loop_reports_like_keras_and_fit_then_starts_afresh(keras):
    """The README's loop: compute_loss, backward, optimizer.apply, the loss tracker and compute_metrics."""
    x, y = _data(12)
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile(keras.optimizers.SGD(0.1) if model is theirs else layerwise.optimizers.SGD(0.1), "mse",
                      metrics=["mae"], weighted_metrics=["mae"])
    sample_weight = np.linspace(0.5, 2.0, 12).astype("float32")
    results = []
    for model in (theirs, ours):
        for start in (0, 6):
            xb, yb, wb = (torch.tensor(a[start:start + 6]) for a in (x, y, sample_weight))
            model.zero_grad()
            y_pred = model(xb, training=True)
            loss = model.compute_loss(xb, yb, y_pred, wb)
            loss.backward()
            weights = list(model.trainable_weights)
            with torch.no_grad():
                model.optimizer.apply([getattr(v, "value", v).grad for v in weights], weights)
            model.metrics[0].update_state(loss)
            logs = _floats(model.compute_metrics(xb, yb, y_pred.detach(), wb))
        results.append(logs)
    assert results[1].keys() == results[0].keys() == {"loss", "mae", "weighted_mae"}
    np.testing.assert_allclose([results[1][k] for k in results[0]], list(results[0].values()), rtol=1e-5)

    history = [model.fit(x, y, epochs=1, batch_size=6, shuffle=False, verbose=0).history for model in (theirs, ours)]
    assert history[1].keys() == history[0].keys()
    np.testing.assert_allclose([history[1][k] for k in history[0]], list(history[0].values()), rtol=1e-5)


def test_compiled_metrics_give_no_result_before_they_are_built(keras):
    for model in _pair(keras):
        model.compile("sgd", "mse", metrics=["mae"])
        with pytest.raises(ValueError, match=r"Cannot get result\(\) since the"):
            model.get_metrics_result()


def test_a_subclassed_model_computes_its_compiled_loss_and_metrics_before_any_fit(keras):
    x, y = _data()

    def subclassed(lib):
        class Net(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(1)

            def call(self, inputs):
                return self.dense(inputs)

        return Net()

    theirs, ours = subclassed(keras), subclassed(layerwise)
    for model in (theirs, ours):
        model.compile("sgd", "mse", metrics=["mae"])
        model(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(float(ours.compute_loss(x, y, ours(x)).detach()),
                               float(theirs.compute_loss(x, y, theirs(x)).detach()), rtol=1e-6)
    expected = _floats(theirs.compute_metrics(x, y, theirs(x), None))
    got = _floats(ours.compute_metrics(x, y, ours(x), None))
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-6)
    assert ours.metrics_names == theirs.metrics_names


# ---- metric introspection ----------------------------------------------------------------------------------
def test_metrics_and_variables_after_fit_match_keras(keras):
    x, y = _data(10)
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile("sgd", "mse", metrics=["mae", "mse"])
        model.fit(x, y, epochs=1, batch_size=5, shuffle=False, verbose=0)
    assert [m.name for m in ours.metrics[1].metrics] == [m.name for m in theirs.metrics[1].metrics]
    assert [len(m.variables) for m in ours.metrics] == [len(m.variables) for m in theirs.metrics] == [2, 4]
    tracker_state = [[keras.ops.convert_to_numpy(v) for v in theirs.metrics[0].variables],
                     [v.numpy() for v in ours.metrics[0].variables]]
    np.testing.assert_allclose(tracker_state[1], tracker_state[0], rtol=1e-6)  # total and count


def test_a_mean_keeps_its_total_and_count_as_variables(keras):
    theirs, ours = keras.metrics.Mean(), layerwise.metrics.Mean()
    assert [v.path for v in ours.variables] == [v.path for v in theirs.variables] == ["mean/total", "mean/count"]
    for metric in (theirs, ours):
        metric.update_state([1.0, 2.0, 3.0])
        metric.update_state([4.0], sample_weight=[2.0])
    assert [v.numpy() for v in ours.variables] == [keras.ops.convert_to_numpy(v) for v in theirs.variables]
    assert ours.result() == pytest.approx(float(theirs.result()))

    total = ours.variables[0]
    ours.reset_state()
    assert ours.variables[0] is total and float(total) == 0.0  # reset in place: the variable still follows
    ours.update_state([5.0])
    assert float(total) == 5.0 and ours.result() == 5.0


# ---- Sequential on [x] --------------------------------------------------------------------------------------
def test_a_sequential_takes_its_one_input_in_a_list(keras):
    x, y = _data()
    theirs, ours = _pair(keras, outputs=2)
    expected = keras.ops.convert_to_numpy(theirs(x))
    for wrapped in ([x], (x,), [torch.tensor(x)]):
        np.testing.assert_allclose(ours(wrapped).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert tuple(ours([layers.Input((4,))]).shape) == tuple(theirs([keras.Input((4,))]).shape) == (None, 2)
    np.testing.assert_allclose(ours.predict([x], verbose=0), theirs.predict([x], verbose=0), rtol=1e-5, atol=1e-6)


# ---- get_layer's argument errors ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"index": 5}, {}, {"name": "nope"}, {"name": "dense_a", "index": 1}],
                         ids=["index_out_of_range", "neither", "unknown_name", "both"])
def test_get_layer_refuses_bad_arguments_as_keras(keras, kwargs):
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense_a"),
                               keras.layers.Dense(2, name="dense_b")])
    ours = layerwise.models.Sequential([layers.Input((4,)), layers.Dense(3, name="dense_a"),
                                        layers.Dense(2, name="dense_b")])
    messages = []
    for model in (theirs, ours):
        with pytest.raises(ValueError) as error:
            model.get_layer(**kwargs)
        messages.append(str(error.value))
    assert messages[1] == messages[0]


def test_get_layer_counts_negative_indices_from_the_end(keras):
    ours = layerwise.models.Sequential([layers.Input((4,)), layers.Dense(3, name="dense_a"),
                                        layers.Dense(2, name="dense_b")])
    assert ours.get_layer(index=-1).name == "dense_b"
    # Keras lets the list raise a bare IndexError here; a ValueError says what was wrong.
    with pytest.raises(ValueError, match="Was asked to retrieve layer at index -3 but model only has 2 layers"):
        ours.get_layer(index=-3)
