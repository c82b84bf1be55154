"""Shared fixtures: small, fast data (scikit-learn's bundled digits)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1]: (X_train (1347, 64), X_test (450, 64), y_train, y_test)."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="session")
def low_rank():
    """Easy data: 300 rows of 10 features lying on a 2-D plane, (300, 10) float64."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 2)) @ rng.normal(size=(2, 10))
