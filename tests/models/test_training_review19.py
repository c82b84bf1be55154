"""Review 19 of the training loop's data handling, against Keras 3 (torch backend) as the oracle."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise


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
