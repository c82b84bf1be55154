"""Input checks shared by the RBM estimators, with the error messages the issue asks for."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.utils import check_random_state


def check_no_nan(X: np.ndarray, who: str) -> None:
    """Raise a ValueError naming ``who`` when the float array ``X`` holds NaN or infinity."""
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        if np.isnan(X).any():
            raise ValueError(f"Input X contains NaN. {who} does not accept missing values; "
                             "fill them first, e.g. with layerwise.rbm.RBMImputer.")
        raise ValueError(f"Input X contains infinity. {who} needs finite values; replace or drop the "
                         "infinite entries first (np.isinf finds them).")


# MinMaxScaler's own output can pass 1 by a rounding error (1 + 2.2e-16): that much is clipped, not refused.
_ROUNDING = 1e-6


def check_unit_interval(X: np.ndarray, who: str,
                        real_valued: str = "use layerwise.rbm.GaussianBernoulliRBM") -> np.ndarray:
    """``X`` with rounding errors past [0, 1] clipped (a copy); a ValueError when values lie further out.

    ``real_valued`` completes the advice "... or {real_valued} for real-valued data".
    """
    if X.size == 0:
        return X
    lo, hi = float(X.min()), float(X.max())
    if lo < -_ROUNDING or hi > 1.0 + _ROUNDING:
        raise ValueError(
            f"{who} expects values in [0, 1] (binary data or probabilities); got values from {lo:.7g} "
            f"to {hi:.7g}. Scale the data with sklearn.preprocessing.MinMaxScaler, or {real_valued} for "
            "real-valued data."
        )
    return np.clip(X, 0.0, 1.0) if lo < 0.0 or hi > 1.0 else X


def torch_generator(random_state, device: torch.device) -> torch.Generator:
    """A torch generator seeded from a scikit-learn ``random_state`` (None, int or RandomState)."""
    rng = check_random_state(random_state)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.randint(0, 2**31 - 1)))
    return gen


def column_names(X, n_features: int) -> Sequence:
    """The column labels of a DataFrame, or positions ``0..n_features-1`` for arrays."""
    cols = getattr(X, "columns", None)
    return list(cols) if cols is not None else list(range(n_features))
