"""layerwise.wrappers: Keras' scikit-learn wrappers, checked by scikit-learn's own estimator checks and on
bundled data."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import layerwise
from layerwise.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer


def dense_model(X, y, loss, out_activation="softmax", layers=(10,), seed=0):
    """Keras' own example builder, sized from the data; the seed makes each fit the same, which several of
    scikit-learn's checks assume (refits, arrays against lists, 1-D against column targets)."""
    layerwise.utils.set_random_seed(seed)
    inputs = layerwise.Input((X.shape[1],))
    hidden = inputs
    for units in layers:
        hidden = layerwise.layers.Dense(units, activation="relu")(hidden)
    outputs = layerwise.layers.Dense(y.shape[1], activation=out_activation)(hidden)
    model = layerwise.Model(inputs, outputs)
    model.compile(loss=loss, optimizer="rmsprop")
    return model


class Named:
    """A builder whose repr is its name: scikit-learn names each check after the estimator's repr, and a bare
    function's repr holds its address, which differs between pytest-xdist workers (they must collect the same
    test ids)."""

    def __init__(self, build):
        self.build = build

    def __call__(self, **kwargs):
        return self.build(**kwargs)

    def __repr__(self) -> str:
        return self.build.__name__


@parametrize_with_checks([
    SKLearnClassifier(Named(dense_model), model_kwargs={"loss": "categorical_crossentropy", "layers": (20, 20, 20)},
                      fit_kwargs={"epochs": 5, "verbose": 0}),
    SKLearnRegressor(Named(dense_model), model_kwargs={"loss": "mse", "out_activation": None},
                     fit_kwargs={"verbose": 0}),
    SKLearnTransformer(Named(dense_model), model_kwargs={"loss": "mse"}, fit_kwargs={"verbose": 0}),
])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_the_wrappers_are_keras_wrappers(keras):
    for name in ("SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"):
        ours, theirs = getattr(layerwise.wrappers, name)(dense_model), getattr(keras.wrappers, name)(dense_model)
        assert ours.get_params() == theirs.get_params()


def test_classifier_in_a_pipeline_with_cross_validation_and_roc_auc():
    X, y = load_breast_cancer(return_X_y=True)
    classifier = SKLearnClassifier(dense_model, model_kwargs={"loss": "categorical_crossentropy"},
                                   fit_kwargs={"epochs": 20, "verbose": 0})
    scores = cross_val_score(make_pipeline(StandardScaler(), classifier), X, y, cv=3, scoring="roc_auc")
    assert scores.min() > 0.95  # the binary decision_function is one score per row, as the scorer needs
    fitted = make_pipeline(StandardScaler(), classifier).fit(X, y)
    probabilities = fitted.predict_proba(X[:5])
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (fitted.predict(X[:5]) == fitted.classes_[probabilities.argmax(axis=1)]).all()
    assert np.array_equal(fitted.decision_function(X[:5]), probabilities[:, 1] - probabilities[:, 0])


def test_classifier_keeps_string_labels_and_a_given_model_is_cloned_not_trained():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    classifier = SKLearnClassifier(model, fit_kwargs={"epochs": 3, "verbose": 0}).fit(X, names)
    assert classifier.model_ is not model and classifier.model_.compiled
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert set(classifier.predict(X)) <= set(names) and list(classifier.classes_) == list(names[[0, 50, 100]])
    assert classifier.epoch_ == 3 and classifier.n_features_in_ == 4


def test_regressor_grid_search_and_multiple_outputs():
    X, y = load_diabetes(return_X_y=True)
    regressor = SKLearnRegressor(dense_model, model_kwargs={"loss": "mse", "out_activation": None, "layers": (32,)})
    search = GridSearchCV(make_pipeline(StandardScaler(), regressor), cv=3, param_grid={
        "sklearnregressor__fit_kwargs": [{"epochs": 5, "verbose": 0}, {"epochs": 60, "batch_size": 16, "verbose": 0}]})
    search.fit(X, y / 100)
    assert search.best_params_["sklearnregressor__fit_kwargs"]["epochs"] == 60 and search.best_score_ > 0.3
    assert search.predict(X[:4]).shape == (4,) and search.predict(X[:4]).dtype == np.float64
    two = clone(regressor).fit(X, np.stack([y, -y], axis=1) / 100, epochs=2, verbose=0)
    assert two.predict(X[:4]).shape == (4, 2)


def test_warm_start_continues_the_previous_model_and_fit_kwargs_are_not_modified():
    X, y = load_iris(return_X_y=True)
    fit_kwargs = {"epochs": 2, "verbose": 0}
    classifier = SKLearnClassifier(dense_model, warm_start=True, model_kwargs={"loss": "categorical_crossentropy"},
                                   fit_kwargs=fit_kwargs)
    first = classifier.fit(X, y, epochs=1).model_
    losses = classifier.fit(X, y).history_.history["loss"]
    assert classifier.model_ is first and len(losses) == 2 and fit_kwargs == {"epochs": 2, "verbose": 0}
    cold = SKLearnClassifier(dense_model, model_kwargs={"loss": "categorical_crossentropy"}, fit_kwargs=fit_kwargs)
    assert cold.fit(X, y).model_ is not cold.fit(X, y).model_
    assert clone(classifier).get_params()["fit_kwargs"] == fit_kwargs


def test_transformer_gives_the_models_outputs_in_a_pipeline():
    X, _ = load_iris(return_X_y=True)
    codes = SKLearnTransformer(dense_model, model_kwargs={"loss": "mse", "out_activation": None, "layers": (2,)},
                               fit_kwargs={"epochs": 2, "verbose": 0}).fit(X, X)
    assert codes.transform(X).shape == (150, 4) and codes.fit_transform(X, X).shape == (150, 4)


def test_bad_models_and_targets_are_named():
    X, y = load_iris(return_X_y=True)
    uncompiled = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(3, activation="softmax")])
    with pytest.raises(RuntimeError, match=r"SKLearnClassifier: the model needs to be compiled, with a loss"):
        SKLearnClassifier(uncompiled).fit(X, y)
    with pytest.raises(TypeError, match=r"SKLearnRegressor: model must be a compiled layerwise Model or a function"):
        SKLearnRegressor("mlp").fit(X, y)
    with pytest.raises(TypeError, match=r"the model function must return a compiled layerwise Model; it returned "
                                        r"str"):
        SKLearnRegressor(lambda X, y: "mlp").fit(X, y)
    classifier = SKLearnClassifier(dense_model, model_kwargs={"loss": "categorical_crossentropy"},
                                   fit_kwargs={"verbose": 0})
    with pytest.raises(ValueError, match=r"binary or multiclass labels, one per row; y is 'continuous'"):
        classifier.fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"y has only one class \(1\); a classifier needs at least two"):
        classifier.fit(X, np.ones(150, int))
    narrow = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(1, activation="sigmoid")])
    narrow.compile("adam", "binary_crossentropy")
    fitted = SKLearnClassifier(narrow, fit_kwargs={"verbose": 0})
    fitted.model_, fitted.classes_, fitted.n_features_in_, fitted._flat_target = narrow, np.array([0, 1]), 4, True
    with pytest.raises(ValueError, match=r"outputs of shape \(1,\) per row for 2 classes; end it with Dense\(2"):
        fitted.predict(X)
