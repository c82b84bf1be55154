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
from layerwise.saving import MODEL_FORMAT, atomic_write

MODEL_FILE = "model.lw"
CARD_FILE = "card.json"
ESTIMATOR_FORMAT = "layerwise.estimator"
AUTOENCODER_FORMAT = "layerwise.autoencoder"


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
    card = {"task": "raw"}
    if os.path.exists(card_path):
        with open(card_path, encoding="utf-8") as f:
            card = json.load(f)
    if fmt == MODEL_FORMAT:
        from layerwise.models import load_model
        return load_model(model_path), card
    if fmt == AUTOENCODER_FORMAT:
        from layerwise.autoencoders import Autoencoder
        return Autoencoder.load(model_path), card
    return load_estimator(model_path), card


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
def save_estimator(estimator, path: str) -> None:
    """Save a fitted layerwise RBM: constructor parameters plus every public fitted attribute."""
    from safetensors.torch import save as save_bytes

    tensors, scalars = {}, {}
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, torch.Tensor):
            tensors[f"torch/{name}"] = value.detach().cpu().contiguous()
        elif isinstance(value, np.ndarray) and value.dtype != object:
            tensors[f"numpy/{name}"] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            scalars[name] = value.item() if isinstance(value, np.generic) else value
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in estimator.get_params(deep=False).items()
              if k != "random_state" or isinstance(v, (int, type(None)))}
    metadata = {"format": ESTIMATOR_FORMAT, "class_name": type(estimator).__name__,
                "params": json.dumps(params), "scalars": json.dumps(scalars)}
    atomic_write(path, save_bytes(tensors, metadata=metadata))


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
    for key, tensor in tensors.items():
        kind, name = key.split("/", 1)
        setattr(estimator, name, tensor.to(get_device()) if kind == "torch" else tensor.numpy())
    return estimator
