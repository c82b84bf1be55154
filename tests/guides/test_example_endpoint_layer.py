"""keras-io example "Endpoint layer pattern" (examples/keras_recipes/endpoint_layer_pattern.py) run with
``import layerwise as keras`` and compared with Keras 3 (torch backend). The example's ``tf.nn.softmax`` is
``ops.softmax``. Its ``self.add_metric(...)`` is a Keras 2 API that Keras 3 refuses (NotImplementedError, telling
to create the metric in ``__init__`` and call ``update_state``): the listing is checked as written, then with the
metric tracked the Keras 3 way."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

N = 200  # the example draws 1000 rows


def endpoint_class(keras, ops, add_metric=False):
    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = keras.metrics.BinaryAccuracy(name="accuracy")

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                loss = self.loss_fn(targets, logits, sample_weight)
                self.add_loss(loss)
                if add_metric:  # the example as written (Keras 2)
                    self.add_metric(self.accuracy_fn(targets, logits, sample_weight))
                else:  # Keras 3: a metric created in __init__, updated here
                    self.accuracy_fn.update_state(targets, logits, sample_weight)
            return ops.softmax(logits)

    return LogisticEndpoint


def endpoint_model(keras, layers, ops, add_metric=False):
    fresh(keras)
    LogisticEndpoint = endpoint_class(keras, ops, add_metric)
    inputs = keras.Input((764,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = keras.Model([inputs, targets, sample_weight], preds)
    model.compile(keras.optimizers.Adam(1e-3))
    return model


def inference_model(keras, layers, ops):
    fresh(keras)
    LogisticEndpoint = endpoint_class(keras, ops)
    inputs = keras.Input((764,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
    return keras.Model(inputs, preds)


def logreg_model(keras, layers, ops):
    fresh(keras)
    LogisticEndpoint = endpoint_class(keras, ops)

    class LogReg(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.logistic_endpoint = LogisticEndpoint()

        def call(self, inputs):
            logits = self.dense(inputs["inputs"])
            preds = self.logistic_endpoint(logits=logits, targets=inputs["targets"],
                                           sample_weight=inputs["sample_weight"])
            return preds

    model = LogReg()
    model.compile(keras.optimizers.Adam(1e-3))
    return model


def endpoint_data(seed=0):
    rng = np.random.default_rng(seed)
    return {"inputs": rng.random((N, 764)), "targets": rng.random((N, 1)), "sample_weight": rng.random((N, 1))}


def test_the_example_s_add_metric_is_refused_as_in_keras_3(real_keras):
    for lib in libraries(real_keras):
        with pytest.raises(NotImplementedError):
            endpoint_model(*lib, add_metric=True)


def test_the_endpoint_model_s_loss_matches_keras(real_keras):
    ours, theirs = [endpoint_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    data = endpoint_data()
    assert_close(as_numpy(ours(data)), as_numpy(theirs(data)))
    histories = [m.fit(data, epochs=2, shuffle=False, verbose=0).history for m in (ours, theirs)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4, atol=1e-6)
    # What training did: the same Dense weights.
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_endpoint_layer_s_accuracy_is_logged_as_in_keras(real_keras):
    ours, theirs = [endpoint_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    data = endpoint_data()
    data["targets"] = (data["targets"] > 0.5).astype("float64")  # 0/1 targets, so that accuracy is not always 0
    histories = [m.fit(data, epochs=2, shuffle=False, verbose=0).history for m in (ours, theirs)]
    assert sorted(histories[0]) == sorted(histories[1]) == ["accuracy", "loss"]
    assert_close(histories[0]["accuracy"], histories[1]["accuracy"], rtol=1e-4)


def test_the_inference_only_model_takes_the_trained_weights(real_keras):
    trained = [endpoint_model(*lib) for lib in libraries(real_keras)]
    trained[0].set_weights(trained[1].get_weights())
    data = endpoint_data()
    for model in trained:
        model.fit(data, epochs=1, shuffle=False, verbose=0)
    ours, theirs = [inference_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(trained[0].get_weights())
    theirs.set_weights(trained[1].get_weights())
    x = np.random.default_rng(1).random((N, 764))
    preds = [m.predict(x, verbose=0) for m in (ours, theirs)]
    assert preds[0].shape == preds[1].shape == (N, 1)
    assert_close(preds[0], preds[1])  # a softmax over one unit: all ones in both


def test_the_endpoint_layer_in_a_subclassed_model_matches_keras(real_keras):
    ours, theirs = [logreg_model(*lib) for lib in libraries(real_keras)]
    data = endpoint_data(seed=2)
    for model in (ours, theirs):
        model(data)
    ours.set_weights(theirs.get_weights())
    histories = [m.fit(data, epochs=2, shuffle=False, verbose=0).history for m in (ours, theirs)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4, atol=1e-6)
