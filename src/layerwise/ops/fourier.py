"""Keras' Fourier-transform ops on ``torch.fft``: ``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft``,
``istft``, and ``view_as_complex`` / ``view_as_real``.

As in Keras, complex values travel as a ``(real, imag)`` pair of floating tensors of one shape: the transforms
take such a pair (``rfft`` and ``stft`` take a real tensor) and return one (``irfft`` and ``istft`` return a real
tensor). Transforms run along the last axis (the last two for ``fft2`` / ``ifft2``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from layerwise.layers.operations import keras_class_names, operation
from layerwise.ops.core import to_tensor, to_tensors

WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window}


def _complex(x, op: str, rank: int = 1) -> torch.Tensor:
    """The ``(real, imag)`` pair ``x`` as one complex tensor, or a ValueError naming ``op``."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"ops.{op}: x must be a tuple (real, imag) of two tensors; received {type(x).__name__}.")
    real, imag = to_tensors(x[0], x[1])
    if real.shape != imag.shape:
        raise ValueError(f"ops.{op}: the real and imaginary parts must have the same shape; received "
                         f"x[0].shape={tuple(real.shape)}, x[1].shape={tuple(imag.shape)}.")
    if not (real.is_floating_point() and imag.is_floating_point()):
        raise ValueError(f"ops.{op}: the real and imaginary parts must be floating tensors; received "
                         f"{real.dtype} and {imag.dtype}.")
    if real.ndim < rank:
        raise ValueError(f"ops.{op}: x must have rank >= {rank}; received shape {tuple(real.shape)}.")
    return torch.complex(real, imag)


def _pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return z.real, z.imag


@operation()
def fft(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrete Fourier transform along the last axis of ``x = (real, imag)``; returns ``(real, imag)``."""
    return _pair(torch.fft.fft(_complex(x, "fft")))


@operation()
def fft2(x) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D discrete Fourier transform over the last two axes of ``x = (real, imag)``."""
    return _pair(torch.fft.fft2(_complex(x, "fft2", 2)))


@operation()
def ifft2(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse 2-D discrete Fourier transform over the last two axes of ``x = (real, imag)``."""
    return _pair(torch.fft.ifft2(_complex(x, "ifft2", 2)))


@operation()
def rfft(x, fft_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fourier transform of the real ``x`` ``(..., n)`` along its last axis, cropped or zero-padded to
    ``fft_length``: the ``fft_length // 2 + 1`` non-negative frequencies as ``(real, imag)``."""
    x = to_tensor(x)
    if x.ndim < 1:
        raise ValueError("ops.rfft: x must have rank >= 1; received a scalar.")
    return _pair(torch.fft.rfft(x, n=fft_length, dim=-1))


@operation()
def irfft(x, fft_length: int | None = None) -> torch.Tensor:
    """The real signal ``(..., fft_length)`` whose ``rfft`` is ``x = (real, imag)``; ``fft_length`` defaults to
    ``2 * (x.shape[-1] - 1)`` (give it for odd lengths)."""
    return torch.fft.irfft(_complex(x, "irfft"), n=fft_length, dim=-1)


def _window(window, sequence_length: int, dtype: torch.dtype, device: torch.device, op: str):
    """Keras' ``window``: 'hann' or 'hamming' (periodic), a tensor of ``sequence_length`` values, or None."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"ops.{op}: a window given by name must be one of {sorted(WINDOWS)}; received "
                             f"window={window!r}.")
        return WINDOWS[window](sequence_length, periodic=True, dtype=dtype, device=device)
    win = to_tensor(window, dtype=dtype, device=device)
    if win.shape != (sequence_length,):
        raise ValueError(f"ops.{op}: window must have shape ({sequence_length},) (sequence_length); received "
                         f"{tuple(win.shape)}.")
    return win


def _check_stride(sequence_stride, op: str) -> None:
    if not isinstance(sequence_stride, int) or isinstance(sequence_stride, bool) or sequence_stride <= 0:
        raise ValueError(f"ops.{op}: sequence_stride must be a positive integer; received {sequence_stride!r}.")


@operation()
def stft(x, sequence_length: int, sequence_stride: int, fft_length: int, window="hann",
         center: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Short-time Fourier transform of ``x`` ``(..., samples)``: frames of ``sequence_length`` every
    ``sequence_stride`` samples, windowed and transformed with ``fft_length`` points, ``(..., frames,
    fft_length // 2 + 1)`` as ``(real, imag)``. ``center`` pads ``fft_length // 2`` reflected samples each side."""
    _check_stride(sequence_stride, "stft")
    x = to_tensor(x)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"ops.stft: x must be float32 or float64; received {x.dtype}.")
    if fft_length < sequence_length:
        raise ValueError(f"ops.stft: fft_length must be at least sequence_length; received "
                         f"sequence_length={sequence_length}, fft_length={fft_length}.")
    win = _window(window, sequence_length, x.dtype, x.device, "stft")
    if win is None:
        win = torch.ones(sequence_length, dtype=x.dtype, device=x.device)
    out = torch.stft(x.reshape(-1, x.shape[-1]), n_fft=fft_length, hop_length=sequence_stride,
                     win_length=sequence_length, window=win, center=center, return_complex=True)
    return _pair(out.reshape(*x.shape[:-1], *out.shape[-2:]).transpose(-2, -1))


def _overlap_add(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Frames ``(..., n, length)`` summed where they overlap, frame ``i`` starting at ``i * stride``."""
    *batch, n, length = frames.shape
    size = length + stride * (n - 1)
    out = F.fold(frames.reshape(-1, n, length).transpose(1, 2), output_size=(1, size), kernel_size=(1, length),
                 stride=(1, stride))
    return out.reshape(*batch, size)


@operation()
def istft(x, sequence_length: int, sequence_stride: int, fft_length: int, length: int | None = None, window="hann",
          center: bool = True) -> torch.Tensor:
    """The signal whose ``stft`` (with the same arguments) is ``x = (real, imag)`` ``(..., frames, bins)``:
    ``(..., samples)``, cut or padded to ``length`` when given."""
    _check_stride(sequence_stride, "istft")
    z = _complex(x, "istft", 2)
    win = _window(window, sequence_length, z.real.dtype, z.device, "istft")
    if sequence_length == fft_length and center and win is not None:
        # What Keras' torch backend runs in this case: torch's own inverse.
        out = torch.istft(z.reshape(-1, *z.shape[-2:]).transpose(-2, -1), n_fft=fft_length,
                          hop_length=sequence_stride, win_length=sequence_length, window=win, center=True,
                          length=length, return_complex=False)
        return out.reshape(*z.shape[:-2], out.shape[-1])
    frames = torch.fft.irfft(z, n=fft_length, dim=-1)
    if win is not None:
        left = (fft_length - sequence_length) // 2
        win = F.pad(win, (left, fft_length - sequence_length - left))
        # Divide by the sum of the squared windows overlapping each sample (periodic with the stride).
        overlaps = math.ceil(fft_length / sequence_stride)
        squares = F.pad(win.square(), (0, overlaps * sequence_stride - fft_length))
        envelope = squares.reshape(overlaps, sequence_stride).sum(0).repeat(overlaps)[:fft_length]
        frames = frames * (win / envelope)
    out = _overlap_add(frames, sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        return out[..., start:start + length]
    return out[..., start:out.shape[-1] - start]


@operation()
def view_as_complex(x) -> torch.Tensor:
    """Real ``(..., 2)`` (real and imaginary parts) -> complex64 ``(...)``."""
    x = to_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"ops.view_as_complex: the last axis of x must have size 2 (real, imag); received shape "
                         f"{tuple(x.shape)}.")
    return torch.complex(x[..., 0].to(torch.float32), x[..., 1].to(torch.float32))


@operation()
def view_as_real(x) -> torch.Tensor:
    """Complex ``(...)`` -> real ``(..., 2)`` (real and imaginary parts); a real ``x`` gets zero imaginary parts."""
    x = to_tensor(x)
    if x.is_complex():
        return torch.view_as_real(x).clone()
    return torch.stack([x, torch.zeros_like(x)], dim=-1)


keras_class_names(fft="FFT", fft2="FFT2", ifft2="IFFT2", rfft="RFFT", irfft="IRFFT", stft="STFT", istft="ISTFT")

__all__ = ["fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "view_as_complex", "view_as_real"]
