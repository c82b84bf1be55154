"""What ``layerwise train`` leaves in ``--out`` and how the other subcommands read it back.

``model.lw`` is the trained model: a layerwise model file (``model.save``), a saved ``Autoencoder``,
or an RBM saved here in the same safetensors-plus-JSON style (no pickle). ``card.json`` beside it
says how the data was prepared (the task, class names, feature columns, scaling, window, vocabulary),
so ``evaluate``/``predict``/``generate``/``forecast`` prepare new data exactly as training did.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from layerwise.cli.errors import UserError
from layerwise.saving import MODEL_FORMAT, atomic_write, write_file

MODEL_FILE = "model.lw"
CARD_FILE = "card.json"
ESTIMATOR_FORMAT = "layerwise.estimator"
AUTOENCODER_FORMAT = "layerwise.autoencoder"
# What evaluate/predict/generate/forecast read from a card, by task and by kind of data.
CARD_KEYS_BY_TASK = {"classify": ("classes",), "regress": (), "forecast": ("target", "window"),
                     "text": ("vocab", "window"), "reduce": (), "features": ()}
CARD_KEYS_BY_KIND = {"table": ("features", "mean", "std"), "series": ("features", "mean", "std"),
                     "images": ("image_shape", "classes"), "arrays": (), "text": ()}


def file_format(path: str) -> str:
    """The ``format`` recorded in a layerwise file's header; a UserError for any other file."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such model file or folder.")
    with open(path, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if size <= 0 or size > 100_000_000:
            raise UserError(f"{path} is not a layerwise model file (train one with `layerwise train`).")
        try:
            header = json.loads(f.read(size))
        except (UnicodeDecodeError, ValueError):
            raise UserError(f"{path} is not a layerwise model file (train one with `layerwise train`).") from None
    fmt = (header.get("__metadata__") or {}).get("format") if isinstance(header, dict) else None
    if fmt not in (MODEL_FORMAT, AUTOENCODER_FORMAT, ESTIMATOR_FORMAT):
        raise UserError(f"{path} is a safetensors file but not a layerwise model (format {fmt!r}).")
    return fmt


def resolve(path: str) -> tuple[str, str]:
    """``(model file, card file)`` for a ``--out`` folder or a model file inside one."""
    if os.path.isdir(path):
        model = os.path.join(path, MODEL_FILE)
        if not os.path.exists(model):
            raise UserError(f"{path} holds no {MODEL_FILE}; give the folder that `layerwise train --out` wrote.")
        return model, os.path.join(path, CARD_FILE)
    return path, os.path.join(os.path.dirname(os.path.abspath(path)), CARD_FILE)


def load(path: str):
    """``(model, card)``. Without a card (a model saved from Python) the card says only ``task: raw``."""
    model_path, card_path = resolve(path)
    fmt = file_format(model_path)
    card = read_card(card_path) if os.path.exists(card_path) else {"task": "raw"}
    network = card["task"] not in ("reduce", "features")  # those two are an autoencoder or an RBM estimator
    if card["task"] != "raw" and network != (fmt == MODEL_FORMAT):
        raise UserError(f"{card_path} and {model_path} disagree: the card describes a {card['task']} model, the "
                        "file holds " + ("a network" if fmt == MODEL_FORMAT else "an autoencoder or RBM") +
                        "; retrain the model or restore the folder's files together.")
    if fmt == MODEL_FORMAT:
        from layerwise.models import load_model
        return load_model(model_path), card
    if fmt == AUTOENCODER_FORMAT:
        from layerwise.autoencoders import Autoencoder
        return Autoencoder.load(model_path), card
    return load_estimator(model_path), card


def read_card(path: str) -> dict:
    """The card at ``path``, checked to hold what its task needs; a UserError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        reason = (f"{err.msg}, line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError)
                  else "not UTF-8 text")
        raise UserError(f"{path} is corrupt ({reason}); retrain the model or restore the file.") from None
    task = card.get("task") if isinstance(card, dict) else None
    if task not in CARD_KEYS_BY_TASK:
        raise UserError(f"{path}: 'task' must be one of {', '.join(CARD_KEYS_BY_TASK)}, got {task!r}; "
                        "retrain the model or restore the file.")
    kind = card.get("data_kind")
    if kind not in CARD_KEYS_BY_KIND:
        raise UserError(f"{path}: 'data_kind' must be one of {', '.join(CARD_KEYS_BY_KIND)}, got {kind!r}; "
                        "retrain the model or restore the file.")
    missing = [k for k in (*CARD_KEYS_BY_TASK[task], *CARD_KEYS_BY_KIND[kind]) if k not in card]
    if missing:
        raise UserError(f"{path} lacks {', '.join(map(repr, missing))}, which a {task} model on {kind} data needs; "
                        "retrain the model or restore the file.")
    return card


def save(folder: str, model, card: dict) -> str:
    """Write ``model.lw`` and ``card.json`` into ``folder`` (each atomically); returns the model path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, MODEL_FILE)
    if hasattr(model, "save") and not _is_rbm(model):
        model.save(path)
    else:
        save_estimator(model, path)
    atomic_write(os.path.join(folder, CARD_FILE), json.dumps(card, indent=1).encode("utf-8"))
    return path


def _is_rbm(model) -> bool:
    return type(model).__module__.startswith("layerwise.rbm")


# ---- RBMs: parameters as JSON, fitted arrays and tensors as safetensors --------------------------
def _own_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy: a tensor made with torch.as_tensor shares the array's memory, which safetensors refuses."""
    return tensor.detach().cpu().clone().contiguous()


def _fitted_state(estimator) -> tuple[dict, dict]:
    """``(tensors, json_values)`` for every fitted attribute, public (``name_``) and private (``_name``).

    Private state is part of the fitted model: GaussianBernoulliRBM needs ``_variance_learned`` and its
    constant-column masks to transform. Values with no portable form (the random generator, the
    optimizer's state) serve only further training and are left out.
    """
    tensors, values = {}, {"dtypes": {}, "lists": {}, "scalars": {}}
    for name, value in vars(estimator).items():
        private = name.startswith("_")
        if not (private or name.endswith("_")):
            continue  # constructor parameters: saved by get_params
        if isinstance(value, torch.Tensor):
            tensors[f"torch/{name}"] = _own_copy(value)
        elif isinstance(value, np.ndarray) and value.dtype != object:
            tensors[f"numpy/{name}"] = torch.from_numpy(np.ascontiguousarray(value))
        elif isinstance(value, np.dtype):
            values["dtypes"][name] = value.str
        elif isinstance(value, list) and all(isinstance(v, torch.Tensor) for v in value):
            values["lists"][name] = len(value)
            tensors.update({f"list/{name}/{k}": _own_copy(v) for k, v in enumerate(value)})
        elif not private or isinstance(value, (bool, int, float, str, np.generic)):
            values["scalars"][name] = value.item() if isinstance(value, np.generic) else value
    return tensors, values


def save_estimator(estimator, path: str) -> None:
    """Save a fitted layerwise RBM: constructor parameters plus its fitted state (see ``_fitted_state``)."""
    tensors, values = _fitted_state(estimator)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in estimator.get_params(deep=False).items()
              if k != "random_state" or isinstance(v, (int, type(None)))}
    metadata = {"format": ESTIMATOR_FORMAT, "class_name": type(estimator).__name__, "params": json.dumps(params),
                **{key: json.dumps(value) for key, value in values.items()}}
    write_file(path, tensors, metadata)


def load_estimator(path: str):
    """The RBM saved by :func:`save_estimator`, ready to ``transform`` as it did when saved."""
    from layerwise import rbm
    from layerwise.backend import get_device
    from layerwise.saving import read_file

    tensors, header = read_file(path, ESTIMATOR_FORMAT)
    cls = getattr(rbm, header["class_name"], None)
    if cls is None:
        raise UserError(f"{path} holds a {header['class_name']}, which this version of layerwise cannot load.")
    estimator = cls(**json.loads(header["params"]))
    for name, value in json.loads(header["scalars"]).items():
        setattr(estimator, name, value)
    for name, value in json.loads(header.get("dtypes", "{}")).items():
        setattr(estimator, name, np.dtype(value))
    for name, count in json.loads(header.get("lists", "{}")).items():
        setattr(estimator, name, [tensors[f"list/{name}/{k}"].to(get_device()) for k in range(count)])
    for key, tensor in tensors.items():
        kind, name = key.split("/", 1)
        if kind != "list":
            setattr(estimator, name, tensor.to(get_device()) if kind == "torch" else tensor.numpy())
    return estimator
