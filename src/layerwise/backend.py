"""Device, dtype and seeding: the one place that decides where tensors live.

The device is CUDA when present, the CPU otherwise; ``set_device`` overrides it.
Everything else asks ``get_device()`` instead of deciding for itself.
"""
from __future__ import annotations

import random

import numpy as np
import torch

_device: torch.device | None = None


def get_device() -> torch.device:
    """The device new models and estimators put their tensors on."""
    global _device
    if _device is None:
        _device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return _device


def set_device(device: str | torch.device) -> None:
    """Choose the device for models built from now on, e.g. ``"cpu"`` or ``"cuda:0"``."""
    global _device
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"set_device({str(device)!r}): CUDA is not available on this machine; use 'cpu'.")
    _device = device


def floatx() -> torch.dtype:
    """The float dtype of weights and inputs (Keras' ``floatx``, float32)."""
    return torch.float32


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so that runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_tensor(x, dtype: torch.dtype | None = None, device: torch.device | None = None) -> torch.Tensor:
    """A numpy array, list or tensor as a tensor on ``device``; float64 becomes float32."""
    device = device or get_device()
    if isinstance(x, torch.Tensor):
        t = x
    else:
        t = torch.as_tensor(np.asarray(x))
    if dtype is None and t.dtype == torch.float64:
        dtype = floatx()
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)
