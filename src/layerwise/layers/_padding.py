"""Keras' 'valid'/'same'/'causal' padding arithmetic for PyTorch's kernels, and the two data formats; also the
integer arguments and integer inputs the convolution, pooling and normalization layers take as Keras does.

Keras pads 'same' like TensorFlow: the extra row or column goes after (bottom/right). PyTorch's
convolutions take one symmetric padding, so the rare asymmetric case pads explicitly first.
'causal' (1-D convolutions only) pads the whole dilated window before the first step.
"""
from __future__ import annotations

import math
import numbers

import torch

from layerwise.backend import standardize_data_format


def is_integer(value) -> bool:
    """Whether ``value`` is an integer as Keras takes one: a Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 when it holds integers, as Keras averages and normalises them (``result_type(x,
    "float32")``); floating tensors as they are."""
    return x if x.is_floating_point() else x.float()


def as_tuple(value, rank: int, what: str, minimum: int = 1) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; a sequence of ``rank`` integers (numpy ones too), each at least ``minimum``, as a tuple
    of Python ints, so that configs stay JSON-able."""
    kind = "positive" if minimum == 1 else f">= {minimum}"
    error = ValueError(f"{what} must be an int or a tuple of {rank} {kind} ints, got {value!r}.")
    try:
        values = (value,) * rank if is_integer(value) else tuple(value)
    except TypeError:  # not iterable: a float, None
        raise error from None
    if len(values) != rank or not all(is_integer(v) and v >= minimum for v in values):
        raise error
    return tuple(int(v) for v in values)


def check_padding(padding: str, allow_causal: bool = False, what: str = "padding") -> str:
    """``padding`` in lower case; a ValueError naming ``what`` unless it is 'valid', 'same' (or 'causal')."""
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {padding!r}.")
    return padding.lower()


def conv_output_length(length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length along one axis of a convolution or pooling (Keras' formula)."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return math.ceil(length / stride)
    return (length - ((kernel - 1) * dilation + 1)) // stride + 1


def same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding TensorFlow uses for 'same' along one axis."""
    total = max((math.ceil(length / stride) - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2


def torch_padding(x: torch.Tensor, kernel, stride, dilation, padding: str, value: float | int = 0.0):
    """Pad ``x`` (channels-first) as Keras would and return ``(x, symmetric_padding)``.

    The symmetric part goes to the kernel as its ``padding`` argument (no copy); only an
    asymmetric remainder is padded here.
    """
    if padding == "valid":
        return x, (0,) * len(kernel)
    if padding == "causal":  # 1-D: the output at step t sees steps up to t only
        return torch.nn.functional.pad(x, [(kernel[0] - 1) * dilation[0], 0], value=value), (0,)
    spatial = x.shape[2:]
    pads = [same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, stride, dilation)]
    if all(before == after for before, after in pads):
        return x, tuple(before for before, _ in pads)
    flat = []
    for before, after in reversed(pads):  # F.pad lists the last axis first
        flat += [before, after]
    return torch.nn.functional.pad(x, flat, value=value), (0,) * len(kernel)


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(batch, *spatial, channels) -> (batch, channels, *spatial), a free view.

    A contiguous channels-last tensor viewed this way is in PyTorch's channels_last memory
    format, which oneDNN's convolutions and pooling prefer: no copy is made.
    """
    return x.movedim(-1, 1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(batch, channels, *spatial) -> (batch, *spatial, channels), a free view."""
    return x.movedim(1, -1)


class DataFormat:
    """``data_format`` for layers over maps with channels: ``'channels_last'`` ``(batch, *spatial, channels)``,
    Keras' default, or ``'channels_first'`` ``(batch, channels, *spatial)``, PyTorch's own layout (no permutes).

    ``None`` takes ``layerwise.config.image_data_format()`` when the layer is made, and the config records the
    resolved format, as Keras' does, so a saved model keeps its layout whatever the global setting later.
    """

    data_format = "channels_last"

    def set_data_format(self, data_format: str | None) -> None:
        self.data_format = standardize_data_format(data_format)
        self._config["data_format"] = self.data_format

    @property
    def channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def to_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.data_format == "channels_first" else channels_first(x)

    def from_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.data_format == "channels_first" else channels_last(x)

    def spatial_shape(self, shape) -> tuple:
        return tuple(shape[2:]) if self.data_format == "channels_first" else tuple(shape[1:-1])

    def shape_from(self, batch, spatial, channels) -> tuple:
        """The full shape in this layer's format from its parts."""
        return (batch, channels, *spatial) if self.data_format == "channels_first" else (batch, *spatial, channels)
