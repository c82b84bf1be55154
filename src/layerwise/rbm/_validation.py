"""Input checks shared by the RBM estimators, with the error messages the issue asks for."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.utils import check_random_state


def check_no_nan(X: np.ndarray, who: str) -> None:
    """Raise a ValueError naming ``who`` when the float array ``X`` holds NaN or infinity."""
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        what = "NaN" if np.isnan(X).any() else "infinity"
        raise ValueError(
            f"Input X contains {what}. {who} does not accept missing values; "
            "fill them first, e.g. with layerwise.rbm.RBMImputer."
        )


def check_unit_interval(X: np.ndarray, who: str) -> None:
    """Raise when a Bernoulli RBM is given values outside [0, 1] (it models probabilities)."""
    if X.size == 0:
        return
    lo, hi = float(X.min()), float(X.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{who} expects values in [0, 1] (binary data or probabilities); got values from {lo:g} "
            f"to {hi:g}. Scale the data with sklearn.preprocessing.MinMaxScaler, or use "
            "layerwise.rbm.GaussianBernoulliRBM for real-valued data."
        )


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int, or a ValueError saying which parameter is wrong."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


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
