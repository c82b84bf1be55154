"""The pieces of ``FeatureSpace`` (``feature_space.py``): the ``Feature`` and ``Cross`` specs, how a
preprocessor is saved in a config, and how tabular data (a dict of columns, a pandas DataFrame, or an
iterable of dict batches) is cut into the per-feature batches that ``adapt`` and calls use.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from layerwise.layers.base import Layer
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization

ADAPT_BATCH_SIZE = 32  # Keras batches the rows of a dict by 32 before adapting each preprocessor
FEATURE_OUTPUT_MODES = ("int", "one_hot", "float")
CROSS_OUTPUT_MODES = ("int", "one_hot")
# Preprocessors that are not layers (they run on numpy): saved by class name and config.
_PLAIN_PREPROCESSORS = {"StringLookup": StringLookup, "TextVectorization": TextVectorization}


def serialize_preprocessor(preprocessor, feature: str) -> dict:
    """``{"class_name", "config"}`` of a preprocessor, with ``"weights"`` (nested lists) for a built layer
    that has any, such as an adapted Normalization's mean, variance and count."""
    if isinstance(preprocessor, Layer):
        spec = {"class_name": type(preprocessor).__name__, "config": preprocessor.get_config()}
        if preprocessor.built and preprocessor.weight_views():
            spec["weights"] = [w.tolist() for w in preprocessor.get_weights()]
        return spec
    if type(preprocessor) in _PLAIN_PREPROCESSORS.values():
        return {"class_name": type(preprocessor).__name__, "config": preprocessor.get_config()}
    raise TypeError(f"FeatureSpace: the preprocessor of feature {feature!r} ({type(preprocessor).__name__}) "
                    "cannot be saved; use a layerwise layer, StringLookup or TextVectorization.")


def deserialize_preprocessor(spec: dict):
    """The preprocessor ``serialize_preprocessor`` described, with its weights (built for ``(batch, 1)``)."""
    from layerwise.layers import get as layer_class  # at call time: layerwise.layers imports this package

    name = spec.get("class_name") if isinstance(spec, dict) else None
    if name is None:
        raise ValueError(f"FeatureSpace: a saved preprocessor is a dict with 'class_name' and 'config', got "
                         f"{spec!r:.200}.")
    cls = _PLAIN_PREPROCESSORS.get(name) or layer_class(name)
    preprocessor = cls.from_config(spec["config"])
    if spec.get("weights") is not None:
        preprocessor.build_from((None, 1))
        preprocessor.set_weights([np.asarray(w) for w in spec["weights"]])
    return preprocessor


class Feature:
    """One feature: the ``dtype`` of its raw values ('float32', 'int32', 'string'...), the ``preprocessor``
    that maps a ``(batch, 1)`` column to ids or floats, and how the result is encoded: 'one_hot' (ids as
    one-hot rows), 'int' (ids as they are) or 'float' (the preprocessor's floats as they are)."""

    def __init__(self, dtype: str, preprocessor, output_mode: str):
        if output_mode not in FEATURE_OUTPUT_MODES:
            raise ValueError(f"FeatureSpace.feature: output_mode must be one of {list(FEATURE_OUTPUT_MODES)}, got "
                             f"{output_mode!r}.")
        if isinstance(preprocessor, dict):
            preprocessor = deserialize_preprocessor(preprocessor)
        if not callable(preprocessor):
            raise TypeError(f"FeatureSpace.feature: preprocessor must be a layer or another callable, got "
                            f"{preprocessor!r:.100}.")
        self.dtype, self.preprocessor, self.output_mode = str(dtype), preprocessor, output_mode

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    def get_config(self, name: str = "") -> dict:
        return {"dtype": self.dtype, "preprocessor": serialize_preprocessor(self.preprocessor, name),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: dict) -> "Feature":
        return cls(**config)

    def __repr__(self) -> str:
        return f"Feature(dtype={self.dtype!r}, preprocessor={type(self.preprocessor).__name__}, " \
               f"output_mode={self.output_mode!r})"


class Cross:
    """Features crossed by hashing their ids together into ``crossing_dim`` bins (a HashedCrossing layer),
    encoded as one-hot rows ('one_hot') or left as bin ids ('int'); named ``"a_X_b"``."""

    def __init__(self, feature_names: Iterable[str], crossing_dim: int, output_mode: str = "one_hot"):
        if output_mode not in CROSS_OUTPUT_MODES:
            raise ValueError(f"FeatureSpace.cross: output_mode must be one of {list(CROSS_OUTPUT_MODES)}, got "
                             f"{output_mode!r}.")
        names = (feature_names,) if isinstance(feature_names, str) else tuple(feature_names)
        if len(names) < 2:
            raise ValueError(f"FeatureSpace.cross: a cross needs at least two features, got {list(names)}.")
        if not isinstance(crossing_dim, int) or isinstance(crossing_dim, bool) or crossing_dim <= 0:
            raise ValueError(f"FeatureSpace.cross of {list(names)}: crossing_dim must be a positive int, got "
                             f"{crossing_dim!r}.")
        self.feature_names, self.crossing_dim, self.output_mode = names, crossing_dim, output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict:
        return {"feature_names": list(self.feature_names), "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: dict) -> "Cross":
        return cls(**config)

    def __repr__(self) -> str:
        return f"Cross({list(self.feature_names)}, crossing_dim={self.crossing_dim}, output_mode={self.output_mode!r})"


# ---- data -------------------------------------------------------------------------------------------------
def _is_frame(data) -> bool:
    return hasattr(data, "columns") and hasattr(data, "iloc")


def columns_of(data, owner: str) -> dict:
    """A dict of columns from a dict or a pandas DataFrame, or a TypeError naming ``owner``."""
    if _is_frame(data):
        return {key: data[key] for key in data.columns}
    if isinstance(data, dict):
        return data
    raise TypeError(f"{owner} takes a dict of columns (feature name -> values) or a pandas DataFrame, got "
                    f"{type(data).__name__}.")


def column(value) -> np.ndarray | torch.Tensor:
    """A column as a tensor (tensors stay tensors) or a numpy array (pandas Series, lists, scalars)."""
    if isinstance(value, torch.Tensor):
        return value
    if hasattr(value, "to_numpy"):
        return value.to_numpy()
    return np.asarray(value)


def _numpy(value) -> np.ndarray:
    value = column(value)
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def as_column_batch(value, feature: Feature):
    """Raw values of one feature as ``(batch, 1)``-style input of its preprocessor: strings as a numpy
    object array (they cannot be tensors), numbers as a tensor (float features as float32)."""
    value = column(value)
    if value.ndim == 0:
        value = value.reshape(1, 1)
    elif value.ndim == 1:
        value = value[:, None]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "USO":
            if feature.dtype.startswith(("float", "int")):
                raise TypeError(f"it expects numbers ({feature.dtype}), got strings such as {str(value.flat[0])!r}")
            return value.astype(object)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"values of dtype {value.dtype}; expected numbers or strings")
        value = torch.from_numpy(np.array(value))  # a copy: pandas' arrays may be read-only
    if feature.dtype.startswith("float") and value.dtype != torch.float32:
        value = value.to(torch.float32)
    elif value.dtype == torch.float64:
        value = value.to(torch.float32)
    return value


def _adapt_array(value, feature: Feature, name: str) -> np.ndarray:
    """One adapt batch of feature ``name`` as numpy ``(batch, 1)``, cast as Keras' preprocessors see it."""
    array = _numpy(value)
    array = array.reshape(-1, 1) if array.ndim <= 1 else array
    if array.dtype.kind in "USO":
        if feature.dtype.startswith(("float", "int")):
            raise TypeError(f"FeatureSpace.adapt: feature {name!r} expects numbers ({feature.dtype}), got strings "
                            f"such as {str(array.flat[0])!r}.")
        return array.astype(object)
    if feature.dtype.startswith("float"):
        return array.astype(np.float32)
    return array.astype(np.int64) if array.dtype.kind in "biu" else array


def _rows(columns: dict, names: list[str], owner: str) -> int | None:
    """The number of rows of the named columns (None: one row of scalars), or a ValueError if they differ."""
    counts = {name: (_numpy(columns[name]).shape or (None,))[0] for name in names}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{owner}: every column needs the same number of rows, got {counts}.")
    return next(iter(counts.values()))


def _missing(columns: dict, names: list[str], owner: str) -> None:
    missing = [name for name in names if name not in columns]
    if missing:
        raise ValueError(f"{owner}: the data lacks the feature(s) {missing}; it has columns {list(columns)}.")


def adapt_batches(data, features: dict[str, Feature], owner: str) -> dict[str, list[np.ndarray]]:
    """Each feature's ``(batch, 1)`` numpy batches for ``adapt``: a dict of columns or a DataFrame is cut into
    batches of 32 rows, as Keras cuts the dataset it makes of a dict; an iterable yields dict batches (or
    ``(dict, labels)`` pairs), taken as they are, or single rows (scalar values), grouped by 32."""
    names = list(features)
    if isinstance(data, dict) or _is_frame(data):
        columns = columns_of(data, owner)
        _missing(columns, names, owner)
        n = _rows(columns, names, owner)
        if n is None:  # one row of scalars
            return {name: [_adapt_array(columns[name], features[name], name)] for name in names}
        arrays = {name: _adapt_array(columns[name], features[name], name) for name in names}
        return {name: [a[i:i + ADAPT_BATCH_SIZE] for i in range(0, n, ADAPT_BATCH_SIZE)] for name, a in arrays.items()}
    if isinstance(data, (str, bytes, np.ndarray, torch.Tensor)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{owner} takes a dict of columns, a pandas DataFrame, or an iterable of dict batches "
                        f"(a list or a generator); got {type(data).__name__}.")
    batches: dict[str, list] = {name: [] for name in names}
    rows: dict[str, list] = {name: [] for name in names}
    for item in data:
        item = item[0] if isinstance(item, tuple) else item
        if not isinstance(item, dict) and not _is_frame(item):
            raise TypeError(f"{owner}: an iterable must yield dict batches (feature name -> values), DataFrames or "
                            f"(dict, labels) pairs; got an item of type {type(item).__name__}.")
        columns = columns_of(item, owner)
        _missing(columns, names, owner)
        scalar = _rows(columns, names, owner) is None
        for name in names:
            (rows if scalar else batches)[name].append(_numpy(columns[name]) if scalar else
                                                       _adapt_array(columns[name], features[name], name))
    if not batches[names[0]] and not rows[names[0]]:
        raise ValueError(f"{owner} received no data: the iterable was empty.")
    for name in names:
        if rows[name]:
            stacked = _adapt_array(np.stack(rows[name]), features[name], name)
            batches[name] += [stacked[i:i + ADAPT_BATCH_SIZE] for i in range(0, len(stacked), ADAPT_BATCH_SIZE)]
    return batches


def to_tensor(value: Any) -> torch.Tensor:
    """A preprocessor's output as a tensor (StringLookup and Hashing of strings give numpy arrays)."""
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))
