"""Keras' scikit-learn wrappers: a compiled model as a scikit-learn classifier, regressor or transformer, for
cross-validation, grid search and pipelines.

``model`` is either a compiled ``Model``, cloned with ``models.clone_model`` (which compiles the clone the same
way) before each fit, or a function called at each fit as ``model(X=X, y=y, **model_kwargs)`` that returns a
compiled model. It sees the data the model is trained on: ``X`` ``(samples, features)`` as scikit-learn validated
it (float64), ``y`` ``(samples, classes)`` one-hot for the classifier and ``(samples, outputs)`` otherwise, so it
can size the first and the last layer. ``fit_kwargs`` go to ``model.fit``; keywords given to ``fit`` itself take
precedence.

Where these differ from Keras 3's, scikit-learn's contract decides (Keras' own code does otherwise):
``warm_start=True`` continues training the model of the previous fit; ``fit_kwargs`` is never modified;
``clone`` keeps ``fit_kwargs``; ``predict``/``transform`` do not print a progress bar; for binary targets
``decision_function`` gives one score per row, shape ``(samples,)``, as scikit-learn's scorers (``"roc_auc"``)
need; and the classifier has ``predict_proba``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from layerwise.models.cloning import clone_model
from layerwise.models.model import Model

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


class SKLBase(BaseEstimator):
    """What the three wrappers share: building or cloning the model, fitting it and predicting with it.

    Attributes after ``fit``: ``model_`` (the fitted model), ``history_`` (what ``model.fit`` returned),
    ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame)."""

    _multi_output = True  # 2-D targets are accepted (the classifier takes one label per row)

    def __init__(self, model: Model | Callable[..., Model], warm_start: bool = False,
                 model_kwargs: dict | None = None, fit_kwargs: dict | None = None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # weights start at random and batches are shuffled
        tags.target_tags.multi_output = self._multi_output
        return tags

    def __sklearn_clone__(self):
        # The model is passed on, not deep-copied: fit clones a Model (or calls a function) before training.
        return type(self)(**self.get_params(deep=False))

    @property
    def epoch_(self) -> int:
        """How many epochs the last ``fit`` trained (0 before fitting)."""
        history = getattr(self, "history_", None)
        return 0 if history is None else len(history.epoch)

    def fit(self, X, y, **kwargs: Any) -> SKLBase:
        """Train on ``X`` ``(samples, features)`` and ``y`` ``(samples,)`` or ``(samples, outputs)``; keywords go to
        ``model.fit`` (``epochs``, ``batch_size``, ``sample_weight``...), over ``fit_kwargs``."""
        X, y = validate_data(self, X, y, multi_output=self._multi_output, y_numeric=self._multi_output)
        target = self._encode(y)
        model = self.model_ if self.warm_start and hasattr(self, "model_") else self._new_model(X, target)
        self.history_ = model.fit(X, target, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def _new_model(self, X: np.ndarray, target: np.ndarray) -> Model:
        owner = type(self).__name__
        if isinstance(self.model, Model):
            model = clone_model(self.model)
        elif callable(self.model):
            model = self.model(X=X, y=target, **(self.model_kwargs or {}))
        else:
            raise TypeError(f"{owner}: model must be a compiled layerwise Model or a function model(X=, y=, ...) "
                            f"that returns one; received {type(self.model).__name__}.")
        if not isinstance(model, Model):
            raise TypeError(f"{owner}: the model function must return a compiled layerwise Model; it returned "
                            f"{type(model).__name__}.")
        if not model.compiled or model._compile_args[0] is None or model.optimizer is None:
            raise RuntimeError(f"{owner}: the model needs to be compiled, with a loss and an optimizer, e.g. "
                               "model.compile(optimizer='adam', loss='categorical_crossentropy').")
        return model

    def _outputs(self, X) -> np.ndarray:
        """The fitted model's outputs for ``X``, ``(samples, outputs)``."""
        check_is_fitted(self)
        return np.asarray(self.model_.predict(validate_data(self, X, reset=False), verbose=0))

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """The targets as the model is trained on them: ``(samples, outputs)``."""
        self._flat_target = y.ndim == 1
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def predict(self, X) -> np.ndarray:
        """The model's outputs, ``(samples,)`` when it was fitted on 1-D targets, else ``(samples, outputs)``."""
        outputs = self._outputs(X)
        return outputs[:, 0] if self._flat_target and outputs.ndim == 2 and outputs.shape[1] == 1 else outputs


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A compiled model as a scikit-learn classifier of binary or multiclass labels (one label per row).

    The labels are one-hot encoded in the order of ``classes_`` (sorted), so the model ends in one unit per
    class, e.g. ``Dense(len(classes), activation="softmax")`` with ``categorical_crossentropy``; ``predict``
    gives the class of the largest output.
    """

    _multi_output = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a few epochs on scikit-learn's tiny check data
        return tags

    def _encode(self, y: np.ndarray) -> np.ndarray:
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"SKLearnClassifier takes binary or multiclass labels, one per row; y is {kind!r}. "
                             "For continuous targets use SKLearnRegressor.")
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            raise ValueError(f"SKLearnClassifier: y has only one class ({self.classes_[0].tolist()!r}); a "
                             "classifier needs at least two.")
        return (y[:, None] == self.classes_).astype("float32")

    def predict_proba(self, X) -> np.ndarray:
        """The model's outputs, ``(samples, classes)`` in the order of ``classes_``: probabilities when its
        last layer is a softmax."""
        outputs = self._outputs(X)
        if outputs.ndim != 2 or outputs.shape[1] != len(self.classes_):
            raise ValueError(f"SKLearnClassifier: the model gives outputs of shape {outputs.shape[1:]} per row for "
                             f"{len(self.classes_)} classes; end it with Dense({len(self.classes_)}, "
                             "activation='softmax').")
        return outputs

    def decision_function(self, X) -> np.ndarray:
        """The model's outputs ``(samples, classes)``; for two classes one score per row ``(samples,)``, the
        second class's output minus the first's, positive where ``classes_[1]`` is predicted."""
        outputs = self.predict_proba(X)
        return outputs[:, 1] - outputs[:, 0] if len(self.classes_) == 2 else outputs

    def predict(self, X) -> np.ndarray:
        """The class of the largest output for each row, ``(samples,)``."""
        outputs = self.predict_proba(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A compiled model as a scikit-learn regressor of one target ``(samples,)`` or several ``(samples,
    outputs)``; ``predict`` gives the same shape back, in float64 as scikit-learn's regressors do."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags

    def predict(self, X) -> np.ndarray:
        return super().predict(X).astype("float64")


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A compiled model as a scikit-learn transformer: ``fit(X, y)`` trains it, ``transform(X)`` gives its
    outputs ``(samples, outputs)``, e.g. the code layer of an encoder for the next step of a pipeline."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # the outputs are float32 whatever the input
        return tags

    def transform(self, X) -> np.ndarray:
        """The model's outputs for ``X``, ``(samples, outputs)``."""
        return self._outputs(X)
