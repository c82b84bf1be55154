"""The report's pictures, drawn with matplotlib's object API (no pyplot: no global state, no GUI backend).

Each function takes plain arrays and returns a ``Figure``; :meth:`Report.figure` saves it as PNG.
matplotlib is imported inside each function so that layerwise works without it.
"""
from __future__ import annotations

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


def history(history: dict[str, list[float]]):
    """Training and validation curves: one panel for the loss, one per metric."""
    names = [k for k in history if not k.startswith("val_")]
    fig = _figure(4.2 * len(names), 3.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", ms=3, label="training")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=.3)
        ax.legend()
    return fig


def confusion(matrix: np.ndarray, classes: list[str]):
    """A confusion matrix: true class down, predicted class across, counts in the cells."""
    n = len(classes)
    size = min(1.2 + 0.45 * n, 9)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45 if n > 6 else 0)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        high = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > high else "black")
    fig.colorbar(image, ax=ax, shrink=.8)
    return fig


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image, dtype=float)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def samples(images: np.ndarray, titles: list[str], colors: list[str] | None = None, columns: int = 8):
    """A grid of images, each titled (e.g. 'true 3 / predicted 3 (0.98)')."""
    rows = int(np.ceil(len(images) / columns))
    fig = _figure(1.5 * columns, 1.7 * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        if k < len(images):
            _show(ax, images[k])
            ax.set_title(titles[k], fontsize=7, color=(colors or ["black"] * len(images))[k])
        else:
            ax.axis("off")
    return fig


def reconstructions(rows: list[tuple[str, np.ndarray]]):
    """Images in rows: e.g. ('original', x), ('noisy input', x_noisy), ('autoencoder', x_hat), ('PCA', ...)."""
    columns = len(rows[0][1])
    fig = _figure(1.1 * columns + 1.2, 1.2 * len(rows))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            _show(axes[r, c], images[c])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return fig


def codes(points: np.ndarray, labels: np.ndarray | None = None, title: str = "2-D codes"):
    """A scatter of 2-D codes, coloured by class when labels are known."""
    fig = _figure(5.5, 4.5)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=.6)
    else:
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=6, alpha=.7)
        fig.colorbar(scatter, ax=ax, label="class")
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    ax.set_title(title)
    return fig


def forecast(actual: np.ndarray, predicted: np.ndarray, start: int, context: np.ndarray | None = None,
             label: str = "forecast"):
    """Actual values against forecasts that begin at index ``start`` (with optional context before it)."""
    fig = _figure(8, 3.4)
    ax = fig.subplots()
    if context is not None:
        ax.plot(np.arange(start - len(context), start), context, color="gray", lw=1, label="history")
    ax.plot(np.arange(start, start + len(actual)), actual, color="black", lw=1.2, label="actual")
    ax.plot(np.arange(start, start + len(predicted)), predicted, color="tab:red", lw=1.2, label=label)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=.3)
    return fig


def class_counts(before: dict[str, int], after: dict[str, int]):
    """Side-by-side bars of rows per class before and after oversampling."""
    names = list(after)
    x = np.arange(len(names))
    fig = _figure(1.2 + 1.1 * len(names), 3.4)
    ax = fig.subplots()
    ax.bar(x - .2, [before.get(n, 0) for n in names], width=.4, label="before")
    ax.bar(x + .2, [after[n] for n in names], width=.4, label="after")
    ax.set_xticks(x, names)
    ax.set_ylabel("rows")
    ax.legend()
    return fig


def imputed_vs_true(true: np.ndarray, imputed: np.ndarray, baseline: np.ndarray | None = None,
                    baseline_label: str = "column mean"):
    """Imputed against true values of the entries that were hidden; the diagonal is perfect."""
    fig = _figure(4.8, 4.5)
    ax = fig.subplots()
    if baseline is not None:
        ax.scatter(true, baseline, s=6, alpha=.4, color="gray", label=baseline_label)
    ax.scatter(true, imputed, s=6, alpha=.6, color="tab:blue", label="RBM")
    low, high = float(np.min(true)), float(np.max(true))
    ax.plot([low, high], [low, high], color="black", lw=1)
    ax.set_xlabel("true value")
    ax.set_ylabel("imputed value")
    ax.legend()
    return fig


def filters(components: np.ndarray, image_shape: tuple[int, int], count: int = 32):
    """An RBM's (or a dense layer's) weights of the first ``count`` hidden units drawn as images."""
    count = min(count, len(components))
    columns = 8
    rows = int(np.ceil(count / columns))
    fig = _figure(1.2 * columns, 1.2 * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < count:
            ax.imshow(components[k].reshape(image_shape), cmap="RdBu_r")
    return fig
