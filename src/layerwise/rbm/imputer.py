"""RBMImputer: fill missing entries from an RBM's distribution of each row given its observed entries."""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils._mask import _get_mask
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils._param_validation import Interval, MissingValues
from sklearn.utils.validation import check_is_fitted, validate_data

from layerwise.backend import float_dtype, get_device
from layerwise.pickling import PortablePickle
from layerwise.rbm._validation import column_names, torch_generator
from layerwise.rbm.lateral import LateralGaussianRBM
from layerwise.rbm.training import watch_divergence


class RBMImputer(PortablePickle, TransformerMixin, BaseEstimator):
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
    missing_values : float, int or pd.NA, default np.nan
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
    keep_empty_features : bool, default False
        A column missing in every row of ``fit`` is an error that names it (there is nothing to learn
        it from; scikit-learn's imputers drop such a column instead). True keeps it and fills it with 0,
        as scikit-learn does.
    random_state : None, int or RandomState

    Fitted attributes: ``rbm_`` (a ``LateralGaussianRBM``), ``mean_``, ``scale_``, ``data_min_``,
    ``data_max_`` (observed-entry statistics of the columns the model learns), ``indicator_``,
    ``n_features_in_``.
    """

    _parameter_constraints: dict = {
        "missing_values": [MissingValues(numeric_only=True)],
        **{name: [Interval(Integral, 1, None, closed="left")]
           for name in ("n_components", "n_imputations", "n_iter", "n_rounds", "batch_size", "n_gibbs_steps")},
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        **{name: ["boolean"] for name in ("add_indicator", "sample_posterior", "lateral", "clip",
                                          "keep_empty_features")},
        "random_state": ["random_state"],
    }

    def __init__(self, *, missing_values=np.nan, n_components: int = 128, add_indicator: bool = False,
                 sample_posterior: bool = False, n_imputations: int = 5, n_iter: int = 20, n_rounds: int = 5,
                 learning_rate: float = 0.003, batch_size: int = 32, n_gibbs_steps: int = 20,
                 lateral: bool = True, clip: bool = True, keep_empty_features: bool = False, random_state=None):
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
        self.keep_empty_features = keep_empty_features
        self.random_state = random_state

    def _validate(self, X, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """(float copy of X, missing mask); never the caller's array."""
        nan = self._placeholder() is np.nan
        Xv = validate_data(self, X, dtype=(np.float64, np.float32), ensure_all_finite="allow-nan" if nan else True,
                           reset=reset, copy=True)
        return Xv, _get_mask(Xv, self._placeholder())

    def _placeholder(self):
        """What marks a missing entry in the float array: pd.NA in a nullable column becomes NaN there."""
        missing = self.missing_values
        return np.nan if is_pandas_na(missing) or is_scalar_nan(missing) else missing

    def _standardised_tensors(self, X: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(standardised learned columns, missing entries at the column mean; observed mask) on the device."""
        X, mask = X[:, self._learned], mask[:, self._learned]
        Z = (X - self.mean_) / self.scale_
        Z[mask] = 0.0
        b = self.rbm_.b
        return torch.as_tensor(Z, dtype=b.dtype, device=b.device), torch.as_tensor(~mask, device=b.device)

    def fit(self, X, y=None):
        """Learn the distribution of ``X`` (n_samples, n_features) with missing entries."""
        self._fit_impute(X)
        return self

    def fit_transform(self, X, y=None, **params) -> np.ndarray:
        """``fit`` then ``transform`` on the same rows."""
        return self._fit_impute(X)

    def _fit_impute(self, X) -> np.ndarray:
        self._validate_params()
        Xv, mask = self._validate(X, reset=True)
        empty = mask.all(0)
        if empty.any() and not self.keep_empty_features:
            names = [column_names(X, Xv.shape[1])[j] for j in np.flatnonzero(empty)]
            raise ValueError(f"Column(s) {names} are missing in every row; RBMImputer cannot learn them. "
                             "Drop them before imputing, or pass keep_empty_features=True to fill them with 0.")
        self._learned = ~empty
        observed = np.where(mask, np.nan, Xv)[:, self._learned]
        self.mean_ = np.nanmean(observed, axis=0)
        std = np.nanstd(observed, axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.data_min_, self.data_max_ = np.nanmin(observed, axis=0), np.nanmax(observed, axis=0)
        device = get_device()
        self._generator = torch_generator(self.random_state, device)
        self.rbm_ = LateralGaussianRBM(int(self._learned.sum()), self.n_components, lateral=self.lateral,
                                       generator=self._generator, device=device, dtype=float_dtype())
        optimizer = torch.optim.Adam(self.rbm_.parameters(), lr=float(self.learning_rate))
        Zt, observed_t = self._standardised_tensors(Xv, mask)
        for r in range(self.n_rounds):
            with self._diverging(r * int(self.n_iter)):
                self.rbm_.fit_epochs(Zt, self.n_iter, self.batch_size, optimizer, self._generator)
                Zt = self.rbm_.conditional_chain(Zt, observed_t, int(self.n_gibbs_steps), self._generator,
                                                 mean_field=False)
        self.indicator_ = MissingIndicator(missing_values=self._placeholder(), error_on_new=False).fit(Xv) \
            if self.add_indicator else None
        return self._finish(Xv, mask, self._infer(Zt, observed_t, self.sample_posterior))

    def _diverging(self, epoch: int):
        """A ValueError naming ``learning_rate`` when training diverges (torch's NaN or Cholesky errors
        otherwise), as the RBMs of ``base.py`` raise."""
        def size() -> float:
            return max(float(p.detach().abs().amax()) for p in self.rbm_.parameters())

        return watch_divergence("RBMImputer", self.learning_rate, epoch, size, math.inf,
                                "Adam's default step sizes (1e-3 to 1e-2) suit standardised data.")

    def _infer(self, Zt: torch.Tensor, observed: torch.Tensor, sample: bool) -> np.ndarray:
        out = self.rbm_.conditional_chain(Zt, observed, int(self.n_gibbs_steps), self._generator,
                                          mean_field=not sample)
        return out.cpu().numpy().astype(np.float64)

    def _finish(self, Xv: np.ndarray, mask: np.ndarray, filled_std_units: np.ndarray) -> np.ndarray:
        """``Xv`` with its missing entries taken from the model's fills (learned columns, standardised)."""
        filled = np.zeros(Xv.shape)  # columns empty at fit (keep_empty_features) are filled with 0
        filled[:, self._learned] = filled_std_units * self.scale_ + self.mean_
        if self.clip:
            filled[:, self._learned] = np.clip(filled[:, self._learned], self.data_min_, self.data_max_)
        out = Xv.copy()
        out[mask] = filled[mask].astype(Xv.dtype)
        if self.indicator_ is not None:
            out = np.hstack([out, self.indicator_.transform(Xv).astype(out.dtype)])
        return out

    def _prepare(self, X) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
        check_is_fitted(self, "rbm_")
        Xv, mask = self._validate(X, reset=False)
        return (Xv, mask, *self._standardised_tensors(Xv, mask))

    def transform(self, X) -> np.ndarray:
        """``X`` with every missing entry filled, shape (n_samples, n_features [+ indicators])."""
        Xv, mask, Zt, obs = self._prepare(X)
        return self._finish(Xv, mask, self._infer(Zt, obs, self.sample_posterior))

    def multiple_imputations(self, X) -> np.ndarray:
        """``n_imputations`` posterior draws of the completed ``X``, shape (n_imputations, n_samples, n_out)."""
        Xv, mask, Zt, obs = self._prepare(X)
        return np.stack([self._finish(Xv, mask, self._infer(Zt, obs, True)) for _ in range(self.n_imputations)])

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
