"""RBMImputer: fill missing entries from an RBM's distribution of each row given its observed entries."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils._mask import _get_mask
from sklearn.utils.validation import check_is_fitted, validate_data

from layerwise.backend import float_dtype, get_device
from layerwise.rbm._validation import check_positive_int, column_names, torch_generator
from layerwise.rbm.lateral import LateralGaussianRBM


class RBMImputer(TransformerMixin, BaseEstimator):
    """Impute missing values with a Gaussian–Bernoulli RBM, scikit-learn's imputer API.

    The RBM's visible units are also connected to each other (``lateral=True``: a semi-restricted
    Boltzmann machine, see ``rbm/lateral.py``), so linear relations between columns are modelled by the
    visible units and the rest by the hidden ones. ``fit`` standardises each column on its observed
    entries, fills the missing ones with the column mean and trains the model by CD-1 in ``n_rounds``
    rounds; after each round the missing entries are redrawn from the model with the observed entries
    clamped (stochastic EM, so the model stops learning the mean-filled placeholders). ``transform``
    fills each missing entry by mean-field inference given the observed entries of its row
    (``sample_posterior=False``), or by a Gibbs draw from the conditional distribution
    (``sample_posterior=True``); ``multiple_imputations`` returns ``n_imputations`` such draws.

    Parameters
    ----------
    missing_values : float or int, default np.nan
    n_components : int, default 128
        Hidden units.
    add_indicator : bool, default False
        Append ``MissingIndicator`` columns, as scikit-learn's imputers do.
    sample_posterior : bool, default False
    n_imputations : int, default 5
        Draws returned by ``multiple_imputations``.
    n_iter, n_rounds, learning_rate, batch_size : default 20, 5, 0.003, 32
        ``n_iter`` epochs per round of training; ``learning_rate`` is Adam's step size.
    n_gibbs_steps : int, default 20
        Mean-field iterations, or Gibbs steps per posterior draw. Each step solves one small linear
        system per row (its missing entries given its observed ones).
    lateral : bool, default True
        Connect the visible units to each other (a full precision matrix). ``False`` gives a plain
        Gaussian–Bernoulli RBM with learned variances, which imputes worse on every data set of
        ``benchmarks/rbm_imputation.py``.
    clip : bool, default True
        Keep each filled entry within the range of its column's observed values.
    random_state : None, int or RandomState

    Fitted attributes: ``rbm_`` (a ``LateralGaussianRBM``), ``mean_``, ``scale_``, ``data_min_``,
    ``data_max_`` (observed-entry statistics), ``indicator_``, ``n_features_in_``.
    """

    def __init__(self, *, missing_values=np.nan, n_components: int = 128, add_indicator: bool = False,
                 sample_posterior: bool = False, n_imputations: int = 5, n_iter: int = 20, n_rounds: int = 5,
                 learning_rate: float = 0.003, batch_size: int = 32, n_gibbs_steps: int = 20,
                 lateral: bool = True, clip: bool = True, random_state=None):
        self.missing_values = missing_values
        self.n_components = n_components
        self.add_indicator = add_indicator
        self.sample_posterior = sample_posterior
        self.n_imputations = n_imputations
        self.n_iter = n_iter
        self.n_rounds = n_rounds
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_gibbs_steps = n_gibbs_steps
        self.lateral = lateral
        self.clip = clip
        self.random_state = random_state

    def _validate(self, X, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """(float copy of X, missing mask); never the caller's array."""
        ensure = "allow-nan" if self.missing_values is np.nan or self.missing_values != self.missing_values \
            else True
        Xv = validate_data(self, X, dtype=(np.float64, np.float32), ensure_all_finite=ensure, reset=reset,
                           copy=True)
        return Xv, _get_mask(Xv, self.missing_values)

    def _standardised_tensors(self, X: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(standardised X with missing entries at the column mean, observed mask) on the model's device."""
        Z = (X - self.mean_) / self.scale_
        Z[mask] = 0.0
        device = self.rbm_.b.device
        return (torch.as_tensor(Z, dtype=float_dtype(), device=device), torch.as_tensor(~mask, device=device))

    def fit(self, X, y=None):
        """Learn the distribution of ``X`` (n_samples, n_features) with missing entries."""
        self._fit_impute(X)
        return self

    def fit_transform(self, X, y=None, **params) -> np.ndarray:
        """``fit`` then ``transform`` on the same rows."""
        return self._fit_impute(X)

    def _fit_impute(self, X) -> np.ndarray:
        rounds = check_positive_int(self.n_rounds, "n_rounds")
        epochs = check_positive_int(self.n_iter, "n_iter")
        batch_size = check_positive_int(self.batch_size, "batch_size")
        hidden = check_positive_int(self.n_components, "n_components")
        check_positive_int(self.n_gibbs_steps, "n_gibbs_steps")
        Xv, mask = self._validate(X, reset=True)
        empty = np.flatnonzero(mask.all(0))
        if empty.size:
            names = [column_names(X, Xv.shape[1])[j] for j in empty]
            raise ValueError(f"Column(s) {names} are missing in every row; RBMImputer cannot learn them. "
                             "Drop them before imputing.")
        observed = np.where(mask, np.nan, Xv)
        self.mean_ = np.nanmean(observed, axis=0)
        std = np.nanstd(observed, axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.data_min_, self.data_max_ = np.nanmin(observed, axis=0), np.nanmax(observed, axis=0)
        device = get_device()
        self._generator = torch_generator(self.random_state, device)
        self.rbm_ = LateralGaussianRBM(Xv.shape[1], hidden, lateral=bool(self.lateral), generator=self._generator,
                                       device=device)
        optimizer = torch.optim.Adam(self.rbm_.parameters(), lr=float(self.learning_rate))
        Zt, observed_t = self._standardised_tensors(Xv, mask)
        for _ in range(rounds):
            self.rbm_.fit_epochs(Zt, epochs, batch_size, optimizer, self._generator)
            Zt = self.rbm_.conditional_chain(Zt, observed_t, int(self.n_gibbs_steps), self._generator,
                                             mean_field=False)
        self.indicator_ = MissingIndicator(missing_values=self.missing_values, error_on_new=False).fit(Xv) \
            if self.add_indicator else None
        return self._finish(Xv, mask, self._infer(Zt, observed_t, self.sample_posterior), Xv)

    def _infer(self, Zt: torch.Tensor, observed: torch.Tensor, sample: bool) -> np.ndarray:
        out = self.rbm_.conditional_chain(Zt, observed, int(self.n_gibbs_steps), self._generator,
                                          mean_field=not sample)
        return out.cpu().numpy().astype(np.float64)

    def _finish(self, Xv: np.ndarray, mask: np.ndarray, filled_std_units: np.ndarray, X_in) -> np.ndarray:
        filled = filled_std_units * self.scale_ + self.mean_
        if self.clip:
            filled = np.clip(filled, self.data_min_, self.data_max_)
        out = Xv.copy()
        out[mask] = filled[mask].astype(Xv.dtype)
        if self.indicator_ is not None:
            out = np.hstack([out, self.indicator_.transform(X_in).astype(out.dtype)])
        return out

    def _prepare(self, X) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
        check_is_fitted(self, "rbm_")
        Xv, mask = self._validate(X, reset=False)
        return (Xv, mask, *self._standardised_tensors(Xv, mask))

    def transform(self, X) -> np.ndarray:
        """``X`` with every missing entry filled, shape (n_samples, n_features [+ indicators])."""
        Xv, mask, Zt, obs = self._prepare(X)
        return self._finish(Xv, mask, self._infer(Zt, obs, self.sample_posterior), Xv)

    def multiple_imputations(self, X) -> np.ndarray:
        """``n_imputations`` posterior draws of the completed ``X``, shape (n_imputations, n_samples, n_out)."""
        n = check_positive_int(self.n_imputations, "n_imputations")
        Xv, mask, Zt, obs = self._prepare(X)
        return np.stack([self._finish(Xv, mask, self._infer(Zt, obs, True), Xv) for _ in range(n)])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Input feature names, followed by the indicator's names when ``add_indicator``."""
        check_is_fitted(self, "rbm_")
        from sklearn.utils.validation import _check_feature_names_in

        names = _check_feature_names_in(self, input_features)
        if self.indicator_ is not None:
            names = np.concatenate([names, self.indicator_.get_feature_names_out(names)])
        return names

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
