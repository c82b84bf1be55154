"""fit's data contract against Keras 3 (torch backend): class_weight (training rows only, not with
sample_weight, integer class keys, a PyDataset's batches), validation that starts from its first batch every epoch,
History's key order, and targets whose shape a binary crossentropy cannot take; the data's dtypes and row counts
in fit, evaluate and predict."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 4)).astype("float32")
Y = (RNG.random(200) > 0.5).astype("float32")
XV, YV = X[100:], Y[100:]


def twins(keras, lr: float = 0.0, **compile_kwargs):
    """The same Dense(1, sigmoid) classifier in Keras and layerwise, compiled alike."""
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(1, activation="sigmoid")])
    lw_model.set_weights(k_model.get_weights())
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(lib.optimizers.SGD(lr), "binary_crossentropy", **compile_kwargs)
    return k_model, lw_model


def last_logs(history) -> dict[str, float]:
    return {name: values[-1] for name, values in history.history.items()}


def test_class_weight_leaves_the_validation_split_rows_unweighted(keras):
    # Keras 3: class weights weigh the training rows only; val_* equal evaluate() on the split-off rows.
    k_model, lw_model = twins(keras, weighted_metrics=["accuracy"])
    kwargs = dict(validation_split=0.25, class_weight={0: 1.0, 1: 5.0}, shuffle=False, verbose=0)
    theirs = last_logs(k_model.fit(X, Y, **kwargs))
    ours = last_logs(lw_model.fit(X, Y, **kwargs))
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, err_msg=name)
    held_out = lw_model.evaluate(X[150:], Y[150:], verbose=0, return_dict=True)
    np.testing.assert_allclose(ours["val_loss"], held_out["loss"], rtol=1e-6)
    np.testing.assert_allclose(ours["val_accuracy"], held_out["accuracy"], rtol=1e-6)


def test_validation_steps_with_arrays_start_from_the_first_batch_every_epoch(keras):
    # Keras 3: evaluate() resets its iterator, so with validation_steps=2 every epoch validates on batches 0
    # and 1 (rows 0..79), without the "ran out of data" warning.
    k_model, lw_model = twins(keras)
    kwargs = dict(epochs=4, validation_data=(XV, YV), validation_steps=2, validation_batch_size=40, verbose=0)
    theirs = k_model.fit(X[:100], Y[:100], **kwargs).history["val_loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ours = lw_model.fit(X[:100], Y[:100], **kwargs).history["val_loss"]
    first_two = lw_model.evaluate(XV[:80], YV[:80], verbose=0)
    np.testing.assert_allclose(ours, [first_two] * 4, rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def _batches(lib, kind: str, count: int = 5):
    """Five validation batches of 20 rows as a generator, a PyDataset or a DataLoader."""
    if kind == "generator":
        return ((XV[i * 20:(i + 1) * 20], YV[i * 20:(i + 1) * 20]) for i in range(count))
    if kind == "dataloader":
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(XV), torch.tensor(YV)),
                                           batch_size=20)

    class Batches(lib.utils.PyDataset):
        def __len__(self):
            return count

        def __getitem__(self, i):
            return XV[i * 20:(i + 1) * 20], YV[i * 20:(i + 1) * 20]
    return Batches()


@pytest.mark.parametrize("kind", ["generator", "py_dataset", "dataloader"])
def test_validation_steps_with_a_dataset_use_the_same_batches_every_epoch(keras, kind):
    # Keras 3: a PyDataset or DataLoader starts a new pass each validation; a generator replays the two
    # batches Keras peeked at, so with validation_steps=2 every epoch validates on batches 0 and 1.
    k_model, lw_model = twins(keras)
    kwargs = dict(epochs=3, validation_steps=2, verbose=0)
    theirs = k_model.fit(X[:100], Y[:100], validation_data=_batches(keras, kind), **kwargs).history["val_loss"]
    ours = lw_model.fit(X[:100], Y[:100], validation_data=_batches(layerwise, kind), **kwargs).history["val_loss"]
    np.testing.assert_allclose(ours, [lw_model.evaluate(XV[:40], YV[:40], verbose=0)] * 3, rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_a_generator_as_validation_data_is_replayed_every_epoch():
    # Keras 3 validates on the whole generator in epoch 1, then (its generator used up) only on the two
    # batches it peeked at. Ours replays every batch of the first validation: the same samples each epoch,
    # where the old code found the generator empty and logged val_loss 0.0.
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile(layerwise.optimizers.SGD(0.0), "binary_crossentropy")
    history = model.fit(X[:100], Y[:100], epochs=3, validation_data=_batches(layerwise, "generator"), verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], [model.evaluate(XV, YV, verbose=0)] * 3, rtol=1e-6)


def test_class_weight_and_sample_weight_together_raise_as_in_keras(keras):
    # Keras 3: fit raises ValueError "You cannot `class_weight` and `sample_weight` at the same time.";
    # train_on_batch raises "Arguments `sample_weight` and `class_weight` cannot be specified at the same time."
    k_model, lw_model = twins(keras)
    weights, class_weight = np.ones(200, "float32"), {0: 1.0, 1: 5.0}
    with pytest.raises(ValueError, match="class_weight` and `sample_weight` at the same time"):
        k_model.fit(X, Y, sample_weight=weights, class_weight=class_weight, verbose=0)
    with pytest.raises(ValueError, match="class_weight` and `sample_weight` at the same time.*into sample_weight"):
        lw_model.fit(X, Y, sample_weight=weights, class_weight=class_weight, verbose=0)
    with pytest.raises(ValueError, match="at the same time"):
        lw_model.train_on_batch(X[:8], Y[:8], sample_weight=weights[:8], class_weight=class_weight)


@pytest.mark.parametrize("class_weight, message", [
    ({"0": 1.0, "1": 3.0}, r"keys must be integer class indices \(0 .. num_classes-1\).*int\(k\)"),
    ({-1: 2.0}, r"keys must be integer class indices.*\[-1\]"),
    ({0.5: 2.0}, r"keys must be integer class indices"),
    ([1.0, 3.0], r"must be a dict .*got a list.*dict\(enumerate\(weights\)\)"),
])
def test_class_weight_needs_integer_class_keys(keras, class_weight, message):
    # Keras 3 looks labels up with class_weight.get(label, 1.0): string, negative or fractional keys are silently
    # ignored (the loss is the unweighted one) and a list fails with AttributeError: 'list' object has no
    # attribute 'get'. A clear ValueError is better here.
    _, lw_model = twins(keras)
    with pytest.raises(ValueError, match=message):
        lw_model.fit(X, Y, class_weight=class_weight, verbose=0)
    # Integral float keys (e.g. from np.unique of float labels) weigh their class, as in Keras.
    k_model, lw_model = twins(keras)
    kwargs = dict(class_weight={0.0: 1.0, 1.0: 3.0}, batch_size=200, shuffle=False, verbose=0)
    np.testing.assert_allclose(lw_model.fit(X, Y, **kwargs).history["loss"],
                               k_model.fit(X, Y, **kwargs).history["loss"], rtol=1e-5)


def test_history_keys_are_sorted_together_as_in_keras(keras):
    # Keras 3: CallbackList sorts each epoch's logs, so History's keys are one sorted list. With plain metrics
    # the train keys happen to sort before val_*; weighted_accuracy sorts after them.
    k_model, lw_model = twins(keras, metrics=["mse", "accuracy"], weighted_metrics=["accuracy"])
    kwargs = dict(validation_split=0.25, verbose=0)
    theirs = list(k_model.fit(X, Y, **kwargs).history)
    assert theirs == ["accuracy", "loss", "mse", "val_accuracy", "val_loss", "val_mse", "val_weighted_accuracy",
                      "weighted_accuracy"]
    assert list(lw_model.fit(X, Y, **kwargs).history) == theirs
    # The same single sorted list for a two-output model with weighted metrics.
    keys = []
    for lib in (keras, layerwise):
        inputs = lib.Input((4,), name="in")
        outputs = [lib.layers.Dense(1, activation="sigmoid", name=name)(inputs) for name in ("a", "b")]
        model = lib.Model(inputs, outputs)
        model.compile("sgd", ["binary_crossentropy", "mse"], metrics={"a": ["accuracy"], "b": ["mse"]},
                      weighted_metrics={"a": ["accuracy"], "b": ["auc"]})
        keys.append(list(model.fit(X, [Y, Y], **kwargs).history))
    assert keys[1] == keys[0] == sorted(keys[0])


@pytest.mark.parametrize("units, labels, advice", [
    (2, Y, r"output shape \(None, 2\), but y has shape \(200,\).*Dense\(1, activation='sigmoid'\).*"
           r"sparse_categorical_crossentropy"),
    (2, Y[:, None], r"output shape \(None, 2\), but y has shape \(200, 1\)"),
    (1, np.eye(2, dtype="float32")[Y.astype(int)], r"output shape \(None, 1\), but y has shape \(200, 2\).*"
                                                   r"categorical_crossentropy"),
])
def test_binary_crossentropy_rejects_labels_of_another_shape(keras, units, labels, advice):
    # Keras 3 raises ValueError "Arguments `target` and `output` must have the same shape. Received:
    # target.shape=torch.Size([32]), output.shape=torch.Size([32, 2])" from its first batch; the old code let
    # torch fail with "Using a target size ... is deprecated".
    for loss in ("binary_crossentropy", "binary_focal_crossentropy"):
        model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(units, activation="sigmoid")])
        model.compile("sgd", loss)
        with pytest.raises(ValueError, match=f"{loss} expects targets of the model's {advice}"):
            model.fit(X, labels, verbose=0)
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="sigmoid")])
    k_model.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match="must have the same shape"):
        k_model.fit(X, labels, verbose=0)
    # Labels (n,) or (n, 1) against one sigmoid unit still train, as in Keras.
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    model.fit(X, Y, verbose=0)
    model.fit(X, Y[:, None], verbose=0)


# ---- the data's dtypes and row counts in fit, evaluate and predict -------------------------------------------------

def _identity_model(lib, dtype: str):
    """A functional model whose output is its ``Input`` of ``dtype`` flattened: the data's dtype shows through."""
    inputs = lib.Input((2, 3), dtype=dtype)
    return lib.Model(inputs, lib.layers.Flatten()(inputs))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
def test_predict_keeps_the_declared_integer_input_dtype_as_keras(keras, dtype):
    """Keras converts data to each Input's dtype; layerwise turned uint8 and bool data into float32 in predict."""
    data = (np.arange(24) % 5).reshape(4, 2, 3)
    for source in (data.astype("uint8"), data.astype("int64"), data.astype("float32")):
        if dtype == "bool" and source.dtype != np.uint8:
            continue
        x = source.astype(bool) if dtype == "bool" else source
        theirs, ours = _identity_model(keras, dtype), _identity_model(layerwise, dtype)
        expected = theirs.predict(x, verbose=0)
        for got in (ours.predict(x, verbose=0), ours.predict_on_batch(x),
                    ours.predict(iter([(x[:2],), (x[2:],)]), verbose=0)):
            assert got.dtype == expected.dtype == np.dtype(dtype), (source.dtype, got.dtype, expected.dtype)
            np.testing.assert_array_equal(got, expected)


def test_evaluate_and_fit_score_integer_outputs_in_float32_as_keras(keras):
    """The loss takes integer outputs as float32, as Keras' Loss casts y_pred (layerwise raised in torch's mean).
    Keras' mean_absolute_error metric casts y_true to uint8 instead and wraps around, so only the loss is compared."""
    x = (np.arange(24) % 5).reshape(4, 2, 3)  # int64 ids for an int32 Input
    y = np.linspace(0, 3, 24, dtype="float32").reshape(4, 6)
    results = []
    for lib in (keras, layerwise):
        model = _identity_model(lib, "int32")
        model.compile("sgd", "mse")
        results.append(model.evaluate(x, y, batch_size=3, verbose=0))
        results.append(model.fit(x, y, batch_size=3, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(results[2], results[0], rtol=1e-6)
    np.testing.assert_allclose(results[3], results[1], rtol=1e-6)


def _two_input_model(lib):
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    return lib.Model([a, b], [lib.layers.Dense(1)(a), lib.layers.Dense(1)(b)])


def test_predict_refuses_inputs_with_different_numbers_of_rows_as_keras(keras):
    """Keras raises 'Data cardinality is ambiguous'; layerwise predicted 10 and 9 rows for the two outputs."""
    x = [np.ones((10, 3), "float32"), np.ones((9, 2), "float32")]
    with pytest.raises(ValueError, match="cardinality"):
        _two_input_model(keras).predict(x, verbose=0)
    model = _two_input_model(layerwise)
    for predict in (lambda: model.predict(x, verbose=0), lambda: model.predict_on_batch(x)):
        with pytest.raises(ValueError, match=r"different numbers of samples: x 'a' has 10, x 'b' has 9"):
            predict()


def _labelled_dataset(lib, with_weights: bool = False):
    """A PyDataset of two (x, y) batches of binary labels (with sample weights when ``with_weights``)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 3), dtype="float32"), (rng.random((10, 1)) > 0.5).astype("float32")

    class Batches(lib.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            rows = slice(5 * i, 5 * i + 5)
            return (x[rows], y[rows], np.ones(5)) if with_weights else (x[rows], y[rows])

    return Batches()


def _sigmoid_model(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")])
    model.compile("sgd", "binary_crossentropy", weighted_metrics=["accuracy"])
    return model


def test_class_weight_weighs_a_py_dataset_as_keras(keras):
    """Keras' PyDataset adapter weighs each (x, y) batch by class_weight; layerwise refused any dataset."""
    histories = [_sigmoid_model(lib).fit(_labelled_dataset(lib), class_weight={0: 1.0, 1: 5.0}, epochs=2,
                                         shuffle=False, verbose=0).history for lib in (keras, layerwise)]
    assert histories[1].keys() == histories[0].keys()
    for name in histories[0]:
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)
    for lib in (keras, layerwise):
        with pytest.raises(ValueError, match="class_weight` and `sample_weight"):
            _sigmoid_model(lib).fit(_labelled_dataset(lib, with_weights=True), class_weight={0: 1.0, 1: 5.0},
                                    verbose=0)


def test_data_tensors_that_require_grad_train_and_predict_without_torch_warnings():
    """A tensor with requires_grad=True is data here, as in Keras: layerwise read its values for the NaN check
    and torch warned 'Converting a tensor with requires_grad=True to a scalar'."""
    import warnings

    import torch

    x = torch.rand(6, 3, requires_grad=True)
    model = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, torch.ones(6, 1), verbose=0)
        assert model.predict(x, verbose=0).shape == (6, 1)
    assert x.grad is None


def test_each_input_of_a_dict_takes_its_own_declared_dtype_as_keras(keras):
    """The declared dtypes follow the inputs by name, whatever the order of the model's dict of inputs."""
    x = {"ids": np.array([[1, 2], [3, 4]]), "feat": np.array([[0.5, 1.5], [2.0, 3.0]], "float32")}
    results = []
    for lib in (keras, layerwise):
        feat, ids = lib.Input((2,), name="feat"), lib.Input((2,), dtype="uint8", name="ids")
        model = lib.Model({"ids": ids, "feat": feat}, {"o_ids": lib.layers.Flatten()(ids),
                                                       "o_feat": lib.layers.Flatten()(feat)})
        results.append(model.predict(x, verbose=0))
    for name in ("o_ids", "o_feat"):
        assert results[1][name].dtype == results[0][name].dtype
        np.testing.assert_array_equal(results[1][name], results[0][name])


@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight_weighs_each_step_of_per_step_targets(keras, one_hot):
    """Sparse (batch, timesteps) labels of a sequence output were taken for one-hot rows: the argmax over time,
    a step index, became each row's class. Each step is weighed by its own label now, as sample_weight=cw[y] is
    in Keras (whose fit(class_weight=...) raises for both target forms here)."""
    x = np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6], [7, 8, 0]])
    y = np.array([[2, 0, 0], [1, 0, 0], [0, 1, 2], [0, 2, 0]])
    class_weight = {0: 0.1, 1: 1.0, 2: 10.0}
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    targets = np.eye(3, dtype="float32")[y] if one_hot else y

    def build(lib):
        inputs = lib.Input((3,), dtype="int32")
        hidden = lib.layers.Embedding(10, 2, mask_zero=True)(inputs)
        model = lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(hidden))
        model.compile(optimizer=lib.optimizers.SGD(0.0), loss=loss)
        return model

    k_model, lw_model = build(keras), build(layerwise)
    lw_model.set_weights(k_model.get_weights())
    expected = k_model.evaluate(x, targets, sample_weight=np.array([0.1, 1.0, 10.0])[y], verbose=0)
    got = lw_model.fit(x, targets, class_weight=class_weight, batch_size=4, verbose=0).history["loss"][0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
