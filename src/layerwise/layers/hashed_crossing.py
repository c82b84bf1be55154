"""Keras' HashedCrossing: crosses scalar categorical features with the hashing trick, ``hash(f1, f2, ...) %
num_bins``, giving exactly Keras' bins (TensorFlow's ``tf.sparse.cross_hashed``).

That hash starts from the key ``0xDECAFCAFFE`` and folds in each feature with FarmHash's ``FingerprintCat64``;
an integer feature enters as its own 64 bits, a string as its FarmHash ``Fingerprint64``. The fold runs as
PyTorch int64 arithmetic (wrapping as the uint64 original does), on the inputs' device; strings are
fingerprinted once per distinct value on the CPU (``preprocessing/hashing.py``), and a call with strings gives a
numpy array, as Hashing does. Inside a model, integer features arrive as floats holding whole numbers.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.layers.base import Layer, Shape
from layerwise.layers.symbolic import is_symbolic
from layerwise.preprocessing.encoding import check_output_mode, encode
from layerwise.preprocessing.hashing import fingerprint64

_HASH_KEY = 0xDECAFCAFFE  # TensorFlow's default key for hashed crosses
_MUL = 0xC6A4A7935BD1E995 - (1 << 64)  # FingerprintCat64's multiplier, as a signed 64-bit value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_mix(value: torch.Tensor) -> torch.Tensor:
    """``v ^ (v >> 47)`` with the shift of an unsigned value (torch shifts int64 arithmetically)."""
    return value ^ ((value >> 47) & ((1 << 17) - 1))


def _fingerprint_cat(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """FarmHash ``FingerprintCat64`` on int64 tensors holding uint64 bits."""
    result = first ^ _MUL
    result = result ^ (_shift_mix(second * _MUL) * _MUL)
    result = _shift_mix(result * _MUL) * _MUL
    return _shift_mix(result)


def _unsigned_remainder(value: torch.Tensor, divisor: int) -> torch.Tensor:
    """``value % divisor`` for the uint64 that int64 ``value`` holds."""
    remainder = torch.remainder(value, divisor)
    # A negative int64 stands for value + 2**64.
    return torch.where(value < 0, torch.remainder(remainder + (1 << 64) % divisor, divisor), remainder)


def cross_hashed(features: list[torch.Tensor], num_bins: int) -> torch.Tensor:
    """int64 bins of ``tf.sparse.cross_hashed`` for dense features of one shape: int64 values, or the int64
    bits of strings' ``Fingerprint64``."""
    hashed = torch.full_like(features[0], _HASH_KEY)
    for feature in features:
        hashed = _fingerprint_cat(hashed, feature)
    return _unsigned_remainder(hashed, num_bins)


def _string_fingerprints(values: np.ndarray) -> torch.Tensor:
    """int64 bits of each string's FarmHash ``Fingerprint64``, computed once per distinct string."""
    unique, inverse = np.unique(values.reshape(-1), return_inverse=True)
    prints = [_signed(fingerprint64(v if isinstance(v, bytes) else str(v).encode("utf-8"))) for v in unique.tolist()]
    return torch.tensor(prints, dtype=torch.int64)[torch.from_numpy(inverse.reshape(-1))].reshape(values.shape)


class HashedCrossing(Layer):
    """``HashedCrossing(num_bins)((f1, f2, ...))``: features of one shape, ``()``, ``(batch,)`` or ``(batch, 1)``,
    integers or strings -> int64 bins of that shape ('int'), or float32 one-hot rows ``(batch, num_bins)``
    ('one_hot')."""

    config_trainable = False  # as Keras, whose config of this layer has no "trainable"

    def __init__(self, num_bins: int, output_mode: str = "int", sparse: bool = False, name: str | None = None,
                 dtype=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(num_bins, int) or isinstance(num_bins, bool) or num_bins <= 0:
            raise ValueError(f"HashedCrossing: num_bins must be a positive int, got {num_bins!r}.")
        self.output_mode = check_output_mode("HashedCrossing", output_mode, ("int", "one_hot"))
        if sparse:
            raise ValueError("HashedCrossing: sparse=True needs TensorFlow's sparse tensors; layerwise gives dense "
                             "outputs only (sparse=False).")
        self.num_bins, self.sparse = num_bins, False
        self.dtype = dtype or ("int64" if output_mode == "int" else "float32")
        self._out_dtype = getattr(torch, str(self.dtype).removeprefix("torch."))

    # ---- checks ----------------------------------------------------------------------------------
    def _check_features(self, features) -> list:
        if not isinstance(features, (list, tuple)):
            raise ValueError(f"Layer '{self.name}' (HashedCrossing) should be called on a list or tuple of inputs, "
                             f"received: inputs={features!r:.100}.")
        if len(features) < 2:
            raise ValueError(f"Layer '{self.name}' (HashedCrossing) should be called on at least two inputs, "
                             f"received {len(features)}.")
        return list(features)

    def _check_shapes(self, shapes: list[Shape]) -> None:
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"Layer '{self.name}' (HashedCrossing): all inputs should have shape (), (batch_size) "
                             f"or (batch_size, 1), received shapes {[tuple(s) for s in shapes]}.")
        if any(tuple(s) != first for s in shapes[1:]):
            raise ValueError(f"Layer '{self.name}' (HashedCrossing): all inputs should have equal shape, received "
                             f"shapes {[tuple(s) for s in shapes]}.")

    def _not_a_number_type(self, dtypes: list) -> None:
        raise ValueError(f"Layer '{self.name}' (HashedCrossing): all inputs should have an integer or string dtype, "
                         f"received dtypes {[str(d) for d in dtypes]}.")

    # ---- calling ---------------------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        features = self._check_features(inputs)
        if is_symbolic(features):
            return super().__call__(features, *args, **kwargs)
        arrays = [f if isinstance(f, torch.Tensor) else np.asarray(f) for f in features]
        self._check_shapes([tuple(a.shape) for a in arrays])
        kinds = [a.dtype.kind if isinstance(a, np.ndarray) else None for a in arrays]
        if any(kind == "f" for kind in kinds):  # floats given as data (a model's float tensors pass below)
            self._not_a_number_type([a.dtype for a in arrays])
        if any(kind in ("U", "S", "O") for kind in kinds):
            # Strings cannot be tensors: crossed here, as numpy, outside any model.
            return self._crossed([_string_fingerprints(a) if kind in ("U", "S", "O") else self._integers(a)
                                  for a, kind in zip(arrays, kinds)]).numpy()
        return super().__call__([self._integers(a) for a in arrays], *args, **kwargs)

    def _integers(self, value) -> torch.Tensor:
        """An integer feature as int64: numpy arrays and integer tensors as they are, float tensors (what a
        model passes on) only when they hold whole numbers."""
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "iu":
                self._not_a_number_type([value.dtype])
            return torch.from_numpy(value.astype(np.int64))
        if value.is_floating_point():
            if not bool((value == value.round()).all()):
                raise ValueError(f"Layer '{self.name}' (HashedCrossing): all inputs should have an integer or string "
                                 f"dtype; received {value.dtype} values that are not whole numbers.")
        elif value.dtype == torch.bool or value.is_complex():
            self._not_a_number_type([value.dtype])
        return value.to(torch.int64)

    def compute_output_shape(self, input_shape) -> Shape:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or \
                not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"Layer '{self.name}' (HashedCrossing) expected as input a list or tuple of at least 2 "
                             f"tensors, received input_shape={input_shape}.")
        self._check_shapes(input_shape)
        shape = tuple(input_shape[0])
        if self.output_mode == "int":
            return shape
        if not shape:
            return (self.num_bins,)
        return (*shape[:-1], self.num_bins) if shape[-1] == 1 else (*shape, self.num_bins)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self._crossed([self._integers(f) for f in features])

    def _crossed(self, features: list[torch.Tensor]) -> torch.Tensor:
        device = next((f.device for f in features if f.device.type != "cpu"), features[0].device)
        bins = cross_hashed([f.to(device) for f in features], self.num_bins)
        out = bins if self.output_mode == "int" else encode(bins, "one_hot", self.num_bins)
        return out.to(self._out_dtype)

    def get_config(self) -> dict:
        """As Keras: ``dtype`` is the resolved output dtype ('int64' for 'int', 'float32' for 'one_hot'), not None."""
        return {**super().get_config(), "dtype": str(self.dtype).removeprefix("torch.")}
