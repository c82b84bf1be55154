"""From a data path to model inputs, the same way for training and for later use.

``prepare(path, card, fitting=True)`` reads the data, decides the task where the card says ``auto``
and fills the card (classes, feature columns, scaling, window, vocabulary); with ``fitting=False`` it
prepares new data exactly as the card says. Tasks: ``classify`` and ``regress`` (tables, images,
arrays), ``forecast`` (a time series, windows of ``window`` steps predict the next value) and
``text`` (windows of characters predict the next character).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerwise.cli import data_loading as dl
from layerwise.cli.errors import UserError

# A numeric target with at most this many distinct integer values is taken as class labels.
MAX_INTEGER_CLASSES = 20
# Text models train on at most this many windows, evenly spaced, to keep epochs short.
MAX_TEXT_WINDOWS = 20000
LABEL_NAMES = ("target", "label", "class", "y")
KIND_NAMES = {"images": "an image folder", "table": "a CSV table", "series": "a time-series CSV",
               "arrays": "an .npz file", "text": "a text file"}


@dataclass
class Prepared:
    """Model inputs ``x``, targets ``y`` (class indices or floats, None when unknown) and row names."""

    x: np.ndarray
    y: np.ndarray | None
    names: list[str]
    images: np.ndarray | None = None
    series: np.ndarray | None = None


def _class_order(values: list[str]) -> list[str]:
    """Class names sorted numerically when they are all numbers, else alphabetically."""
    try:
        return sorted(set(values), key=float)
    except ValueError:
        return sorted(set(values))


def encode_classes(values: list[str], classes: list[str], where: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise UserError(f"{where}: label(s) {', '.join(map(repr, unknown[:5]))} were not seen in training "
                        f"(known classes: {', '.join(classes)}).")
    return np.asarray([index[v] for v in values], dtype=np.int64)


def _label_text(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else str(value)


def _labels(table: dl.Table, column: str, numeric: bool) -> list[str]:
    """A label column as text; numbers are normalised so that '1' and '1.0' are one class."""
    if numeric:
        return [_label_text(v) for v in table.numeric([column])[:, 0]]
    return table.strings(column)


# ---- tables -------------------------------------------------------------------------------------
def pick_target(table: dl.Table, target: str | None) -> str:
    """``--target``, or a column called target/label/class/y, or the last column."""
    if target is not None:
        table.index(target)
        return target
    return next((c for c in table.columns if c.lower() in LABEL_NAMES), table.columns[-1])


def _prepare_table(path: str, card: dict, fitting: bool, target: str | None, needs_target: bool) -> Prepared:
    table = dl.read_csv(path)
    if fitting:
        unsupervised = card["task"] in ("reduce", "features")
        card["target"] = None if unsupervised and target is None else pick_target(table, target)
        card["features"] = [c for c in table.columns if c != card["target"]]
        if not card["features"]:
            raise UserError(f"{path} has only the target column {card['target']!r}; there is nothing to learn from.")
    missing = [c for c in card["features"] if c not in table.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) the model was trained on: {', '.join(missing)}.")
    x = table.numeric(card["features"])
    if fitting:
        card["mean"], card["std"] = x.mean(0).tolist(), np.where(x.std(0) > 0, x.std(0), 1.0).tolist()
    x = ((x - np.asarray(card["mean"])) / np.asarray(card["std"])).astype(np.float32)
    y = None
    # Predicting never reads the target: a blank or unseen value there is no reason to refuse new rows.
    has_target = (fitting or needs_target) and card.get("target") is not None and card["target"] in table.columns
    if needs_target and not has_target:
        raise UserError(f"{path} has no column {card.get('target')!r} with the true values.")
    if has_target:
        numeric = table.is_numeric(card["target"])
        if fitting and card["task"] == "auto":
            values = table.numeric([card["target"]], allow_missing=True)[:, 0] if numeric else None
            integers = numeric and not np.any(values % 1 != 0)
            many = numeric and len(set(values.tolist())) > MAX_INTEGER_CLASSES
            card["task"] = "classify" if not numeric or (integers and not many) else "regress"
        if fitting and card["task"] == "classify":
            card["classes"] = _class_order(_labels(table, card["target"], numeric))
        if card["task"] == "regress":
            y = table.numeric([card["target"]])[:, 0].astype(np.float32)
        elif card["task"] == "classify":
            y = encode_classes(_labels(table, card["target"], numeric), card["classes"], path)
    return Prepared(x, y, [f"line {n}" for n in table.lines])


# ---- images and arrays --------------------------------------------------------------------------
def _prepare_images(path: str, card: dict, fitting: bool, quiet: bool, needs_target: bool) -> Prepared:
    shape = card.get("image_shape")
    images = dl.load_images(path, None if shape is None else tuple(shape[:2]), None if shape is None else shape[2],
                            quiet, unlabelled=not (fitting or needs_target))
    if fitting:
        card["image_shape"] = list(images.x.shape[1:])
        card["classes"] = images.classes
        y = images.y
    elif needs_target or set(images.classes) <= set(card["classes"]):
        y = encode_classes([images.classes[k] for k in images.y], card["classes"], path)
    else:
        y = None  # predicting: sub-folders are just groups of images, not known classes
    return Prepared(images.x, y, images.paths, images=images.x)


def _prepare_arrays(path: str, card: dict, fitting: bool, needs_target: bool) -> Prepared:
    x, y = dl.load_npz(path)
    if not (fitting or needs_target):
        y = None  # predicting: labels in the file are not used, so unseen ones are no error
    if card.get("recipe") == "cnn" and x.ndim == 3:
        x = x[..., None]  # grayscale images (n, h, w) gain their channel axis
    if fitting:
        card["input_shape"] = list(x.shape[1:])
    elif list(x.shape[1:]) != card.get("input_shape", list(x.shape[1:])):
        raise UserError(f"{path}: samples have shape {tuple(x.shape[1:])}, the model expects "
                        f"{tuple(card['input_shape'])}.")
    images = x if x.ndim == 4 and x.shape[-1] in (1, 3) else None
    if y is None:
        return Prepared(x, None, [f"row {i}" for i in range(len(x))], images=images)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(1)  # one-hot labels
    y = y.reshape(len(y))
    if card["task"] in ("reduce", "features"):  # labels only colour the report's plots
        labels = y.astype(np.int64) if y.dtype.kind in "iub" or np.all(y % 1 == 0) else None
        return Prepared(x, labels, [f"row {i}" for i in range(len(x))], images=images)
    if fitting and card["task"] == "auto":
        card["task"] = "regress" if np.issubdtype(y.dtype, np.floating) and np.any(y % 1 != 0) else "classify"
    if card["task"] == "regress":
        return Prepared(x, y.astype(np.float32), [f"row {i}" for i in range(len(x))], images=images)
    labels = [_label_text(v) for v in y] if y.dtype.kind in "fiub" else [str(v) for v in y]
    if fitting:
        card["classes"] = _class_order(labels)
    return Prepared(x, encode_classes(labels, card["classes"], path), [f"row {i}" for i in range(len(x))],
                    images=images)


# ---- sequences ----------------------------------------------------------------------------------
def _prepare_text(path: str, card: dict, fitting: bool) -> Prepared:
    text = dl.load_text(path)
    window = int(card.setdefault("window", 40))
    if fitting:
        card["vocab"] = sorted(set(text))
    index = {c: i for i, c in enumerate(card["vocab"])}
    ids = np.asarray([index.get(c, 0) for c in text], dtype=np.int64)
    if len(ids) <= window:
        raise UserError(f"{path} has {len(ids)} characters; a text model with window {window} needs more.")
    starts = np.arange(0, len(ids) - window, max(1, (len(ids) - window) // MAX_TEXT_WINDOWS))
    x = np.stack([ids[s:s + window] for s in starts])
    return Prepared(x, ids[starts + window], [f"char {s + window}" for s in starts])


def _prepare_series(path: str, card: dict, fitting: bool, target: str | None) -> Prepared:
    table = dl.read_csv(path)
    if fitting:  # univariate: the target's own past predicts its next value
        if target is None:
            numeric = [c for c in table.columns if table.is_numeric(c)]
            if not numeric:
                raise UserError(f"{path}: no numeric column to forecast (columns: {', '.join(table.columns)}).")
            target = numeric[-1]
        table.index(target)
        if not table.is_numeric(target):
            raise UserError(f"{path}: column {target!r} is not numeric. A recurrent recipe on a CSV forecasts a "
                            "numeric series; to classify sequences (DNA, text), see examples/dna_splice.py.")
        card["target"], card["features"] = target, [target]
    values = table.numeric(card["features"])
    if fitting:
        card["mean"], card["std"] = values.mean(0).tolist(), np.where(values.std(0) > 0, values.std(0), 1).tolist()
    scaled = ((values - np.asarray(card["mean"])) / np.asarray(card["std"])).astype(np.float32)
    window = int(card.setdefault("window", 12))
    if len(scaled) <= window:
        raise UserError(f"{path} has {len(scaled)} rows; forecasting with window {window} needs more.")
    t = card["features"].index(card["target"])
    x = np.lib.stride_tricks.sliding_window_view(scaled, window, axis=0)[:-1].transpose(0, 2, 1).copy()
    return Prepared(x, scaled[window:, t].copy(), [f"line {n}" for n in table.lines[window:]],
                    series=values[:, t])


def prepare(path: str, card: dict, fitting: bool, target: str | None = None, quiet: bool = True,
            needs_target: bool = False) -> Prepared:
    """Read ``path`` as the card's ``data_kind`` and return model inputs; fill the card when fitting."""
    kind = card["data_kind"]
    if not fitting and card.get("recipe") is not None:
        given = dl.data_kind(path, card["recipe"])
        if given != kind:
            raise UserError(f"the model was trained on {KIND_NAMES[kind]}, but {path} is {KIND_NAMES[given]}.")
    if kind == "images":
        return _prepare_images(path, card, fitting, quiet, needs_target)
    if kind == "table":
        return _prepare_table(path, card, fitting, target, needs_target)
    if kind == "arrays":
        return _prepare_arrays(path, card, fitting, needs_target)
    if kind == "text":
        return _prepare_text(path, card, fitting)
    return _prepare_series(path, card, fitting, target)


def unscale_target(card: dict, values: np.ndarray) -> np.ndarray:
    """Forecasts back in the series' own units."""
    t = card["features"].index(card["target"])
    return values * card["std"][t] + card["mean"][t]
