"""Keras' seeded shuffle and train/test split of the built-in data sets, row for row."""
from __future__ import annotations

import numpy as np


def seeded_order(n: int, rng: np.random.RandomState) -> np.ndarray:
    """``arange(n)`` shuffled in place by ``rng``: the legacy generator keeps Keras' exact orders."""
    order = np.arange(n)
    rng.shuffle(order)
    return order


def check_test_split(test_split: float, loader: str) -> None:
    if not 0 <= test_split < 1:
        raise ValueError(f"{loader}: test_split must be in [0, 1), the fraction of samples kept for testing; "
                         f"received test_split={test_split}.")


def shuffle_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int):
    """``((x_train, y_train), (x_test, y_test))``: rows shuffled with ``seed``, the last ``test_split``
    of them (rounded down to whole rows for training) kept for testing."""
    order = seeded_order(len(x), np.random.RandomState(seed))
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
