"""Gaussian–Bernoulli RBM for real-valued data, with optional softmax (one-hot) visible groups.

Energy (Cho, Ilin & Raiko 2011, with σ_i² = exp(z_i)), over Gaussian columns G and softmax columns S:

    E(v, h) = Σ_{i∈G} (v_i − b_i)² / 2σ_i²  −  Σ_{i∈S} b_i v_i  −  c·h  −  Σ_ij ṽ_i W_ij h_j,
    ṽ_i = v_i / σ_i² for i ∈ G,  ṽ_i = v_i for i ∈ S.

So P(h_j = 1 | v) = σ(c_j + ṽ·W_j), v_i | h ~ N(b_i + W_i·h, σ_i²) and each softmax group is a
categorical draw with logits b + W h restricted to the group.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from layerwise.rbm import training
from layerwise.rbm.base import RBMBase, to_tensor

# Variances are kept above this so that learning them cannot collapse a unit onto one value.
_MIN_LOG_VAR = float(np.log(1e-2))


def _is_constant(var: np.ndarray, mean: np.ndarray, n_samples: int) -> np.ndarray:
    """Columns (n_features,) whose variance is within the rounding error of computing it, i.e. constant.

    scikit-learn's StandardScaler rule (the error bound of the two-pass variance, Chan, Golub and LeVeque),
    so a column it leaves unscaled is the column this model holds fixed.
    """
    eps = np.finfo(np.float64).eps
    return var <= n_samples * eps * var + (n_samples * mean * eps) ** 2


class GaussianBernoulliRBM(RBMBase):
    """RBM with Gaussian visible units (plus optional softmax groups) and binary hidden units.

    Real-valued columns are standardised internally (``mean_``, ``scale_``), so the model sees unit
    variance data, as Hinton's guide recommends; inputs and outputs stay in the caller's units.

    Parameters
    ----------
    n_components, learning_rate, batch_size, n_iter, verbose, random_state, k, persistent,
    momentum, final_momentum, momentum_switch, weight_decay, learning_rate_decay, sparsity_target,
    sparsity_cost, warm_start
        As in :class:`layerwise.rbm.BernoulliRBM`; the learning rate defaults lower (0.01) because
        Gaussian units have unbounded inputs (guide section 13.2). ``persistent`` defaults to False
        (CD-1), which is more stable for real-valued data.
    learn_variance : bool, default False
        Also learn each Gaussian unit's variance σ_i² (as log-variance, floored at 0.01), at a tenth of the
        learning rate with the weights' momentum and decay.
    softmax_groups : sequence of sequences of int, optional
        Column indices of one-hot groups (e.g. an encoded categorical column); each group is a
        softmax unit. Those columns must hold 0/1 and are not standardised.

    A column that is constant in the data given to ``fit`` (up to rounding, by scikit-learn's
    ``StandardScaler`` rule) is held at its value: samples, reconstructions and ``gibbs`` return exactly
    that value there (``partial_fit`` keeps learning such a column, as later batches may vary).

    Fitted attributes: ``mean_``, ``scale_`` (standardisation of each column; 0 and 1 for softmax
    columns; a constant column's value and 1), ``log_variance_`` (tensor, (n_features,)), plus those of
    ``BernoulliRBM``.
    """

    _parameter_constraints: dict = {**RBMBase._parameter_constraints, "learn_variance": ["boolean"],
                                    "softmax_groups": [None, "array-like"]}

    def __init__(self, n_components: int = 256, *, learning_rate: float = 0.01, batch_size: int = 10,
                 n_iter: int = 10, verbose: int = 0, random_state=None, k: int = 1, persistent: bool = False,
                 momentum: float = 0.5, final_momentum: float = 0.9, momentum_switch: int = 5,
                 weight_decay: float = 2e-4, learning_rate_decay: float = 0.0, sparsity_target=None,
                 sparsity_cost: float = 0.1, learn_variance: bool = False,
                 softmax_groups: Sequence[Sequence[int]] | None = None, warm_start: bool = False):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.final_momentum = final_momentum
        self.momentum_switch = momentum_switch
        self.weight_decay = weight_decay
        self.learning_rate_decay = learning_rate_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.learn_variance = learn_variance
        self.softmax_groups = softmax_groups
        self.warm_start = warm_start

    # ---- set-up ----------------------------------------------------------------------------------------
    def _groups(self, n_features: int) -> list[list[int]]:
        groups = [list(map(int, g)) for g in ([] if self.softmax_groups is None else self.softmax_groups)]
        flat = [i for g in groups for i in g]
        if any(i < 0 or i >= n_features for i in flat) or len(set(flat)) != len(flat):
            raise ValueError(f"softmax_groups must be disjoint lists of column indices in [0, {n_features}); "
                             f"got {self.softmax_groups!r}.")
        return groups

    def _setup(self, X: np.ndarray, *, first_batch: bool = False) -> torch.Tensor:
        groups = self._groups(X.shape[1])
        self._variance_learned = bool(self.learn_variance)  # set_params after fit changes the next fit only
        self._gauss = np.ones(X.shape[1], dtype=bool)
        for g in groups:
            self._gauss[g] = False
            block = X[:, g]
            if not np.isin(block, (0.0, 1.0)).all() or not np.allclose(block.sum(1), 1.0):
                raise ValueError(f"softmax group {g} must be one-hot (0/1 with exactly one 1 per row).")
        with np.errstate(over="ignore"):  # an overflow is reported below, naming the columns
            mean, var = X.mean(0, dtype=np.float64), X.var(0, dtype=np.float64)  # float64 sums, as scikit-learn
        overflow = np.flatnonzero(self._gauss & ~(np.isfinite(mean) & np.isfinite(var)))
        if overflow.size:
            raise ValueError(f"{type(self).__name__} cannot standardise column(s) {overflow.tolist()}: their mean or "
                             "variance overflows float64 (values up to "
                             f"{float(np.abs(X[:, overflow]).max()):.4g}). Rescale the data first.")
        constant = self._gauss & _is_constant(var, mean, X.shape[0])
        # A constant column has no spread to learn: scale 1 keeps it finite, and it is held at its value (the
        # first row's, as a mean can be an ulp off it); not after partial_fit's first batch, as later ones may vary.
        self._fixed = constant & (not first_batch)
        self.mean_ = np.where(self._fixed, X[0], np.where(self._gauss, mean, 0.0))
        self.scale_ = np.where(constant, 1.0, np.where(self._gauss, np.sqrt(var), 1.0))
        self._group_index = [torch.as_tensor(g) for g in groups]
        return super()._setup(X, first_batch=first_batch)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if hasattr(self, "_gauss_t") and not hasattr(self, "_fixed_t"):  # pickled before constant columns were held
            self._fixed = np.zeros(self._gauss.shape, dtype=bool)
            self._fixed_t = torch.zeros_like(self._gauss_t)

    def _init_visible(self, X: torch.Tensor) -> None:
        dev = X.device
        self._gauss_t = torch.as_tensor(self._gauss, device=dev)
        self._fixed_t = torch.as_tensor(self._fixed, device=dev)
        self._group_index = [g.to(dev) for g in self._group_index]
        self.log_variance_ = torch.zeros(X.shape[1], dtype=X.dtype, device=dev)
        self._log_var_velocity = torch.zeros(X.shape[1], dtype=X.dtype, device=dev)
        for g in self._group_index:
            # Softmax biases start at the log category frequencies (the guide's advice for binary units).
            self.params_[g, -1] = torch.log(X[:, g].mean(0).clamp_min(1e-3))

    def _to_model_space(self, X: np.ndarray) -> torch.Tensor:
        return to_tensor((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_, self.params_,
                         f"{type(self).__name__} (on standardised values)")

    def _from_model_space(self, v: torch.Tensor) -> np.ndarray:
        values = v.detach().cpu().numpy().astype(np.float64) * self.scale_ + self.mean_
        return values.astype(self._fit_dtype, copy=False)

    # ---- the visible units -----------------------------------------------------------------------------
    def _inv_var(self) -> torch.Tensor:
        """1/σ² for Gaussian columns, 1 for softmax columns."""
        return torch.where(self._gauss_t, torch.exp(-self.log_variance_), torch.ones_like(self.log_variance_))

    def _visible_scale(self, v: torch.Tensor) -> torch.Tensor:
        return v * self._inv_var() if self._variance_learned else v

    def _visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        b = self.params_[:-1, -1]
        quad = 0.5 * (v - b) ** 2 * self._inv_var()
        lin = -v * b
        return torch.where(self._gauss_t, quad, lin).sum(1)

    def _visible_mean(self, pre: torch.Tensor) -> torch.Tensor:
        out = pre.masked_fill(self._fixed_t, 0.0)  # a constant column stays at its value (0 in model space)
        for g in self._group_index:
            out[:, g] = torch.softmax(pre[:, g], dim=1)
        return out

    def _visible_sample(self, pre: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        noise = torch.randn(pre.shape, generator=gen, device=pre.device, dtype=pre.dtype)
        out = (pre + noise * torch.exp(0.5 * self.log_variance_)).masked_fill_(self._fixed_t, 0.0)
        for g in self._group_index:
            probs = torch.softmax(pre[:, g], dim=1)
            pick = torch.multinomial(probs, 1, generator=gen)
            out[:, g] = torch.zeros_like(probs).scatter_(1, pick, 1.0)
        return out

    def score_samples(self, X) -> np.ndarray:
        """−F(v) for each row, shape (n_samples,): the log-density up to the constant log Z.

        (Pseudo-likelihood, what ``BernoulliRBM.score_samples`` returns, needs binary units.)
        """
        return -self.free_energy(X)

    def _monitor_score(self, X: torch.Tensor) -> str:
        from layerwise.rbm.monitoring import reconstruction_error

        return f"reconstruction error = {reconstruction_error(self, X):.4f}"

    def _extra_updates(self, v0: torch.Tensor, h0: torch.Tensor, vn: torch.Tensor, hn: torch.Tensor) -> None:
        if not self._variance_learned:
            return
        # d(−E)/dz_i = (v_i − b_i)²/(2σ_i²) − v_i (W h)_i / σ_i², data minus model (Cho et al. 2011).
        b, W, inv = self.params_[:-1, -1], self._W, self._inv_var()

        def stat(v, h):
            return (0.5 * (v - b) ** 2 - v * (h @ W.T)).mean(0) * inv

        grad = torch.where(self._gauss_t, stat(v0, h0) - stat(vn, hn), torch.zeros_like(b))
        # The weights' schedule (momentum, decay, the (1 − m) factor), at a tenth of the rate: variances scale
        # every other update, so they learn slower.
        epoch = self._optimizer_state.epochs_done
        momentum = training.momentum_at(self, epoch)
        lr = 0.1 * training.learning_rate_at(self, epoch) * (1.0 - momentum)
        self._log_var_velocity.mul_(momentum).add_(grad, alpha=lr)
        self.log_variance_.add_(self._log_var_velocity).clamp_(min=_MIN_LOG_VAR)
