"""Report sections shared by ``layerwise train`` and the tour: each adds its heading, numbers and plots."""
from __future__ import annotations

import numpy as np

from layerwise.reports import plots
from layerwise.reports.html import Report


def history(report: Report, name: str, history: dict[str, list[float]]) -> None:
    """Training and validation curves, and the last epoch's numbers."""
    if not history or not next(iter(history.values()), None):
        return
    report.figure(f"{name}_history", "Training and validation curves per epoch.", lambda: plots.history(history))


def classifier(report: Report, name: str, probs: np.ndarray, y_true: np.ndarray, classes: list[str],
               images: np.ndarray | None = None, what: str = "validation") -> float:
    """Accuracy, per-class precision/recall/F1, the confusion matrix and (for images) sample predictions.

    Returns the accuracy.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    pred = probs.argmax(1)
    accuracy = float(np.mean(pred == y_true))
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
    report.paragraph(f"Accuracy on {len(y_true)} {what} samples: {accuracy:.4f}.")
    report.table(["class", "precision", "recall", "F1", "samples"],
                 [[c, float(p), float(r), float(f), int(s)] for c, p, r, f, s in
                  zip(classes, precision, recall, f1, support)], caption=f"Per-class scores ({what})")
    matrix = confusion_matrix(y_true, pred, labels=labels)
    report.figure(f"{name}_confusion", f"Confusion matrix ({what}).", lambda: plots.confusion(matrix, classes))
    if images is not None and len(images):
        count = min(16, len(images))
        titles = [f"{classes[y_true[i]]} → {classes[pred[i]]} ({probs[i, pred[i]]:.2f})" for i in range(count)]
        colors = ["black" if pred[i] == y_true[i] else "tab:red" for i in range(count)]
        report.figure(f"{name}_samples", "Sample predictions: true → predicted (probability); mistakes in red.",
                      lambda: plots.samples(images[:count], titles, colors))
    return accuracy


def regression(report: Report, name: str, actual: np.ndarray, predicted: np.ndarray, what: str = "validation",
               baseline: np.ndarray | None = None, baseline_name: str = "baseline") -> dict[str, float]:
    """Mean absolute and squared errors (and the baseline's), with predicted against actual values."""
    scores = {"MAE": float(np.mean(np.abs(actual - predicted))), "MSE": float(np.mean((actual - predicted) ** 2))}
    rows = [["model", scores["MAE"], scores["MSE"]]]
    if baseline is not None:
        rows.append([baseline_name, float(np.mean(np.abs(actual - baseline))),
                     float(np.mean((actual - baseline) ** 2))])
    report.table(["", "MAE", "MSE"], rows, caption=f"Errors on {len(actual)} {what} samples")
    report.figure(f"{name}_predicted", f"Predicted against actual values ({what}).",
                  lambda: plots.forecast(actual, predicted, 0, label="predicted"))
    return scores


def reconstructions(report: Report, name: str, rows: list[tuple[str, np.ndarray]], image_shape) -> None:
    """Rows of images (original, noisy, reconstructions) when the data are images."""
    if image_shape is None:
        return
    shaped = [(label, images[:10].reshape(-1, *image_shape)) for label, images in rows]
    report.figure(f"{name}_reconstructions", "Originals and their reconstructions.",
                  lambda: plots.reconstructions(shaped))


def codes(report: Report, name: str, points: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    """The first two code dimensions as a scatter plot."""
    if points.shape[1] >= 2:
        report.figure(f"{name}_codes", title, lambda: plots.codes(points[:, :2], labels, title))
