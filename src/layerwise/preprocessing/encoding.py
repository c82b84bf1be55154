"""Integer ids -> one-hot, multi-hot, count or TF-IDF rows, as Keras' categorical encoders give them."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype

ENCODED_MODES = ("one_hot", "multi_hot", "count", "tf_idf")


def check_output_mode(owner: str, output_mode: str, allowed: tuple[str, ...]) -> str:
    """``output_mode`` with Keras' old spellings ('binary', 'tf-idf') mapped, or a ValueError naming ``owner``."""
    output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if output_mode not in allowed:
        raise ValueError(f"{owner}: output_mode must be one of {list(allowed)}, got {output_mode!r}.")
    return output_mode


def encoded_shape(input_shape: tuple, output_mode: str, depth: int | None) -> tuple:
    """The output shape of ``encode`` for inputs of ``input_shape``: 'one_hot' adds an axis (replacing a
    last axis of size 1), the other modes replace the last (sample) axis by ``depth``."""
    input_shape = tuple(input_shape)
    if output_mode == "int":
        return input_shape
    if not input_shape:
        return (depth,)
    if output_mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            return (*input_shape[:-1], depth)
        return (*input_shape, depth)
    return (*input_shape[:-1], depth)


def encode(ids: torch.Tensor, output_mode: str, depth: int, idf: torch.Tensor | None = None,
           count_weights: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Encode int64 ``ids`` (any shape; negative ids are dropped, which is how masked values vanish).

    'one_hot': ``(..., depth)``, a last axis of size 1 replaced; 'multi_hot', 'count' and 'tf_idf'
    (counts times ``idf``, shape ``(depth,)``): the last axis is one sample's values, so ``(..., n)`` ->
    ``(..., depth)`` and ``(n,)`` -> ``(depth,)``. ``count_weights`` (the ids' shape) weights each count.
    The output is in ``dtype`` (default: the float type), or in ``count_weights``' dtype, as Keras gives it.
    """
    dtype = count_weights.dtype if count_weights is not None else dtype or float_dtype()
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids.squeeze(-1)
        return F.one_hot(ids.clamp_min(0), depth).to(dtype) * (ids >= 0).unsqueeze(-1).to(dtype)
    flat = ids.reshape(-1, ids.shape[-1])
    weights = (flat >= 0).to(dtype)
    if count_weights is not None:
        weights = weights * count_weights.reshape(flat.shape).to(dtype)
    out = torch.zeros((flat.shape[0], depth), dtype=dtype, device=ids.device)
    out.scatter_add_(1, flat.clamp_min(0), weights)
    if output_mode == "multi_hot":
        out = (out > 0).to(dtype)
    elif output_mode == "tf_idf":
        out = out * idf.to(dtype)
    return out.reshape(*ids.shape[:-1], depth)
