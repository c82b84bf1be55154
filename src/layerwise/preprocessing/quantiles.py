"""Keras' approximate quantiles for ``Discretization.adapt``, step for step so the boundaries match.

A summary is a ``(2, k)`` float array: sorted values and the weight (count) each stands for. Each
batch is summarised by every ``max(n * epsilon, 1)``-th sorted value, summaries are merged by
sorting and re-compressed to about ``1 / epsilon`` points by interpolating the cumulative weights,
and the final boundaries are the same compression to ``num_bins`` points, the last one dropped.
"""
from __future__ import annotations

import numpy as np


def empty_summary() -> np.ndarray:
    return np.zeros((2, 0), dtype=np.float32)


def summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """A batch's summary: every ``step``-th of its sorted values, each weighted ``step``."""
    values = np.sort(np.asarray(values, dtype=np.float32).reshape(-1))
    step = max(values.size / (1.0 / epsilon), 1)  # Keras' exact expression: rounding decides int(step)
    picked = values[int(step - 1)::int(step)]
    return np.stack([picked, np.full_like(picked, step)])


def compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """About ``1 / epsilon`` points at evenly spaced cumulative weights (a summary that small is kept)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    targets = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    fractions = cumulative / cumulative[-1]
    points = np.interp(targets, fractions, summary[0])
    cumulative = np.interp(targets, fractions, cumulative)
    weights = np.diff(cumulative, prepend=0.0)
    return np.stack([points, weights]).astype(np.float32)


def merge(first: np.ndarray, second: np.ndarray, epsilon: float) -> np.ndarray:
    """One compressed summary of two; Keras puts the new batch's summary ``first`` (the unstable sort of
    tied values, hence the weights summed, depends on that order)."""
    merged = np.concatenate([first, second], axis=1)
    return compress(merged[:, np.argsort(merged[0])], epsilon)


def bin_boundaries(summary: np.ndarray, num_bins: int) -> list[float]:
    """``num_bins - 1`` boundaries from a summary (fewer when the data had fewer values)."""
    return compress(summary, 1.0 / num_bins)[0, :-1].tolist()
