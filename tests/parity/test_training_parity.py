"""Training parity with Keras 3: losses, optimizer steps, validation_split, History keys and
metric values. Both models start from the same weights and see the same batches in the same order
(``shuffle=False``), so every number must agree to float32 rounding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

# ---- helpers ------------------------------------------------------------------------------------


def twin_models(keras, input_shape: tuple, specs: list, seed: int = 7):
    """The same Sequential model in Keras and layerwise, sharing seeded random weights."""
    k_model = keras.Sequential([keras.Input(input_shape)] +
                               [getattr(keras.layers, name)(*args, **kw) for name, args, kw in specs])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] +
                                    [getattr(L, name)(*args, **kw) for name, args, kw in specs])
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    return k_model, lw_model


def classifier(keras, classes: int = 3, output: str = "softmax"):
    specs = [("Conv2D", (3, 3), {"activation": "relu"}), ("Flatten", (), {}),
             ("Dense", (5,), {"activation": "tanh"}), ("Dense", (classes,), {"activation": output})]
    return twin_models(keras, (5, 5, 2), specs)


def classification_data(n: int = 12, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5, 5, 2)).astype("float32")
    labels = rng.integers(0, classes, n)
    return x, labels, np.eye(classes, dtype="float32")[labels]


def assert_weights_close(lw_model, k_model, rtol=1e-6, atol=1e-7):
    for i, (ours, theirs) in enumerate(zip(lw_model.get_weights(), k_model.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"weight {i}")


def both_optimizers(keras, name: str, **kwargs):
    return getattr(keras.optimizers, name)(**kwargs), getattr(layerwise.optimizers, name)(**kwargs)


# ---- losses ---------------------------------------------------------------------------------------

def _loss_inputs(kind: str, from_logits: bool, rng: np.random.Generator):
    n = 6
    logits = rng.normal(0, 2, size=(n, 4)).astype("float32")
    if kind == "categorical":
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, n)]
        pred = logits if from_logits else torch.softmax(torch.from_numpy(logits), -1).numpy()
        if not from_logits:
            pred[0] = [1.0, 0.0, 0.0, 0.0]  # exact 0 and 1: Keras clips to [eps, 1 - eps]
        return y, pred
    if kind in ("sparse", "sparse_column"):
        y = rng.integers(0, 4, n if kind == "sparse" else (n, 1))
        pred = logits if from_logits else torch.softmax(torch.from_numpy(logits), -1).numpy()
        return y, pred
    if kind in ("binary", "binary_flat", "binary_multilabel"):
        cols = 3 if kind == "binary_multilabel" else 1
        y = rng.integers(0, 2, (n, cols)).astype("float32")
        pred = logits[:, :cols] if from_logits else 1 / (1 + np.exp(-logits[:, :cols]))
        if not from_logits:
            pred[0, 0], pred[1, 0] = 0.0, 1.0
        return (y[:, 0] if kind == "binary_flat" else y), pred.astype("float32")
    if kind == "categorical_unnormalized":  # e.g. sigmoid outputs: Keras rescales rows to sum to 1
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, n)]
        return y, (1 / (1 + np.exp(-logits))).astype("float32")
    if kind == "regression_flat":  # targets (n,) against predictions (n, 1)
        return rng.normal(size=n).astype("float32"), rng.normal(0, 2, size=(n, 1)).astype("float32")
    # regression
    y = rng.normal(size=(n, 3)).astype("float32")
    return y, rng.normal(0, 2, size=(n, 3)).astype("float32")


LOSS_CASES = [
    ("CategoricalCrossentropy", "categorical", False), ("CategoricalCrossentropy", "categorical", True),
    ("SparseCategoricalCrossentropy", "sparse", False), ("SparseCategoricalCrossentropy", "sparse", True),
    ("SparseCategoricalCrossentropy", "sparse_column", False),
    ("BinaryCrossentropy", "binary", False), ("BinaryCrossentropy", "binary", True),
    ("BinaryCrossentropy", "binary_flat", False), ("BinaryCrossentropy", "binary_multilabel", False),
    ("BinaryCrossentropy", "binary_multilabel", True),
    ("CategoricalCrossentropy", "categorical_unnormalized", False),
    ("MeanSquaredError", "regression", None), ("MeanAbsoluteError", "regression", None),
    ("Huber", "regression", None), ("MeanSquaredError", "regression_flat", None),
    ("MeanAbsoluteError", "regression_flat", None), ("Huber", "regression_flat", None),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cls,kind,from_logits", LOSS_CASES)
def test_loss_objects_match_keras(keras, cls, kind, from_logits, weighted):
    rng = np.random.default_rng(3)
    y, pred = _loss_inputs(kind, bool(from_logits), rng)
    weight = rng.uniform(0, 2, len(y)).astype("float32") if weighted else None
    kwargs = {} if from_logits is None else {"from_logits": from_logits}
    expected = float(getattr(keras.losses, cls)(**kwargs)(y, pred, sample_weight=weight))
    ours = getattr(layerwise.losses, cls)(**kwargs)
    got = float(ours(torch.from_numpy(np.asarray(y)), torch.from_numpy(pred),
                     None if weight is None else torch.from_numpy(weight)))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("delta", [0.5, 2.0])
def test_huber_delta(keras, delta):
    y, pred = _loss_inputs("regression", False, np.random.default_rng(5))
    expected = float(keras.losses.Huber(delta=delta)(y, pred))
    got = float(layerwise.losses.Huber(delta=delta)(torch.from_numpy(y), torch.from_numpy(pred)))
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy", "mse", "mae", "huber"])
def test_evaluate_loss_by_name_with_sample_weight(keras, name):
    classes = 1 if name == "binary_crossentropy" else 3
    output = "sigmoid" if classes == 1 else "softmax"
    k_model, lw_model = classifier(keras, classes, output)
    x, labels, one_hot = classification_data(10, 3)
    y = {"categorical_crossentropy": one_hot, "sparse_categorical_crossentropy": labels,
         "binary_crossentropy": (labels > 0).astype("float32")[:, None]}.get(name, one_hot)
    weight = np.random.default_rng(2).uniform(0, 3, len(x)).astype("float32")
    k_model.compile(optimizer="sgd", loss=name)
    lw_model.compile(optimizer="sgd", loss=name)
    for sw in (None, weight):
        # Batches of 4: the last one is short, so the batch-size-weighted mean is checked too.
        expected = k_model.evaluate(x, y, batch_size=4, sample_weight=sw, verbose=0)
        got = lw_model.evaluate(x, y, batch_size=4, sample_weight=sw, verbose=0)
        assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy", "mse", "mae", "mean_squared_error",
                                  "mean_absolute_error", "huber"])
def test_loss_names_resolve_like_keras(keras, name):
    y, pred = _loss_inputs({"categorical_crossentropy": "categorical", "binary_crossentropy": "binary",
                            "sparse_categorical_crossentropy": "sparse"}.get(name, "regression"),
                           False, np.random.default_rng(8))
    expected = float(keras.losses.get(name)(y, pred).mean())  # the function: per-sample values
    got = float(layerwise.losses.get(name)(torch.from_numpy(np.asarray(y)), torch.from_numpy(pred)))
    assert got == pytest.approx(expected, rel=1e-6)


# ---- optimizer steps ------------------------------------------------------------------------------

OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.5, "clipnorm": 0.05}),
    ("SGD", {"learning_rate": 0.5, "momentum": 0.5, "global_clipnorm": 0.05}),
    ("SGD", {"learning_rate": 0.5, "clipvalue": 0.01}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={v}" for k, v in v.items()))
def test_train_on_batch_steps_match_keras(keras, name, kwargs):
    """One step, then more (5 for Adam, 3 for the others: the slots carry over between steps)."""
    k_model, lw_model = classifier(keras)
    start = lw_model.get_weights()
    x, _, y = classification_data(12)
    k_opt, lw_opt = both_optimizers(keras, name, **kwargs)
    k_model.compile(optimizer=k_opt, loss="categorical_crossentropy")
    lw_model.compile(optimizer=lw_opt, loss="categorical_crossentropy")
    steps = 5 if name == "Adam" else 3
    for step in range(1, steps + 1):
        k_loss = k_model.train_on_batch(x, y)
        lw_loss = lw_model.train_on_batch(x, y)
        assert lw_loss == pytest.approx(float(k_loss), rel=1e-5), f"loss at step {step}"
        if step == 1:
            assert_weights_close(lw_model, k_model, rtol=1e-6, atol=1e-7)
            # The step really moved every weight (so the comparison is not vacuous).
            for before, after in zip(start, lw_model.get_weights()):
                assert not np.allclose(before, after)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    assert lw_opt.iterations == int(keras.ops.convert_to_numpy(k_opt.iterations)) == steps


@pytest.mark.parametrize("batch_size,epochs", [(12, 1), (5, 2)])
def test_fit_without_shuffle_matches_keras(keras, batch_size, epochs):
    """fit with shuffle=False: the same steps, the same epoch losses (batch-size-weighted means),
    the same weights; batch_size=5 on 12 rows leaves a short last batch."""
    k_model, lw_model = classifier(keras)
    x, _, y = classification_data(12)
    k_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    lw_model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="categorical_crossentropy",
                     metrics=["accuracy"])
    k_hist = k_model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history
    lw_hist = lw_model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history
    assert set(lw_hist) == set(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(lw_hist[key], k_hist[key], rtol=1e-5, err_msg=key)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)


def test_batch_normalization_model_train_steps_match_keras(keras):
    # No conv bias: before BatchNormalization its gradient is zero up to rounding noise, which
    # Adam would amplify into an lr-sized step of random sign.
    specs = [("Conv2D", (3, 3), {"use_bias": False}), ("BatchNormalization", (), {}), ("Activation", ("relu",), {}),
             ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})]
    k_model, lw_model = twin_models(keras, (5, 5, 2), specs)
    weights = k_model.get_weights()
    weights[4] = np.abs(weights[4]) + 0.5  # a valid moving variance
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    x, _, y = classification_data(12)
    k_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    lw_model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="categorical_crossentropy")
    for _ in range(3):
        assert lw_model.train_on_batch(x, y) == pytest.approx(float(k_model.train_on_batch(x, y)), rel=1e-5)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)


# ---- validation_split, History ----------------------------------------------------------------

@pytest.mark.parametrize("n,split", [(10, 0.25), (13, 0.3)])
def test_validation_split_takes_the_same_rows_as_keras(keras, n, split):
    """With lr=0 the model never changes: val_loss is the loss on exactly the rows Keras holds out."""
    k_model, lw_model = classifier(keras)
    x, labels, y = classification_data(n, seed=n)
    # Very different rows, so that any other choice of validation rows gives another loss.
    x *= np.linspace(0.5, 3.0, n, dtype="float32")[:, None, None, None]
    for model, opt in ((k_model, keras.optimizers.SGD(0.0)), (lw_model, layerwise.optimizers.SGD(0.0))):
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    k_hist = k_model.fit(x, y, validation_split=split, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    lw_hist = lw_model.fit(x, y, validation_split=split, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    at = int(np.floor(n * (1 - split)))
    held_out = lw_model.evaluate(x[at:], y[at:], verbose=0, return_dict=True)
    trained_on = lw_model.evaluate(x[:at], y[:at], verbose=0, return_dict=True)
    assert lw_hist["val_loss"][0] == pytest.approx(held_out["loss"], rel=1e-6)
    assert lw_hist["loss"][0] == pytest.approx(trained_on["loss"], rel=1e-6)
    assert lw_hist["val_loss"][0] == pytest.approx(k_hist["val_loss"][0], rel=1e-5)
    assert lw_hist["loss"][0] == pytest.approx(k_hist["loss"][0], rel=1e-5)
    assert lw_hist["val_accuracy"][0] == pytest.approx(k_hist["val_accuracy"][0])


def test_history_keys_and_values_with_validation_data(keras):
    k_model, lw_model = classifier(keras)
    x, _, y = classification_data(12)
    xv, _, yv = classification_data(6, seed=1)
    for model, opt in ((k_model, keras.optimizers.SGD(0.1)), (lw_model, layerwise.optimizers.SGD(0.1))):
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    k_hist = k_model.fit(x, y, batch_size=12, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0)
    lw_hist = lw_model.fit(x, y, batch_size=12, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0)
    assert set(lw_hist.history) == set(k_hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert list(lw_hist.history) == list(k_hist.history)  # the order too
    assert lw_hist.epoch == k_hist.epoch == [0, 1]
    for key, values in k_hist.history.items():
        np.testing.assert_allclose(lw_hist.history[key], values, rtol=1e-5, err_msg=key)


def test_history_keys_with_several_metrics(keras):
    k_model, lw_model = classifier(keras, 1, "sigmoid")
    x, labels, _ = classification_data(12, 2)
    y = labels.astype("float32")[:, None]
    metrics = ["accuracy", "mae", "precision"]
    for model, opt in ((k_model, keras.optimizers.SGD(0.1)), (lw_model, layerwise.optimizers.SGD(0.1))):
        model.compile(optimizer=opt, loss="binary_crossentropy", metrics=metrics)
    k_hist = k_model.fit(x, y, batch_size=12, epochs=1, validation_split=0.25, shuffle=False, verbose=0).history
    lw_hist = lw_model.fit(x, y, batch_size=12, epochs=1, validation_split=0.25, shuffle=False, verbose=0).history
    assert list(lw_hist) == list(k_hist)
    for key, values in k_hist.items():
        np.testing.assert_allclose(lw_hist[key], values, rtol=1e-5, err_msg=key)


# ---- metrics --------------------------------------------------------------------------------------

ACCURACY_CASES = [
    # (name, classes, output activation, loss, target kind, the metric Keras resolves 'accuracy' to)
    ("one_hot", 3, "softmax", "categorical_crossentropy", "one_hot", "CategoricalAccuracy"),
    ("integer_flat", 3, "softmax", "sparse_categorical_crossentropy", "labels", "SparseCategoricalAccuracy"),
    ("integer_column", 3, "softmax", "sparse_categorical_crossentropy", "labels_column",
     "SparseCategoricalAccuracy"),
    ("binary_column", 1, "sigmoid", "binary_crossentropy", "binary_column", "BinaryAccuracy"),
    ("binary_flat", 1, "sigmoid", "binary_crossentropy", "binary_flat", "BinaryAccuracy"),
    ("two_class_one_hot", 2, "softmax", "categorical_crossentropy", "one_hot", "CategoricalAccuracy"),
]


@pytest.mark.parametrize("case,classes,output,loss,target,expected_class", ACCURACY_CASES,
                         ids=[c[0] for c in ACCURACY_CASES])
def test_accuracy_resolves_like_keras(keras, case, classes, output, loss, target, expected_class):
    k_model, lw_model = classifier(keras, classes, output)
    x, labels, one_hot = classification_data(40, max(classes, 2), seed=3)
    y = {"one_hot": one_hot, "labels": labels, "labels_column": labels[:, None],
         "binary_column": labels[:, None].astype("float32"), "binary_flat": labels.astype("float32")}[target]
    k_model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    lw_model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    expected = k_model.evaluate(x, y, verbose=0, return_dict=True)
    got = lw_model.evaluate(x, y, verbose=0, return_dict=True)
    assert type(lw_model._metrics[0][2]).__name__ == expected_class  # (log name, output, metric)
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7)
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    # The data tells the resolutions apart: another accuracy would give another value.
    others = {"CategoricalAccuracy", "SparseCategoricalAccuracy", "BinaryAccuracy"} - {expected_class}
    if classes == 2:
        others.discard("BinaryAccuracy")  # on two-class one-hot rows it equals categorical accuracy
    pred = torch.from_numpy(lw_model.predict(x, verbose=0))
    for other in others:
        metric = getattr(layerwise.metrics, other)()
        try:
            metric.update(torch.from_numpy(np.asarray(y)), pred)
        except (RuntimeError, IndexError):
            continue  # that metric cannot even read these targets
        assert metric.result() != pytest.approx(expected["accuracy"]), other


@pytest.mark.parametrize("batch_size", [40, 7])
def test_binary_metrics_match_keras(keras, batch_size):
    k_model, lw_model = classifier(keras, 1, "sigmoid")
    x, labels, _ = classification_data(40, 2, seed=8)
    y = labels.astype("float32")[:, None]
    metrics = ["mae", "mse", "precision", "recall", "auc", "accuracy"]
    k_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
    lw_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
    expected = k_model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    got = lw_model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key in ("loss", "mae", "mse", "precision", "recall", "accuracy"):
        assert got[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-7), key
    assert got["auc"] == pytest.approx(expected["auc"], abs=1e-3)
    assert 0.0 < expected["precision"] < 1.0 and 0.0 < expected["recall"] < 1.0  # not a degenerate case


def test_regression_metrics_match_keras(keras):
    specs = [("Dense", (6,), {"activation": "relu"}), ("Dense", (3,), {})]
    k_model, lw_model = twin_models(keras, (4,), specs)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20, 4)).astype("float32")
    y = rng.normal(size=(20, 3)).astype("float32")
    k_model.compile(optimizer="sgd", loss="huber", metrics=["mae", "mse"])
    lw_model.compile(optimizer="sgd", loss="huber", metrics=["mae", "mse"])
    expected = k_model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    got = lw_model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-5), key


def test_auc_on_known_scores(keras):
    """AUC on scores spread over [0, 1] (ties across thresholds included) against Keras' AUC()."""
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, (300, 1)).astype("float32")
    scores = np.clip(0.3 * y + rng.uniform(0, 0.7, y.shape), 0, 1).astype("float32")
    scores[:10] = 0.0
    scores[10:20] = 1.0
    k_auc = keras.metrics.AUC()
    k_auc.update_state(y, scores)
    lw_auc = layerwise.metrics.AUC()
    lw_auc.update(torch.from_numpy(y), torch.from_numpy(scores))
    assert lw_auc.result() == pytest.approx(float(k_auc.result()), abs=1e-3)
    for cls in ("Precision", "Recall"):
        k_metric, lw_metric = getattr(keras.metrics, cls)(), getattr(layerwise.metrics, cls)()
        k_metric.update_state(y, scores)
        lw_metric.update(torch.from_numpy(y), torch.from_numpy(scores))
        assert lw_metric.result() == pytest.approx(float(k_metric.result()), rel=1e-6), cls


def test_evaluate_and_train_on_batch_list_order_matches_keras(keras):
    """Lists are [loss, *metrics in compile order]; dicts (and History) are sorted by name."""
    k_model, lw_model = classifier(keras, 1, "sigmoid")
    x, labels, _ = classification_data(12, 2)
    y = labels.astype("float32")[:, None]
    metrics = ["mse", "accuracy", "mae"]
    k_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
    lw_model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
    np.testing.assert_allclose(lw_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5)
    assert list(lw_model.evaluate(x, y, verbose=0, return_dict=True)) == \
        list(k_model.evaluate(x, y, verbose=0, return_dict=True))
    np.testing.assert_allclose(lw_model.train_on_batch(x, y), k_model.train_on_batch(x, y), rtol=1e-5)
