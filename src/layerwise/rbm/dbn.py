"""Deep belief network: RBMs stacked and trained greedily, one layer at a time (Hinton et al. 2006)."""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from layerwise.rbm._validation import check_no_nan, check_unit_interval
from layerwise.rbm.base import RBMBase
from layerwise.rbm.bernoulli import BernoulliRBM
from layerwise.rbm.gaussian import GaussianBernoulliRBM


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A stack of RBMs; each is trained on the hidden probabilities of the one below.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (256, 128)
        Hidden units of each RBM, bottom first; an int is one layer (as MLPClassifier).
    first_layer : {'bernoulli', 'gaussian'}, default 'bernoulli'
        Visible units of the bottom RBM: Bernoulli for data in [0, 1], Gaussian for real values.
    learning_rate, batch_size, n_iter, random_state, verbose
        Passed to every RBM (the Gaussian bottom layer uses ``learning_rate / 10``, as Gaussian units
        need a smaller step; Hinton's guide section 13.2).
    rbm_params : dict, optional
        Further settings of the RBMs, e.g. ``{"k": 3, "weight_decay": 0, "learn_variance": True}``; each RBM
        takes those its class has (``learn_variance`` reaches only a Gaussian bottom layer).

    ``transform`` gives the top layer's hidden probabilities; ``to_sequential`` returns a
    ``layerwise.models.Sequential`` of Dense/sigmoid layers with the RBMs' weights, for fine-tuning.
    Fitted attributes: ``rbms_`` (the fitted RBMs, bottom first), ``n_features_in_``.

    ``check_estimator`` with ``first_layer='gaussian'`` passes all checks but the one in
    ``DBN_EXPECTED_FAILED_CHECKS`` (float32 arithmetic: reordering rows changes BLAS blocking, so two
    stacked layers differ by ~1e-7 relative, above that check's 1e-9 tolerance). With the default
    'bernoulli' it also fails those in ``layerwise.rbm.bernoulli.EXPECTED_FAILED_CHECKS`` (values outside
    [0, 1] are rejected).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "first_layer": [StrOptions({"bernoulli", "gaussian"})],
        **{name: RBMBase._parameter_constraints[name]
           for name in ("learning_rate", "batch_size", "n_iter", "random_state", "verbose")},
        "rbm_params": [None, dict],
    }

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (256, 128), *, first_layer: str = "bernoulli",
                 learning_rate: float = 0.1, batch_size: int = 10, n_iter: int = 10, random_state=None,
                 verbose: int = 0, rbm_params: dict | None = None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.first_layer = first_layer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.random_state = random_state
        self.verbose = verbose
        self.rbm_params = rbm_params

    def _make_rbm(self, index: int, n_hidden: int, seed: int):
        common = dict(n_components=int(n_hidden), batch_size=self.batch_size, n_iter=self.n_iter,
                      random_state=seed, verbose=self.verbose)
        gaussian = index == 0 and self.first_layer == "gaussian"
        cls = GaussianBernoulliRBM if gaussian else BernoulliRBM
        extra = {k: v for k, v in (self.rbm_params or {}).items() if k in cls._parameter_constraints}
        return cls(learning_rate=self.learning_rate / 10 if gaussian else self.learning_rate, **common, **extra)

    def _check_rbm_params(self) -> None:
        names = set(self.rbm_params or {})
        own = names & {"n_components", "learning_rate", "batch_size", "n_iter", "random_state", "verbose"}
        if own:
            raise ValueError(f"rbm_params: set {sorted(own)} on the DBN itself (n_components is "
                             "hidden_layer_sizes).")
        unknown = names - set(BernoulliRBM._parameter_constraints) - set(GaussianBernoulliRBM._parameter_constraints)
        if unknown:
            raise ValueError(f"rbm_params: {sorted(unknown)} are not settings of BernoulliRBM or "
                             "GaussianBernoulliRBM.")

    def fit(self, X, y=None):
        """Train the RBMs bottom-up on ``X`` (n_samples, n_features)."""
        self._validate_params()
        X = self._checked(X, reset=True)
        self._check_rbm_params()
        # An int is one hidden layer, as in scikit-learn's MLPClassifier.
        sizes = list(self.hidden_layer_sizes) if np.iterable(self.hidden_layer_sizes) else [self.hidden_layer_sizes]
        if not sizes or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be a non-empty list of positive ints; got {sizes!r}.")
        rng = np.random.RandomState(self.random_state) if not isinstance(
            self.random_state, np.random.RandomState) else self.random_state
        self.rbms_, data = [], X
        for i, size in enumerate(sizes):
            rbm = self._make_rbm(i, size, int(rng.randint(0, 2**31 - 1))).fit(data)
            self.rbms_.append(rbm)
            data = rbm.transform(data)
        self._n_features_out = int(sizes[-1])
        return self

    def _checked(self, X, *, reset: bool):
        """``X`` (n_samples, n_features) validated with messages that name the DBN; scipy sparse input stays CSR
        (the bottom RBM takes it, one chunk at a time), and only its stored values need checking."""
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset,
                          ensure_all_finite=False)
        values = X.data if sparse.issparse(X) else X
        check_no_nan(values, "DBN")
        if reset and self.first_layer == "bernoulli":
            # Checked here so that the message names the DBN and its own way to take real values.
            clipped = check_unit_interval(values, "DBN (first_layer='bernoulli')",
                                          real_valued="pass first_layer='gaussian'")
            if clipped is not values:  # rounding errors clipped: on a copy, never the caller's matrix
                if sparse.issparse(X):
                    X = X.copy()
                    X.data = clipped
                else:
                    X = clipped
        return X

    def transform(self, X) -> np.ndarray:
        """Top-layer hidden probabilities, shape (n_samples, hidden_layer_sizes[-1])."""
        check_is_fitted(self, "rbms_")
        X = self._checked(X, reset=False)
        for rbm in self.rbms_:
            X = rbm.transform(X)
        return X

    def dense_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(kernel (in, out), bias (out,)) per layer in Keras layout, so sigmoid(x @ kernel + bias) = transform.

        For a Gaussian bottom layer the standardisation and variances are folded into the kernel and bias. Dense
        layers compute in float32, where a column whose mean is 10^4 times its standard deviation or more loses
        digits to cancellation: centre such columns before fitting.
        """
        check_is_fitted(self, "rbms_")
        out = []
        for rbm in self.rbms_:
            kernel, bias = rbm.components_.T.copy(), rbm.intercept_hidden_.copy()
            if isinstance(rbm, GaussianBernoulliRBM):
                # hidden input = c + Σ_i W_ij (x_i − mean_i) / (scale_i σ_i²)
                inv = rbm._inv_var().cpu().numpy().astype(np.float64) if rbm._variance_learned else 1.0
                kernel = kernel * (inv / rbm.scale_)[:, None]
                bias = bias - rbm.mean_ @ kernel
            out.append((kernel.astype(np.float32), bias.astype(np.float32)))
        return out

    def to_sequential(self, n_classes: int | None = None, output_activation: str = "softmax"):
        """A ``layerwise.models.Sequential`` of Dense/sigmoid layers initialised with the RBMs' weights.

        With ``n_classes`` a Dense output layer (``output_activation``) is added on top, left at its
        initialiser, ready for ``compile`` and ``fit``.
        """
        from layerwise.layers import Dense, Input
        from layerwise.models import Sequential

        if n_classes is not None and (not isinstance(n_classes, Integral) or isinstance(n_classes, bool)
                                      or n_classes < 1):
            raise ValueError(f"n_classes must be a positive integer (the output layer's units); got {n_classes!r}.")
        weights = self.dense_weights()
        model = Sequential([Input((self.n_features_in_,))]
                           + [Dense(k.shape[1], activation="sigmoid") for k, _ in weights])
        if n_classes is not None:
            model.add(Dense(int(n_classes), activation=output_activation))
        model.build((None, self.n_features_in_))
        for layer, (kernel, bias) in zip(model.layers, weights):
            layer.set_weights([kernel, bias])
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


DBN_EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_methods_sample_order_invariance":
        "float32 results of two stacked layers differ by ~1e-7 relative when rows are reordered (BLAS blocking)",
}
