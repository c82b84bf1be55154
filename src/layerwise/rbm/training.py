"""Contrastive-divergence training: CD-k and persistent CD, as Hinton's practical guide recommends.

The update for every parameter is ``velocity = m * velocity + (1 − m) * lr * (<ṽ h>_data − <ṽ h>_model
− weight_decay * W)``, then ``params += velocity`` (guide sections 9–10: momentum m = 0.5 for the first
epochs, then 0.9; L2 weight decay on the weights, not the biases). The ``(1 − m)`` factor keeps the
effective step size at ``lr`` whatever the momentum (the guide notes momentum otherwise multiplies it
by 1/(1 − m)), so scikit-learn's learning rates carry over unchanged. The learning rate decays as
``lr / (1 + learning_rate_decay * epoch)``. Optional sparsity (section 11) nudges each hidden unit's
running mean activation ``q`` towards ``sparsity_target``.

Because W, b and c sit in one augmented matrix (see ``base.py``), the whole gradient is one
outer product. For binary RBMs trained by PCD-1 (scikit-learn's algorithm) ``_fast_pcd_epoch`` stacks
the data batch and the persistent fantasy particles into one matrix, so a mini-batch costs three
matrix products and a handful of in-place element-wise operations, with random numbers drawn in bulk.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# Batches smaller than this many multiply-adds run single-threaded: thread hand-off costs more than
# the arithmetic, and on a busy machine spinning worker threads made small fits 20x slower (measured).
_SMALL_MATMUL = 4_000_000
# Upper bound on the floats held by each bulk buffer of the fast path (keeps memory near 64 MiB).
_BLOCK_FLOATS = 16 * 2**20


@dataclass
class OptimizerState:
    """What training carries between mini-batches: velocity, epochs done, sparsity running mean."""

    velocity: torch.Tensor
    epochs_done: int = 0
    hidden_mean: torch.Tensor | None = None

    @classmethod
    def zeros_like(cls, params: torch.Tensor) -> "OptimizerState":
        return cls(velocity=torch.zeros_like(params))


def learning_rate_at(rbm, epoch: int) -> float:
    """Learning rate for ``epoch`` (0-based) with the estimator's ``learning_rate_decay``."""
    return float(rbm.learning_rate) / (1.0 + float(getattr(rbm, "learning_rate_decay", 0.0)) * epoch)


def momentum_at(rbm, epoch: int) -> float:
    """Momentum for ``epoch``: ``momentum`` before ``momentum_switch`` epochs, ``final_momentum`` after."""
    if epoch < int(getattr(rbm, "momentum_switch", 0)):
        return float(getattr(rbm, "momentum", 0.0))
    return float(getattr(rbm, "final_momentum", 0.0))


@contextlib.contextmanager
def _threads_for(n_rows: int, n_visible: int, n_hidden: int, device: torch.device):
    small = device.type == "cpu" and n_rows * n_visible * n_hidden < _SMALL_MATMUL
    before = torch.get_num_threads()
    if small and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small and before > 1:
            torch.set_num_threads(before)


def _augment(x: torch.Tensor) -> torch.Tensor:
    """Append the constant-1 column that carries the biases."""
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


def _gradient(rbm, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CD-k / PCD-k estimate of the log-likelihood gradient for all of ``params_`` at once.

    ``v0``: data batch (b, nv) in model space. Returns (gradient (nv+1, nh+1), P(h|v0) (b, nh)).
    """
    gen = rbm._gen()
    vt0 = _augment(rbm._visible_scale(v0))
    h0 = torch.sigmoid(vt0 @ rbm.params_)  # last column is exactly 1 (the hidden bias carrier)
    hs = rbm._chain if rbm.persistent else torch.bernoulli(h0[:, :-1], generator=gen)
    for _ in range(int(rbm.k)):
        vn = rbm._visible_sample(rbm._visible_pre(hs), gen)
        hn = rbm._hidden_probs(vn)
        hs = torch.bernoulli(hn, generator=gen)
    if rbm.persistent:
        rbm._chain = hs
    grad = vt0.T @ h0
    grad.div_(v0.shape[0]).addmm_(_augment(rbm._visible_scale(vn)).T, _augment(hn), alpha=-1.0 / vn.shape[0])
    rbm._extra_updates(v0, h0[:, :-1], vn, hn)
    return grad, h0[:, :-1]


def _apply(rbm, grad: torch.Tensor, h0: torch.Tensor, v0: torch.Tensor, lr: float, momentum: float) -> None:
    state: OptimizerState = rbm._optimizer_state
    vel, params = state.velocity, rbm.params_
    lr = lr * (1.0 - momentum)
    vel.mul_(momentum).add_(grad, alpha=lr)
    wd = float(rbm.weight_decay)
    if wd:
        vel[:-1, :-1].add_(params[:-1, :-1], alpha=-lr * wd)
    target = getattr(rbm, "sparsity_target", None)
    if target is not None:
        q_new = h0.mean(0)
        state.hidden_mean = q_new if state.hidden_mean is None else 0.9 * state.hidden_mean + 0.1 * q_new
        push = (float(target) - state.hidden_mean) * float(rbm.sparsity_cost) * lr
        vel[-1, :-1].add_(push)
        vel[:-1, :-1].addr_(rbm._visible_scale(v0).mean(0), push)
    params.add_(vel)


def update_step(rbm, v0: torch.Tensor) -> None:
    """One mini-batch update with ``v0`` (b, nv) in model space, at the current epoch's schedule."""
    epoch = rbm._optimizer_state.epochs_done
    with torch.no_grad(), _diverging(rbm, epoch):
        grad, h0 = _gradient(rbm, v0)
        _apply(rbm, grad, h0, v0, learning_rate_at(rbm, epoch), momentum_at(rbm, epoch))


def divergence_error(who: str, learning_rate, epoch: int, size: float, limit: float, hint: str) -> ValueError:
    """The ValueError for training that diverged in ``epoch`` (0-based): it names ``learning_rate``."""
    bound = f"; a working model stays far below {limit:.0e}" if math.isfinite(limit) else ""
    return ValueError(
        f"{who}: training diverged in epoch {epoch + 1} (parameters reached {size:.3g}{bound}). Lower "
        f"learning_rate (now {learning_rate!r}), e.g. to {float(learning_rate) / 10:g}; {hint}"
    )


@contextlib.contextmanager
def watch_divergence(who: str, learning_rate, epoch: int, size: Callable[[], float], limit: float,
                     hint: str):
    """``divergence_error`` when ``size()`` (largest |parameter|) is not finite or reaches ``limit`` after the
    block, or when the block raises a RuntimeError (NaN probabilities in torch's sampling, a failed Cholesky
    factorisation) while the parameters are not finite: torch's message would not say what to change."""
    try:
        yield
    except RuntimeError as err:
        reached = size()
        if math.isfinite(reached):
            raise
        raise divergence_error(who, learning_rate, epoch, reached, limit, hint) from err
    reached = size()
    if not math.isfinite(reached) or reached >= limit:
        raise divergence_error(who, learning_rate, epoch, reached, limit, hint)


def _parameter_size(rbm) -> float:
    """Largest |entry| of ``params_`` other than the bias carrier (NaN when any entry is NaN)."""
    P = rbm.params_
    return float(torch.maximum(P[:-1].abs().amax(), P[-1, :-1].abs().amax()))


def _diverging(rbm, epoch: int):
    """``watch_divergence`` for an RBM of ``base.py``.

    Diverged means a parameter is not finite or has grown as large as the bias carrier ``params_[-1, -1]``,
    which then stops carrying the biases. Gaussian units diverge within an epoch at too high a rate.
    """
    return watch_divergence(type(rbm).__name__, rbm.learning_rate, epoch, lambda: _parameter_size(rbm),
                            float(rbm.params_[-1, -1]),
                            "real-valued (Gaussian) visible units need a much smaller rate than binary ones.")


class SparseRows:
    """Rows of a scipy CSR matrix (n, nv), densified on request into model space: what ``fit_epochs`` needs
    of a data tensor (``shape``, ``device``, ``index_select``), so a sparse data set is densified one
    mini-batch (or one bulk block of them) at a time instead of all at once."""

    def __init__(self, X, to_model_space: Callable[[np.ndarray], torch.Tensor], device: torch.device):
        self.X, self.shape, self.device = X, X.shape, device
        self._to_model_space = to_model_space

    def index_select(self, dim: int, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (dim 0 only) as a dense tensor (len(idx), nv)."""
        if dim != 0:
            raise ValueError(f"SparseRows selects rows only (dim 0), got dim={dim}.")
        return self._to_model_space(self.X[idx.cpu().numpy()].toarray())

    def column_means(self) -> np.ndarray:
        """Mean of each column in float64, shape (nv,)."""
        return np.asarray(self.X.sum(0, dtype=np.float64)).ravel() / self.shape[0]


def _uses_fast_path(rbm) -> bool:
    return (getattr(rbm, "_fast_pcd", False) and rbm.persistent and int(rbm.k) == 1
            and getattr(rbm, "sparsity_target", None) is None)


class _FastPCD:
    """Bulk buffers for ``_fast_pcd_epoch``, made in inference mode; views are made once per fit and reused every
    epoch."""

    def __init__(self, rbm, n_batches: int):
        nv, nh = rbm.params_.shape[0] - 1, rbm.params_.shape[1] - 1
        bs, like = int(rbm.batch_size), dict(dtype=rbm.params_.dtype, device=rbm.params_.device)
        self.block = max(1, min(n_batches, _BLOCK_FLOATS // (2 * bs * (nv + nh + 2))))
        # Each batch's rows: the data batch on top, the fantasy particles below (shared products).
        self.E = torch.ones(self.block, 2 * bs, nv + 1, **like)
        self.H = torch.empty(self.block, 2 * bs, nh + 1, **like)
        self.Rv = torch.empty(self.block, bs, nv + 1, **like)
        self.Rh = torch.empty(self.block, bs, nh + 1, **like)
        self.views = list(zip(self.E.unbind(0), self.E.transpose(1, 2).unbind(0), self.E[:, bs:].unbind(0),
                              self.H.unbind(0), self.H[:, bs:].unbind(0), self.Rv.unbind(0), self.Rh.unbind(0)))
        self.chain = _augment(rbm._chain)
        # Working copies of the parameters and their velocity, so that every tensor the loop writes is made in
        # inference mode: in-place operations on those skip autograd's bookkeeping (about 12% of an epoch).
        self.params, self.velocity = rbm.params_.clone(), rbm._optimizer_state.velocity.clone()


def _fast_pcd_block(rbm, buf: _FastPCD, X: torch.Tensor, rows: torch.Tensor, lr: float, mom: float) -> None:
    """PCD-1 over ``len(rows) // batch_size`` full batches of ``X[rows]`` (binary visible units)."""
    bs = int(rbm.batch_size)
    nb = rows.numel() // bs
    nv = X.shape[1]
    # index_select, not X[rows]: advanced indexing costs 4% of an epoch here.
    buf.E[:nb, :bs, :nv] = X.index_select(0, rows).view(nb, bs, nv)
    # v ~ Bernoulli(sigmoid(a)) is logit(u) < a for a uniform u: the visible units are sampled from their inputs,
    # one sigmoid fewer per mini-batch.
    buf.Rv[:nb].uniform_(generator=rbm._gen()).logit_()
    buf.Rh[:nb].uniform_(generator=rbm._gen())
    P, vel = buf.params, buf.velocity
    PT, W, velW = P.T, P[:-1, :-1], vel[:-1, :-1]
    lr = lr * (1.0 - mom)
    hc, alpha, wd = buf.chain, lr / bs, lr * float(rbm.weight_decay)
    for vcat, vcat_t, vn, hcat, hn, rv, rh in buf.views[:nb]:
        torch.mm(hc, PT, out=vn)
        torch.lt(rv, vn, out=vn)  # the bias column's input is BIAS_LOCK: it stays 1
        torch.mm(vcat, P, out=hcat)  # positive and negative hidden probabilities in one product
        hcat.sigmoid_()
        torch.lt(rh, hn, out=hc)  # next state of the persistent chain
        hn.neg_()  # so that one product gives <v h>_data − <v h>_model
        vel.addmm_(vcat_t, hcat, beta=mom, alpha=alpha)
        if wd:
            velW.add_(W, alpha=-wd)
        P.add_(vel)


def _fast_pcd_epoch(rbm, buf: _FastPCD, X: torch.Tensor, lr: float, mom: float) -> None:
    bs = int(rbm.batch_size)
    perm = torch.randperm(X.shape[0], generator=rbm._gen(), device=X.device)
    n_full = (X.shape[0] // bs) * bs
    state = rbm._optimizer_state
    with torch.inference_mode():
        for start in range(0, n_full, buf.block * bs):
            _fast_pcd_block(rbm, buf, X, perm[start:min(n_full, start + buf.block * bs)], lr, mom)
    with torch.no_grad():
        rbm.params_.copy_(buf.params)
        state.velocity.copy_(buf.velocity)
        rbm._chain = buf.chain[:, :-1].clone()
        if n_full < X.shape[0]:
            rest = X.index_select(0, perm[n_full:])
            grad, h0 = _gradient(rbm, rest)
            _apply(rbm, grad, h0, rest, lr, mom)
            with torch.inference_mode():
                buf.params.copy_(rbm.params_)
                buf.velocity.copy_(state.velocity)
                buf.chain = _augment(rbm._chain)


def fit_epochs(rbm, X: torch.Tensor, n_epochs: int) -> None:
    """Train ``rbm`` for ``n_epochs`` shuffled passes over ``X`` (n, nv): a tensor in model space, or
    ``SparseRows`` that densify each batch."""
    bs = int(rbm.batch_size)
    n_batches = -(-X.shape[0] // bs)
    state: OptimizerState = rbm._optimizer_state
    fast = _uses_fast_path(rbm) and X.shape[0] >= bs
    if fast:
        with torch.inference_mode():
            buf = _FastPCD(rbm, n_batches)
    begin = time.time()
    with _threads_for(bs, X.shape[1], rbm.params_.shape[1], X.device):
        for _ in range(n_epochs):
            lr, mom = learning_rate_at(rbm, state.epochs_done), momentum_at(rbm, state.epochs_done)
            with _diverging(rbm, state.epochs_done):
                if fast:
                    _fast_pcd_epoch(rbm, buf, X, lr, mom)
                else:
                    perm = torch.randperm(X.shape[0], generator=rbm._gen(), device=X.device)
                    with torch.no_grad():
                        for idx in perm.split(bs):
                            batch = X.index_select(0, idx)
                            grad, h0 = _gradient(rbm, batch)
                            _apply(rbm, grad, h0, batch, lr, mom)
            state.epochs_done += 1
            if rbm.verbose:
                end = time.time()
                score = rbm._monitor_score(X)
                print(f"[{type(rbm).__name__}] Iteration {state.epochs_done}, {score}, time = {end - begin:.2f}s")
                begin = end
