"""Keras' dtype promotion (``keras.backend.result_type``), on torch dtypes.

Keras follows JAX's type lattice rather than NumPy's: the Python types ``int`` and ``float`` are weak (``int8``
with ``int`` stays ``int8``; an integer with ``float`` is ``floatx``), a signed and an unsigned integer meet in a
signed type wide enough for both (``uint8`` and ``int8``: ``int16``; ``uint64`` and ``int64``: a float), and
64-bit results come back as their 32-bit counterparts (``float64`` with ``float32`` is ``float32``; so is
``float64`` alone), as JAX does by default.
"""
from __future__ import annotations

import functools

import torch

from layerwise.backend import float_dtype

_64_TO_32 = {torch.int64: torch.int32, torch.uint64: torch.uint32, torch.float64: torch.float32,
             torch.complex128: torch.complex64}
_UNSIGNED_BITS = {torch.uint8: 8, torch.uint16: 16, torch.uint32: 32, torch.uint64: 64}
_SIGNED = {8: torch.int8, 16: torch.int16, 32: torch.int32, 64: torch.int64}


def _promote_pair(a: torch.dtype, b: torch.dtype) -> torch.dtype:
    """JAX's promotion of two dtypes; torch's where they agree (torch refuses the wide unsigned types)."""
    if a not in _UNSIGNED_BITS and b not in _UNSIGNED_BITS:
        return torch.promote_types(a, b)
    if a in _UNSIGNED_BITS and b in _UNSIGNED_BITS:
        return a if _UNSIGNED_BITS[a] >= _UNSIGNED_BITS[b] else b
    unsigned, other = (a, b) if a in _UNSIGNED_BITS else (b, a)
    if other == torch.bool:
        return unsigned
    if other.is_floating_point or other.is_complex:
        return other
    bits = max(2 * _UNSIGNED_BITS[unsigned], torch.iinfo(other).bits)
    return _SIGNED.get(bits, torch.float64)


def promote(*dtypes, floating: bool = False) -> torch.dtype:
    """The common dtype of ``dtypes`` (torch dtypes, and ``int`` or ``float`` for Python numbers) by Keras'
    rule; at least ``floatx`` when ``floating`` (what Keras' means and variances compute in)."""
    return _promote(dtypes, floating, float_dtype())


@functools.lru_cache(maxsize=1024)  # ops call this at every step: a cached answer is several times cheaper
def _promote(dtypes: tuple, floating: bool, floatx: torch.dtype) -> torch.dtype:
    strong = [d for d in dtypes if isinstance(d, torch.dtype)]
    out = strong[0] if strong else None
    for dtype in strong[1:]:
        out = _promote_pair(out, dtype)
    if (float in dtypes or floating) and (out is None or not (out.is_floating_point or out.is_complex)):
        out = floatx
    elif int in dtypes and (out is None or out == torch.bool):
        out = torch.int32
    if out is None:
        raise ValueError("promote: no dtype given")
    return _64_TO_32.get(out, out)


def weak_dtype(value, tensor: torch.Tensor):
    """What ``promote`` takes for an op's argument ``value`` once converted to ``tensor``: ``int`` or ``float``
    for a Python number (weak: ``int8`` with ``2`` stays ``int8``), else the tensor's dtype."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return type(value)
    return tensor.dtype
