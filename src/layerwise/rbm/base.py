"""The parts every RBM shares: parameters, conditionals, free energy and the scikit-learn surface.

Parameters live in one augmented matrix ``params_`` of shape ``(n_visible + 1, n_hidden + 1)``:

    params_[:nv, :nh] = W          (weights)
    params_[:nv,  nh] = b          (visible biases)
    params_[ nv, :nh] = c          (hidden biases)
    params_[ nv,  nh] = BIAS_LOCK  (a huge constant)

A visible row is stored with a trailing 1, a hidden row likewise, so ``v_aug @ params_`` gives the
hidden inputs *and* (after the sigmoid of ``b·v + BIAS_LOCK``) the constant 1 of the hidden row, and
one outer product ``v_aug.T @ h_aug`` is the gradient of W, b and c at once. That halves the number of
small tensor operations per mini-batch, which is what bounds speed at scikit-learn's batch size of 10.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_features, check_is_fitted, validate_data

from layerwise.backend import float_dtype, get_device
from layerwise.pickling import PortablePickle
from layerwise.rbm import training
from layerwise.rbm._validation import check_no_nan, torch_generator

# Large enough that sigmoid(b·v + BIAS_LOCK) is exactly 1.0 in float32 for any sensible b·v.
BIAS_LOCK = 1.0e4
# Rows per chunk when evaluating on large inputs, so memory stays bounded.
EVAL_CHUNK = 4096


class RBMBase(PortablePickle, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared machinery; subclasses define the visible units (``_visible_*`` hooks).

    Fitted attributes: ``params_`` (augmented parameter tensor, see module docstring),
    ``n_features_in_``, ``h_samples_`` (persistent chain, hidden states ``(batch_size, n_components)``).
    ``components_``, ``intercept_hidden_``, ``intercept_visible_`` and ``h_samples_`` are numpy arrays in
    the dtype of the training data, as in scikit-learn: views of ``params_`` (edits reach the model) when
    that dtype is the model's and it sits on the CPU, copies otherwise; assigning to them sets the model.
    """

    # Whether fit keeps sparse input sparse and densifies it batch by batch (visible units whose model space
    # is the input itself); otherwise it is densified whole (a Gaussian RBM centres it, which fills it anyway).
    _sparse_training = False

    # scikit-learn's checks of constructor arguments (InvalidParameterError names the wrong one).
    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "persistent": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "final_momentum": [Interval(Real, 0, 1, closed="left")],
        "momentum_switch": [Interval(Integral, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "learning_rate_decay": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [None, Interval(Real, 0, 1, closed="neither")],
        "sparsity_cost": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
    }

    # ---- hooks the visible-unit families implement (model space tensors) -------------------------
    def _visible_scale(self, v: torch.Tensor) -> torch.Tensor:
        """ṽ, the visible values as the hidden units see them (v/σ² for Gaussian units)."""
        return v

    def _visible_mean(self, pre: torch.Tensor) -> torch.Tensor:
        """E[v | h] from the visible inputs ``pre = b + W h`` of shape (n, nv)."""
        raise NotImplementedError

    def _visible_sample(self, pre: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """A sample of v | h from the visible inputs ``pre`` (n, nv)."""
        raise NotImplementedError

    def _visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        """The visible-only part of the free energy, shape (n,)."""
        return -(v @ self.params_[:-1, -1])

    def _to_model_space(self, X: np.ndarray) -> torch.Tensor:
        """Validated input (n, nv) as a float tensor on the model's device."""
        return to_tensor(X, self.params_, type(self).__name__)

    def _from_model_space(self, v: torch.Tensor) -> np.ndarray:
        return v.detach().cpu().numpy().astype(self._fit_dtype, copy=False)

    def _check_input_values(self, X: np.ndarray, *, training: bool) -> np.ndarray:
        """``X`` checked (and, for training, possibly clipped) for this family of visible units."""
        check_no_nan(X, type(self).__name__)
        return X

    def _init_visible(self, X: torch.Tensor) -> None:
        """Set the visible biases (and variances) from the training data, before the first update."""

    def _extra_updates(self, v0: torch.Tensor, h0: torch.Tensor, vn: torch.Tensor, hn: torch.Tensor) -> None:
        """Updates outside ``params_`` (e.g. learned variances), from both phases of a CD step."""

    def _monitor_score(self, X: torch.Tensor) -> str:
        """The progress figure printed when ``verbose``."""
        raise NotImplementedError

    # ---- parameter views ---------------------------------------------------------------------------
    @property
    def _W(self) -> torch.Tensor:
        return self.params_[:-1, :-1]

    def _as_numpy(self, t: torch.Tensor) -> np.ndarray:
        check_is_fitted(self, "params_")
        return t.detach().cpu().numpy().astype(getattr(self, "_fit_dtype", np.float64), copy=False)

    def _assign(self, t: torch.Tensor, value, name: str) -> None:
        check_is_fitted(self, "params_")
        value = torch.as_tensor(np.asarray(value), dtype=t.dtype, device=t.device)
        if value.shape != t.shape:
            raise ValueError(f"{name} must have shape {tuple(t.shape)}; got {tuple(value.shape)}.")
        with torch.no_grad():
            t.copy_(value)

    @property
    def components_(self) -> np.ndarray:
        """Weights, shape (n_components, n_features), as in scikit-learn."""
        return self._as_numpy(self._W.T)

    @components_.setter
    def components_(self, value) -> None:
        self._assign(self._W.T, value, "components_")

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """Hidden biases, shape (n_components,)."""
        return self._as_numpy(self.params_[-1, :-1])

    @intercept_hidden_.setter
    def intercept_hidden_(self, value) -> None:
        self._assign(self.params_[-1, :-1], value, "intercept_hidden_")

    @property
    def intercept_visible_(self) -> np.ndarray:
        """Visible biases, shape (n_features,)."""
        return self._as_numpy(self.params_[:-1, -1])

    @intercept_visible_.setter
    def intercept_visible_(self, value) -> None:
        self._assign(self.params_[:-1, -1], value, "intercept_visible_")

    @property
    def h_samples_(self) -> np.ndarray:
        """Hidden states of the persistent chain, shape (batch_size, n_components)."""
        return self._as_numpy(self._chain)

    @h_samples_.setter
    def h_samples_(self, value) -> None:
        self._assign(self._chain, value, "h_samples_")

    # ---- conditionals in model space ---------------------------------------------------------------
    def _hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """P(h=1 | v), shape (n, nh)."""
        return torch.sigmoid(torch.addmm(self.params_[-1, :-1], self._visible_scale(v), self._W))

    def _visible_pre(self, h: torch.Tensor) -> torch.Tensor:
        """Visible inputs b + W h, shape (n, nv)."""
        return torch.addmm(self.params_[:-1, -1], h, self._W.T)

    def _free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = visible energy − Σ_j softplus(c_j + ṽ·W_j), shape (n,)."""
        pre = torch.addmm(self.params_[-1, :-1], self._visible_scale(v), self._W)
        return self._visible_energy(v) - torch.nn.functional.softplus(pre).sum(1)

    def _new_generator(self) -> torch.Generator:
        return torch_generator(self.random_state, self.params_.device)

    def _gen(self) -> torch.Generator:
        """The estimator's own generator, created on first use (scikit-learn's ``random_state_``)."""
        if getattr(self, "_generator", None) is None:
            self._generator = self._new_generator()
        return self._generator

    # ---- scikit-learn surface ------------------------------------------------------------------------
    def _validate(self, X, *, reset: bool, training: bool = False, keep_sparse: bool = False):
        """Validated ``X`` (n, nv); sparse input stays CSR only with ``keep_sparse`` (readers that densify
        a chunk or a mini-batch at a time), else it is densified here."""
        X = validate_data(
            self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset,
            ensure_all_finite=False,
        )
        if not sparse.issparse(X):
            return self._check_input_values(X, training=training)
        if not keep_sparse:
            return self._check_input_values(X.toarray(), training=training)
        data = self._check_input_values(X.data, training=training)  # implicit zeros pass every check
        if data is not X.data:  # rounding errors clipped: on a copy, never the caller's matrix
            X = X.copy()
            X.data = data
        return X

    def _model_data(self, X):
        """Training data ``X`` (n, nv) in model space: a tensor, or ``SparseRows`` for sparse ``X``."""
        if sparse.issparse(X):
            return training.SparseRows(X, self._to_model_space, self.params_.device)
        return self._to_model_space(X)

    def _model_chunks(self, X):
        """``X`` (n, nv), dense or sparse, in model space, ``EVAL_CHUNK`` rows at a time."""
        for start in range(0, X.shape[0], EVAL_CHUNK):
            part = X[start:start + EVAL_CHUNK]
            yield self._to_model_space(part.toarray() if sparse.issparse(part) else part)

    def _setup(self, X: np.ndarray, *, first_batch: bool = False) -> torch.Tensor:
        """Fresh parameters for data ``X`` (n, nv): all of it, or ``partial_fit``'s ``first_batch``.

        Returns X in model space (``_model_data``).
        """
        device = get_device()
        rng = check_random_state(self.random_state)
        n_visible, n_hidden = X.shape[1], int(self.n_components)
        params = torch.zeros(n_visible + 1, n_hidden + 1, dtype=float_dtype(), device=device)
        # Small random weights (Hinton's guide, section 8): N(0, 0.01²) from the numpy seed, as scikit-learn;
        # drawn (n_features, n_components) where it draws the transpose, and training then draws from torch,
        # so a random_state does not reproduce scikit-learn's numbers.
        params[:-1, :-1] = torch.as_tensor(rng.normal(0.0, 0.01, (n_visible, n_hidden)), dtype=float_dtype())
        params[-1, -1] = BIAS_LOCK
        self.params_ = params
        self._fit_dtype = X.dtype
        self._n_features_out = n_hidden
        self._generator = torch_generator(rng, device)
        Xt = self._model_data(X)
        self._init_visible(Xt)
        self._chain = torch.zeros(int(self.batch_size), n_hidden, dtype=float_dtype(), device=device)
        self._optimizer_state = training.OptimizerState.zeros_like(params)
        return Xt

    def fit(self, X, y=None):
        """Fit the model to ``X`` of shape (n_samples, n_features) with ``n_iter`` epochs.

        With ``warm_start=True`` a fitted model trains on from where it is (weights, persistent chain,
        momentum and the schedules' epoch) instead of starting again: ``n_iter=1`` and a loop watch it
        learn epoch by epoch (e.g. ``free_energy_gap`` on held-out rows). A ``batch_size`` changed by
        ``set_params`` resizes the persistent chain; a changed ``n_components`` or number of features is a
        ValueError (the fitted weights cannot take them).
        """
        self._validate_params()
        if self.warm_start and hasattr(self, "params_"):
            self._check_warm_start(X)
            Xt = self._model_data(self._validate(X, reset=False, training=True, keep_sparse=self._sparse_training))
            self._resize_chain()
        else:
            Xt = self._setup(self._validate(X, reset=True, training=True, keep_sparse=self._sparse_training))
        training.fit_epochs(self, Xt, int(self.n_iter))
        return self

    def _check_warm_start(self, X) -> None:
        """A ValueError when ``n_components`` or X's number of features no longer match the fitted model.

        scikit-learn's ensembles refuse a warm start they cannot continue the same way (MLPClassifier
        silently keeps its old layer sizes, which hides the change).
        """
        fitted = self.params_.shape[1] - 1
        if int(self.n_components) != fitted:
            raise ValueError(
                f"n_components={self.n_components} but the fitted model that warm_start=True trains on has "
                f"{fitted} hidden units. Set warm_start=False to fit a new model with {self.n_components}, "
                f"or set n_components back to {fitted}."
            )
        try:
            n_features = _num_features(X)
        except TypeError:
            return  # not a 2-D input: validation says what is wrong with it
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but the fitted model that warm_start=True trains on has "
                f"{self.n_features_in_}. Set warm_start=False to fit a new model on X, or pass X with "
                f"{self.n_features_in_} features."
            )

    def _resize_chain(self) -> None:
        """Give the persistent chain ``batch_size`` rows after ``set_params(batch_size=...)``, shape (bs, nh).

        Rows are kept from the front; extra rows are copies of random kept ones (fantasy particles from the
        model, which the next updates make independent), rather than zeros that would restart the chain.
        """
        n_old, n_new = self._chain.shape[0], int(self.batch_size)
        if n_new <= n_old:
            self._chain = self._chain[:n_new].clone()
            return
        pick = torch.randint(n_old, (n_new - n_old,), generator=self._gen(), device=self._chain.device)
        self._chain = torch.cat([self._chain, self._chain[pick]])

    def partial_fit(self, X, y=None):
        """One update with all of ``X`` as the mini-batch (scikit-learn's semantics).

        The schedules (momentum switch, learning-rate decay) count ``fit``'s epochs, so they stay where they
        are; the first call sets the model up from ``X`` (a Gaussian RBM's standardisation included).
        """
        first = not hasattr(self, "params_")
        if first:
            self._validate_params()
        X = self._validate(X, reset=first, training=True)
        Xt = self._setup(X, first_batch=True) if first else self._to_model_space(X)
        training.update_step(self, Xt)
        return self

    def transform(self, X) -> np.ndarray:
        """Hidden probabilities P(h=1 | v=X), shape (n_samples, n_components).

        Sparse input is densified a chunk of rows at a time, so memory stays bounded. Like every array
        these methods return (``free_energy``, ``score_samples``, a Gaussian RBM's ``gibbs``), it is in the
        input's float dtype (float64 for integers): the model computes in float32 either way, so float64
        output after a float32 fit adds no precision. scikit-learn instead returns the wider of the input's
        and the training data's dtype (float64 for float32 input after a float64 fit).
        """
        check_is_fitted(self, "params_")
        X = self._validate(X, reset=False, keep_sparse=True)
        with torch.no_grad():
            out = torch.cat([self._hidden_probs(c) for c in self._model_chunks(X)])
        return out.cpu().numpy().astype(X.dtype, copy=False)

    def free_energy(self, X) -> np.ndarray:
        """Free energy F(v) of each row, shape (n_samples,); lower means more probable."""
        check_is_fitted(self, "params_")
        X = self._validate(X, reset=False, keep_sparse=True)
        with torch.no_grad():
            out = torch.cat([self._free_energy(c) for c in self._model_chunks(X)])
        return out.cpu().numpy().astype(X.dtype, copy=False)

    def gibbs(self, v) -> np.ndarray:
        """One Gibbs step v → h → v' from ``v`` (n_samples, n_features), or one row (n_features,); returns v'."""
        check_is_fitted(self, "params_")
        one_row = np.ndim(v) == 1  # scikit-learn's gibbs takes a single row too
        v = self._validate(np.reshape(v, (1, -1)) if one_row else v, reset=False)
        gen = self._gen()
        with torch.no_grad():
            vt = self._to_model_space(v)
            h = torch.bernoulli(self._hidden_probs(vt), generator=gen)
            v_new = self._visible_sample(self._visible_pre(h), gen)
        out = self._gibbs_output(v_new, v.dtype)
        return out[0] if one_row else out

    def _gibbs_output(self, v: torch.Tensor, dtype) -> np.ndarray:
        return self._from_model_space(v).astype(dtype, copy=False)

    def sample(self, n_samples: int, *, burn_in: int = 1000, thin: int = 1, n_chains: int | None = None,
               init=None, random_state=None) -> np.ndarray:
        """Draw ``n_samples`` rows from the model by block Gibbs sampling; shape (n_samples, n_features).

        ``n_chains`` chains (default: ``n_samples``) run ``burn_in`` steps, then each keeps every
        ``thin``-th state; rows come round by round (the first ``n_chains`` rows from different chains).
        ``init`` (rows to start from, cycled) defaults to rows drawn from the visible biases alone; chains
        can take long to move between the data's modes, so starting from training rows (``init=X``) is
        safer for a model with well separated modes.
        """
        from layerwise.rbm.sampling import sample_chains

        check_is_fitted(self, "params_")
        for name, value in (("n_samples", n_samples), ("burn_in", burn_in), ("thin", thin), ("n_chains", n_chains)):
            if value is not None and (not isinstance(value, Integral) or isinstance(value, bool)):
                raise TypeError(f"sample: {name} must be an int; got {value!r}.")
        gen = torch_generator(random_state if random_state is not None else self.random_state,
                              self.params_.device)
        v0 = None if init is None else self._to_model_space(self._validate(init, reset=False, training=True))
        with torch.no_grad():
            out = sample_chains(self, int(n_samples), burn_in=int(burn_in), thin=int(thin), n_chains=n_chains,
                                init=v0, generator=gen)
        return self._from_model_space(out)

    def conditional_sample(self, X, *, n_steps: int = 100, random_state=None) -> np.ndarray:
        """``X`` (n_samples, n_features) with each NaN entry drawn from the model given the row's other
        entries, which stay clamped: the state of a Gibbs chain over the missing units after ``n_steps``
        steps (they start at 0, a Gaussian column's mean). A one-hot group is missing whole or not at all.
        """
        from layerwise.rbm.sampling import conditional_chain

        check_is_fitted(self, "params_")
        if not isinstance(n_steps, (Integral, np.integer)) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"conditional_sample: n_steps must be a positive int; got {n_steps!r}.")
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False, ensure_all_finite="allow-nan")
        missing = np.isnan(X)
        observed = self._check_input_values(np.where(missing, 0.0, X).astype(X.dtype), training=True)
        gen = torch_generator(random_state if random_state is not None else self.random_state,
                              self.params_.device)
        with torch.no_grad():
            v = self._to_model_space(observed)
            seen = torch.as_tensor(~missing, device=v.device)
            v = conditional_chain(self, torch.where(seen, v, torch.zeros_like(v)), seen, n_steps=int(n_steps),
                                  generator=gen)
        return np.where(missing, self._from_model_space(v), X).astype(X.dtype, copy=False)

    def score_samples(self, X) -> np.ndarray:
        """Stochastic pseudo-log-likelihood of each row (scikit-learn's estimator), shape (n_samples,).

        In the input's float dtype (float64 for integers), as ``transform``.

        One randomly chosen feature per row is flipped (``1 - v``), and
        ``n_features * log σ(F(v_flipped) − F(v))`` is returned, exactly as scikit-learn does.
        """
        check_is_fitted(self, "params_")
        X = self._validate(X, reset=False, keep_sparse=True)
        rng = check_random_state(self.random_state)
        cols = torch.as_tensor(rng.randint(0, X.shape[1], X.shape[0]), device=self.params_.device)
        parts = []
        with torch.no_grad():
            for start, v in zip(range(0, X.shape[0], EVAL_CHUNK), self._model_chunks(X)):
                rows, col = torch.arange(v.shape[0], device=v.device), cols[start:start + v.shape[0]]
                flipped = v.clone()
                flipped[rows, col] = 1.0 - v[rows, col]
                gap = self._free_energy(flipped) - self._free_energy(v)
                parts.append(-X.shape[1] * torch.nn.functional.softplus(-gap))
        return torch.cat(parts).cpu().numpy().astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def to_tensor(X: np.ndarray, like: torch.Tensor, who: str) -> torch.Tensor:
    """``X`` as a tensor in the dtype and on the device of ``like``; a ValueError naming ``who`` when a value
    lies beyond that dtype's range (it would become infinity, and the hidden inputs NaN)."""
    X = np.asarray(X)
    if X.size and X.dtype.itemsize > like.element_size():
        largest, limit = max(float(X.max()), -float(X.min())), torch.finfo(like.dtype).max
        if largest > limit:
            raise ValueError(f"{who} computes in {str(like.dtype).removeprefix('torch.')}, whose largest value is "
                             f"{limit:.4g}; the input holds {largest:.4g}. Rescale the data first, e.g. with "
                             "sklearn.preprocessing.StandardScaler.")
    if not X.flags.writeable:
        X = X.copy()  # torch warns on read-only arrays (pandas 3 hands those out); a copy is what it needs
    return torch.as_tensor(X, dtype=like.dtype, device=like.device)
