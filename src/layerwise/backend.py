"""Device, dtype and seeding: the one place that decides where tensors live.

The device is CUDA when present, the CPU otherwise; ``set_device`` overrides it, ``with device(...)`` for a block.
Everything else asks ``get_device()`` instead of deciding for itself.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import torch

_device: torch.device | None = None
_name_counts: defaultdict[str, int] = defaultdict(int)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEEP_BYTES = 1 << 30


def keep_large_buffers() -> bool:
    """Let glibc reuse large freed blocks instead of returning them to the OS at once.

    By default glibc serves every allocation over 32 MB with a fresh ``mmap`` and unmaps it on
    free, so a training step whose feature maps are that large page-faults through them again on
    every batch (measured here: the course CNN trained up to twice as fast with this on). Raising
    the mmap and trim thresholds to 1 GiB keeps such blocks in the heap for the next step. It is
    process-wide and costs only memory the process already used; set ``LAYERWISE_MALLOC_TUNING=0``
    to leave malloc alone. Returns whether the thresholds were changed.
    """
    if sys.platform != "linux" or os.environ.get("LAYERWISE_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)
        return bool(mmap_set and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, for example): nothing to tune
        return False


keep_large_buffers()


def backend() -> str:
    """``"torch"``: layerwise runs on PyTorch, as Keras with ``KERAS_BACKEND=torch``."""
    return "torch"


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


@contextlib.contextmanager
def device(device_name: str | torch.device) -> Iterator[torch.device]:
    """Keras' ``with keras.device("cpu"):`` ("cuda:0", "gpu:0" as in Keras, "gpu" being CUDA): tensors,
    layers and models made inside go to that device, which the block receives; the previous device comes
    back on exit, as Keras' torch ``device_scope`` does."""
    global _device
    if isinstance(device_name, str):
        device_name = device_name.lower().replace("gpu", "cuda")
    elif not isinstance(device_name, torch.device):
        raise ValueError("Invalid value for argument `device_name` of keras.device(). Expected a string like "
                         f"'gpu:0' or 'cpu'. Received: device_name={device_name!r}")
    previous = _device
    set_device(device_name)
    try:
        yield _device
    finally:
        _device = previous


def to_snake_case(name: str) -> str:
    """``MaxPooling2D`` -> ``max_pooling2d``, ``<lambda>`` -> ``lambda``: how Keras names layers, metrics and losses
    after their class or function."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``... until ``clear_session()``, as in Keras."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def get_uid(prefix: str = "") -> int:
    """1, 2, 3... for each call with ``prefix``, from the counter that names layers (``dense``, ``dense_1``...),
    as Keras' ``backend.get_uid``; ``clear_session()`` starts it again."""
    _name_counts[prefix] += 1
    return _name_counts[prefix]


def clear_session(free_memory: bool = True) -> None:
    """Keras' ``clear_session``: layer and model names start again from ``dense``, ``sequential``...;
    with ``free_memory``, unreachable models are collected and the CUDA cache is emptied."""
    _name_counts.clear()
    if free_memory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


_epsilon = [1e-7]


def epsilon() -> float:
    """The small constant Keras adds against division by zero (``keras.backend.epsilon()``), 1e-7."""
    return _epsilon[0]


def set_epsilon(value: float) -> None:
    _epsilon[0] = float(value)


_image_data_format = ["channels_last"]
DATA_FORMATS = ("channels_last", "channels_first")


def image_data_format() -> str:
    """The ``data_format`` of image layers built without one: ``'channels_last'`` (Keras' default) or
    ``'channels_first'``."""
    return _image_data_format[0]


def set_image_data_format(data_format: str) -> None:
    """Set the default ``data_format`` for layers built from now on, as ``keras.config.set_image_data_format``."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}.")
    _image_data_format[0] = data_format


def standardize_data_format(data_format: str | None) -> str:
    """``None`` -> the global ``image_data_format()``; a known format passes, anything else is a ValueError."""
    if data_format is None:
        return image_data_format()
    if not isinstance(data_format, str) or data_format.lower() not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}.")
    return data_format.lower()


_floatx = ["float32"]
FLOATX_NAMES = ("float16", "bfloat16", "float32", "float64")


def floatx() -> str:
    """Keras' default float type, by name: ``"float32"`` unless ``set_floatx`` changed it."""
    return _floatx[0]


def set_floatx(value: str) -> None:
    """The float type of weights and inputs of what is built from now on, as ``keras.config.set_floatx``
    (``"float64"`` for double precision); the default dtype policy follows it."""
    if value not in FLOATX_NAMES:
        raise ValueError(f"Unknown floatx type: {value!r}. Expected one of {', '.join(FLOATX_NAMES)}.")
    _floatx[0] = value


def float_dtype() -> torch.dtype:
    """``floatx()`` as the torch dtype that weights and float inputs take."""
    return getattr(torch, _floatx[0])


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so that runs repeat exactly."""
    if not isinstance(seed, (int, np.integer)):  # as Keras (a ValueError); numpy integers are taken too
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r} (of type "
                         f"{type(seed).__name__})")
    seed = int(seed)
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
        dtype = float_dtype()
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def is_float_dtype(dtype) -> bool:
    """Whether ``dtype`` (any form ``standardize_dtype`` takes) is a floating type, bfloat16 included."""
    return __getattr__("standardize_dtype")(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype) -> bool:
    """Whether ``dtype`` is a signed or unsigned integer type (bool is not)."""
    return __getattr__("standardize_dtype")(dtype).startswith(("int", "uint"))


def result_type(*dtypes) -> str:
    """The dtype Keras gives an operation on ``dtypes`` (names, numpy or torch dtypes, or the Python types
    ``int``/``float`` of plain numbers, which are weak): ``result_type("uint8", "int8")`` is ``"int16"``,
    ``result_type("int8", int)`` is ``"int8"``; none at all is ``floatx()``. The rule is in ``ops/promotion.py``."""
    from layerwise.ops.promotion import promote  # ops import this module
    standardize = __getattr__("standardize_dtype")
    if not dtypes:
        return floatx()
    named = [d if d in (int, float) else standardize(d) for d in dtypes]
    for name in named:
        if name in ("string",) or str(name).startswith("float8"):
            raise ValueError(f"result_type: {name!r} does not promote implicitly; cast it first (received "
                             f"{dtypes}).")
    return standardize(promote(*[d if d in (int, float) else getattr(torch, d) for d in named]))


def __getattr__(name: str):
    # Keras' backend also names these; they live with the dtype policies and symbolic tensors, which import
    # this module, so they are looked up on first use.
    if name == "standardize_dtype":
        from layerwise.dtype_policies.dtype_policy import standardize_dtype
        return standardize_dtype
    if name == "is_keras_tensor":
        from layerwise.utils.tensor_utils import is_keras_tensor
        return is_keras_tensor
    raise AttributeError(f"module 'layerwise.backend' has no attribute {name!r}")
