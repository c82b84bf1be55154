"""Tabular columns to RBM visible units and back: numbers stay Gaussian, categories become softmax groups."""
from __future__ import annotations

import numpy as np


def column_kinds(X) -> list[str]:
    """'float', 'int' or 'category' for each column of a DataFrame or 2-D array (read before validation)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None:
        kinds = []
        for j, dt in enumerate(dtypes):
            kind = getattr(dt, "kind", "O")
            if dt == np.dtype(object):  # numbers in an object column (after a merge...) are numbers
                kinds.append(_object_kind(X.iloc[:, j].to_numpy()))
            else:
                kinds.append("float" if kind == "f" else "int" if kind in "iu" else "category")
        return kinds
    arr = np.asarray(X)
    if arr.ndim != 2:
        return []
    if arr.dtype.kind in "iu":
        return ["int"] * arr.shape[1]
    if arr.dtype.kind == "f":
        return ["float"] * arr.shape[1]
    if arr.dtype.kind == "b":
        return ["category"] * arr.shape[1]
    return [_object_kind(arr[:, j]) for j in range(arr.shape[1])]


def is_missing(col: np.ndarray) -> np.ndarray:
    """Which entries of a 1-D (object) column are missing: None, NaN or pandas' NA/NaT."""
    try:
        import pandas as pd
    except ImportError:
        return np.array([v is None or v != v for v in col], dtype=bool)
    return np.asarray(pd.isna(col), dtype=bool)


def _object_kind(col: np.ndarray) -> str:
    """The kind of an object column: 'int' when every entry is an integer, 'float' for other numbers, 'category'
    for one with any text (digits too: codes) or booleans (True/False stay True/False, not 0.67)."""
    if any(isinstance(v, (str, bytes, bool, np.bool_)) for v in col):
        return "category"
    if all(isinstance(v, (int, np.integer)) for v in col):
        return "int"
    try:
        col.astype(np.float64)
    except (TypeError, ValueError):
        return "category"
    return "float"


def _unique_in_order(col: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D column in order of appearance, same dtype.

    By hashing, not sorting (``np.unique`` sorts), so a column mixing text and numbers works, as in
    pandas' ``pd.unique``.
    """
    return np.array(list(dict.fromkeys(col.tolist())), dtype=col.dtype)


class TabularCodec:
    """Encode rows of mixed columns as floats with one-hot groups; decode samples back to the originals.

    ``kinds``: per column 'float', 'int' or 'category'. Integers are decoded by rounding and clipping
    to the range seen in ``fit``; categories by the chosen one-hot position.
    """

    def __init__(self, kinds: list[str]):
        self.kinds = kinds

    def fit(self, X: np.ndarray) -> "TabularCodec":
        self.categories_, self.ranges_ = {}, {}
        for j, kind in enumerate(self.kinds):
            if kind == "category":
                self.categories_[j] = _unique_in_order(X[:, j])
            elif kind == "int":
                # Exact Python ints: int64 values near 2**63 are not floats (2**63 - 1 rounds up to 2**63).
                self.ranges_[j] = (int(X[:, j].min()), int(X[:, j].max()))
        return self

    def encode(self, X: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
        """(float array (n, m), softmax groups as column index lists) for rows ``X`` (n, d)."""
        parts, groups, width = [], [], 0
        for j, kind in enumerate(self.kinds):
            if kind == "category":
                cats = self.categories_[j]
                onehot = (X[:, j][:, None] == cats[None, :]).astype(np.float64)
                parts.append(onehot)
                groups.append(list(range(width, width + len(cats))))
                width += len(cats)
            else:
                parts.append(X[:, j].astype(np.float64)[:, None])
                width += 1
        return np.hstack(parts), groups

    def decode(self, Z: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Rows (n, d) in the dtype of ``like`` from encoded rows ``Z`` (n, m)."""
        out = np.empty((Z.shape[0], len(self.kinds)), dtype=like.dtype)
        pos = 0
        for j, kind in enumerate(self.kinds):
            if kind == "category":
                cats = self.categories_[j]
                out[:, j] = cats[Z[:, pos:pos + len(cats)].argmax(1)]
                pos += len(cats)
                continue
            col = Z[:, pos]
            if kind == "int":
                lo, hi = self.ranges_[j]
                # Python compares floats with ints exactly, and int() of a float inside the range is exact.
                col = np.array([lo if v <= lo else hi if v >= hi else int(v) for v in np.rint(col).tolist()],
                               dtype=object)
            out[:, j] = col
            pos += 1
        return out
