"""Save and load a fitted ``Autoencoder`` as one safetensors file: no pickle.

The header holds the constructor parameters and the fitted shapes as JSON; the tensors are the
encoder's and decoder's weights (PyTorch layout, keyed ``encoder/<layer>/<weight>``) and the
scaling statistics. Loading rebuilds the models from the parameters and copies the weights in.
"""
from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from layerwise.autoencoders.transformer import _forked_torch_rng
from layerwise.saving import load_weight_tensors, read_file, weight_tensors, write_file

FORMAT = "layerwise.autoencoder"
VERSION = "1"


def _plain(value):
    """``value`` with NumPy scalars and arrays made Python ones and tuples made lists, at any depth: what JSON
    stores. A grid search hands out ``np.int64(8)`` or ``np.array([8])``; other values pass unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _jsonable_params(estimator) -> tuple[dict, list[str]]:
    """The constructor parameters as JSON values, and the names of those that were tuples (JSON has lists only)."""
    params, tuples = {}, []
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, tuple):
            tuples.append(key)
        value = _plain(value)
        if key == "random_state" and not (value is None or isinstance(value, int)):
            value = None  # a RandomState's position cannot be stored; the fitted weights are, which is what matters
        try:
            json.dumps(value)
        except TypeError:
            hint = "pass it by name (e.g. activation='relu')" if callable(value) else "use a plain value"
            raise ValueError(f"Cannot save parameter {key}={value!r}: only JSON values (numbers, strings, booleans, "
                             f"None and lists of them) are stored, not {type(value).__name__}. To save, {hint}; "
                             "or store the whole estimator with pickle or joblib instead.") from None
        params[key] = value
    return params, tuples


def save_autoencoder(estimator, path) -> None:
    """Write ``estimator`` (fitted) to ``path`` atomically."""
    check_is_fitted(estimator)
    tensors = {**weight_tensors(estimator.encoder_, "encoder"), **weight_tensors(estimator.decoder_, "decoder")}
    if estimator.shift_ is not None:
        # in their own dtype (float32 for float32 data), so the loaded model transforms exactly as this one
        tensors["scaling/shift"] = torch.from_numpy(np.ascontiguousarray(estimator.shift_))
        tensors["scaling/scale"] = torch.from_numpy(np.ascontiguousarray(estimator.scale_))
    fitted = {"n_features_in_": int(estimator.n_features_in_),
              "input_shape_": list(estimator.input_shape_),
              "image_shape_": None if estimator.image_shape_ is None else list(estimator.image_shape_),
              "noise_range_": list(estimator.noise_range_),
              "history_": {k: [float(v) for v in values] for k, values in estimator.history_.items()}}
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(name) for name in estimator.feature_names_in_]
    params, tuples = _jsonable_params(estimator)
    # set_output(transform="pandas") is state scikit-learn keeps beside the parameters; it travels too
    output = getattr(estimator, "_sklearn_output_config", {}).get("transform")
    metadata = {"format": FORMAT, "version": VERSION, "class_name": type(estimator).__name__,
                "params": json.dumps(params), "tuple_params": json.dumps(tuples), "fitted": json.dumps(fitted),
                "transform_output": json.dumps(output)}
    write_file(path, tensors, metadata)


def load_autoencoder(cls, path):
    """An instance of ``cls`` rebuilt from ``path`` with the saved weights: it transforms as the saved one."""
    tensors, metadata = read_file(path, FORMAT, hint=" Load whole models with layerwise.load_model.")
    params = json.loads(metadata["params"])
    # files written before "tuple_params" existed: these were the parameters that could be tuples
    tuples = json.loads(metadata.get("tuple_params", '["hidden_layers", "filters", "image_shape"]'))
    for key in tuples:
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    estimator = cls(**params)
    output = json.loads(metadata.get("transform_output", "null"))
    if output is not None:
        estimator.set_output(transform=output)
    fitted = json.loads(metadata["fitted"])
    estimator.n_features_in_ = fitted["n_features_in_"]
    estimator.input_shape_ = tuple(fitted["input_shape_"])
    estimator.image_shape_ = None if fitted["image_shape_"] is None else tuple(fitted["image_shape_"])
    estimator.noise_range_ = tuple(fitted["noise_range_"])
    estimator.history_ = fitted["history_"]
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    if "scaling/shift" in tensors:
        estimator.shift_, estimator.scale_ = tensors["scaling/shift"].numpy(), tensors["scaling/scale"].numpy()
    else:
        estimator.shift_ = estimator.scale_ = None
    with _forked_torch_rng():  # the new layers' initial weights, overwritten below, must not move the caller's RNG
        estimator._build_models()
    load_weight_tensors(estimator.encoder_, tensors, path, "encoder")
    load_weight_tensors(estimator.decoder_, tensors, path, "decoder")
    return estimator
