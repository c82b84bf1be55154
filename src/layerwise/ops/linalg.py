"""Keras' linear-algebra ops (``keras.ops.linalg``, also at ``keras.ops``): decompositions (``cholesky``, ``eig``,
``eigh``, ``lu_factor``, ``qr``, ``svd``), inverses and solvers (``inv``, ``pinv``, ``cholesky_inverse``,
``solve``, ``solve_triangular``, ``lstsq``), ``det``, ``logdet``, ``slogdet``, ``matrix_rank``; ``norm`` and ``jvp``
are those of ``ops.numpy`` and ``ops.control_flow``.

Each works on a matrix ``(..., m, n)`` or a batch of them, with PyTorch's ``torch.linalg`` kernels. Integer and
bool matrices are computed in float32 (Keras' torch backend rejects them). Eagerly, a singular or not
positive-definite matrix raises a ValueError as in Keras' torch backend. In a functional model, whose output
shapes are found by running each op on zeros, ``cholesky``, ``cholesky_inverse``, ``inv``, ``lu_factor`` and
``solve`` skip that check instead, as Keras' JAX backend does: ``cholesky`` gives NaN for such a matrix,
the inverses and ``solve`` inf or NaN, and ``lu_factor`` its (valid) factors with a zero pivot.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from layerwise.backend import float_dtype
from layerwise.layers.operations import OPERATIONS, keras_class_names, operation
from layerwise.ops.control_flow import jvp
from layerwise.ops.core import to_tensor, to_tensors
from layerwise.ops.numpy import norm


def _matrix(op: str, x, square: bool = True) -> torch.Tensor:
    """``x`` as a floating (or complex) tensor of rank >= 2; square unless ``square`` is False."""
    x = to_tensor(x)
    if not (x.is_floating_point() or x.is_complex()):
        x = x.to(float_dtype())
    if x.ndim < 2:
        raise ValueError(f"ops.{op} takes a matrix or a batch of matrices (rank >= 2); received shape "
                         f"{tuple(x.shape)}.")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.{op} takes square matrices; received shape {tuple(x.shape)}.")
    return x


def _system(op: str, a, b) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` (square matrices) and ``b`` (right-hand sides) in one floating dtype, their shapes checked as Keras'."""
    a, b = to_tensors(a, b)
    dtype = torch.promote_types(a.dtype, b.dtype)
    dtype = dtype if dtype.is_floating_point or dtype.is_complex else float_dtype()
    a, b = _matrix(op, a.to(dtype)), b.to(dtype)
    rows = a.shape[-2] if b.ndim == a.ndim else a.shape[-1]
    if b.ndim < 1 or (b.ndim in (a.ndim, a.ndim - 1) and b.shape[-2 if b.ndim == a.ndim else -1] != rows):
        raise ValueError(f"ops.{op}: b must have the {rows} rows of a; received a.shape={tuple(a.shape)}, "
                         f"b.shape={tuple(b.shape)}.")
    return a, b


def _in_models(op: str, fn: Callable) -> None:
    """Functional models run ``op`` as ``fn``: the same values, inf/NaN instead of an error for degenerate
    matrices (the models find output shapes by running the op on zeros)."""
    OPERATIONS[op] = dataclasses.replace(OPERATIONS[op], fn=fn)


@operation()
def cholesky(x, upper: bool = False) -> torch.Tensor:
    """The triangular factor ``L`` of a positive-definite ``x = L @ L^H`` (``U`` of ``U^H @ U`` if ``upper``)."""
    x = _matrix("cholesky", x)
    factor, info = torch.linalg.cholesky_ex(x, upper=upper)
    if info.any():
        raise ValueError(f"ops.cholesky: the decomposition failed: the matrix (shape {tuple(x.shape)}) is not "
                         "positive-definite.")
    return factor


@operation()
def cholesky_inverse(x, upper: bool = False) -> torch.Tensor:
    """The inverse of ``L @ L^H`` from its Cholesky factor ``x = L`` (``U^H @ U`` from ``U`` if ``upper``)."""
    x = _matrix("cholesky_inverse", x)
    if (torch.diagonal(x, dim1=-2, dim2=-1) == 0).any():
        raise ValueError(f"ops.cholesky_inverse: the factor (shape {tuple(x.shape)}) has a zero on its diagonal, "
                         "so its matrix is singular.")
    return torch.cholesky_inverse(x, upper=upper)


@operation()
def det(x) -> torch.Tensor:
    """Determinants ``(...)`` of square matrices ``(..., n, n)``."""
    return torch.linalg.det(_matrix("det", x))


@operation()
def eig(x):
    """``(eigenvalues (..., n), eigenvectors (..., n, n))`` of general square matrices, complex."""
    return torch.linalg.eig(_matrix("eig", x))


@operation()
def eigh(x):
    """``(eigenvalues (..., n) ascending, eigenvectors (..., n, n))`` of symmetric (Hermitian) matrices, from
    their lower triangles."""
    return torch.linalg.eigh(_matrix("eigh", x))


@operation()
def inv(x) -> torch.Tensor:
    """Inverses of square matrices."""
    return torch.linalg.inv(_matrix("inv", x))


@operation()
def lu_factor(x):
    """``(LU, pivots)``: the LU factors packed in one matrix and the row swaps, 0-based (int32)."""
    factors, pivots = torch.linalg.lu_factor(_matrix("lu_factor", x, square=False))
    return factors, pivots - 1


@operation()
def qr(x, mode: str = "reduced"):
    """``(Q, R)`` with ``x = Q @ R``: ``Q`` ``(..., m, k)`` and ``R`` ``(..., k, n)``, ``k = min(m, n)``
    ('reduced'), or ``Q`` ``(..., m, m)`` and ``R`` ``(..., m, n)`` ('complete')."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"ops.qr: mode must be 'reduced' or 'complete'; received mode={mode!r}.")
    return torch.linalg.qr(_matrix("qr", x, square=False), mode=mode)


@operation()
def solve(a, b) -> torch.Tensor:
    """``x`` with ``a @ x = b`` for square ``a``; ``b`` a matrix ``(..., n, k)`` or a vector ``(..., n)``."""
    return torch.linalg.solve(*_system("solve", a, b))


@operation()
def solve_triangular(a, b, lower: bool = False) -> torch.Tensor:
    """``x`` with ``a @ x = b`` for triangular ``a`` (upper unless ``lower``); ``b`` as in ``solve``."""
    a, b = _system("solve_triangular", a, b)
    if b.ndim == a.ndim - 1:
        return torch.linalg.solve_triangular(a, b[..., None], upper=not lower)[..., 0]
    return torch.linalg.solve_triangular(a, b, upper=not lower)


@operation()
def svd(x, full_matrices: bool = True, compute_uv: bool = True):
    """``(U, S, Vh)`` with ``x = U @ diag(S) @ Vh`` (singular values descending); only ``S`` when not
    ``compute_uv``."""
    x = _matrix("svd", x, square=False)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return torch.linalg.svd(x, full_matrices=full_matrices)


@operation()
def lstsq(a, b, rcond: float | None = None) -> torch.Tensor:
    """The least-squares solution ``x`` ``(n,)`` or ``(n, k)`` of ``a @ x = b`` for ``a`` ``(m, n)``, ``b`` ``(m,)``
    or ``(m, k)``; singular values below ``rcond`` times the largest count as zero."""
    a, b = to_tensors(a, b)
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = (t.to(dtype if dtype.is_floating_point else float_dtype()) for t in (a, b))
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"ops.lstsq takes a (m, n) and b (m,) or (m, k) with the same m; received "
                         f"a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}.")
    if rcond is None:
        return torch.linalg.lstsq(a, b).solution
    # An explicit rcond has NumPy's meaning: the SVD driver on the CPU, the pseudo-inverse elsewhere.
    if a.device.type == "cpu":
        return torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd").solution
    return torch.linalg.pinv(a, rtol=rcond) @ b


@operation()
def matrix_rank(x, tol: float | None = None) -> torch.Tensor:
    """The number of singular values above ``tol`` (PyTorch's default tolerance when None), int32."""
    return torch.linalg.matrix_rank(_matrix("matrix_rank", x, square=False), atol=tol).to(torch.int32)


@operation()
def pinv(x, rcond: float | None = None) -> torch.Tensor:
    """Moore-Penrose pseudo-inverses ``(..., n, m)``; singular values below ``rcond`` times the largest are
    dropped."""
    return torch.linalg.pinv(_matrix("pinv", x, square=False), rtol=rcond)


@operation()
def logdet(x) -> torch.Tensor:
    """``log(det(x))`` (NaN for a negative determinant)."""
    return torch.logdet(_matrix("logdet", x))


@operation()
def slogdet(x):
    """``(sign, log|det|)`` of square matrices."""
    return tuple(torch.linalg.slogdet(_matrix("slogdet", x)))


def _inv_in_models(x) -> torch.Tensor:
    return torch.linalg.inv_ex(_matrix("inv", x)).inverse


def _cholesky_in_models(x, upper: bool = False) -> torch.Tensor:
    factor, info = torch.linalg.cholesky_ex(_matrix("cholesky", x), upper=upper)
    return factor.masked_fill((info != 0)[..., None, None], float("nan"))


def _cholesky_inverse_in_models(x, upper: bool = False) -> torch.Tensor:
    x = _matrix("cholesky_inverse", x)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    # x = L (or U): inv(L @ L^H) = inv(L)^H @ inv(L); triangular solves do not check for zero pivots.
    factor_inv = torch.linalg.solve_triangular(x, eye, upper=upper)
    return factor_inv @ factor_inv.mH if upper else factor_inv.mH @ factor_inv


def _lu_factor_in_models(x):
    factors, pivots, _ = torch.linalg.lu_factor_ex(_matrix("lu_factor", x, square=False))
    return factors, pivots - 1


def _solve_in_models(a, b) -> torch.Tensor:
    return torch.linalg.solve_ex(*_system("solve", a, b)).result


for _op, _fn in [("inv", _inv_in_models), ("cholesky", _cholesky_in_models),
                 ("cholesky_inverse", _cholesky_inverse_in_models), ("lu_factor", _lu_factor_in_models),
                 ("solve", _solve_in_models)]:
    _in_models(_op, _fn)
keras_class_names(svd="SVD")

# ``norm`` (ops/numpy.py) and ``jvp`` (ops/control_flow.py) are Keras' too; this namespace lists them as well.
__all__ = ["cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "lu_factor", "qr", "solve", "solve_triangular",
           "svd", "lstsq", "matrix_rank", "pinv", "logdet", "slogdet", "norm", "jvp"]
