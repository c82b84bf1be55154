"""Audio preprocessing: MelSpectrogram (raw signals ``(..., samples)`` -> mel spectrograms ``(..., num_mel_bins,
frames)``) and STFTSpectrogram (signals ``(batch, samples, channels)`` -> spectrograms through a strided 1-D
convolution whose kernels are the windowed Fourier basis, trainable as in Keras).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.backend import epsilon, float_dtype, standardize_data_format
from layerwise.layers._padding import check_padding, conv_output_length, torch_padding
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import LayerWeight, WeightView
from layerwise.ops.fourier import WINDOWS, stft

# Mel scale of the Hidden Markov Model Toolkit: mel(f) = 1127 ln(1 + f / 700).
MEL_BREAK_HERTZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0
STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
SCALINGS = (None, "density", "spectrum")


def hertz_to_mel(hertz: torch.Tensor) -> torch.Tensor:
    """Frequencies in Hertz on the (HTK) mel scale."""
    return MEL_HIGH_FREQUENCY_Q * torch.log(1.0 + hertz / MEL_BREAK_HERTZ)


def _linspace(start: torch.Tensor, stop: torch.Tensor, num: int) -> torch.Tensor:
    # start + k / (num - 1) * (stop - start): the rounding of Keras' torch backend, so the filters agree with it.
    return start + torch.arange(num, dtype=start.dtype) / (num - 1) * (stop - start)


def linear_to_mel_weight_matrix(num_mel_bins: int = 20, num_spectrogram_bins: int = 129,
                                sampling_rate: float = 8000, lower_edge_hertz: float = 125.0,
                                upper_edge_hertz: float = 3800.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(num_spectrogram_bins, num_mel_bins)`` triangular filters, peak 1, that map a linear spectrum of
    ``[0, sampling_rate / 2]`` onto mel bands spread over ``[lower_edge_hertz, upper_edge_hertz]``
    (``mel = spectrum @ matrix``). The DC bin gets no weight, as in HTK."""
    zero = torch.zeros((), dtype=dtype)
    nyquist = torch.tensor(float(sampling_rate), dtype=dtype) / 2.0
    bins_mel = hertz_to_mel(_linspace(zero, nyquist, num_spectrogram_bins)[1:])[:, None]
    # num_mel_bins + 2 edges: band i rises from edge i, peaks at edge i + 1 and falls to zero at edge i + 2.
    edges = _linspace(hertz_to_mel(torch.tensor(lower_edge_hertz, dtype=dtype)),
                      hertz_to_mel(torch.tensor(upper_edge_hertz, dtype=dtype)), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    return F.pad(torch.maximum(zero, torch.minimum(rising, falling)), (0, 0, 1, 0))


def _positive_int(layer: str, name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer} {name} must be a positive integer, got {value!r}.")
    return int(value)


def _saved_window(window):
    """A window as the constructor takes it: Keras saves a numpy window as ``{'class_name': '__numpy__', 'config':
    {'value': [...], 'dtype': ...}}`` (a ``.keras`` file's config), which is read back as that array."""
    if isinstance(window, dict) and window.get("class_name") == "__numpy__":
        return np.asarray(window["config"]["value"], dtype=window["config"].get("dtype", "float32"))
    return window


def _jsonable_window(window):
    """A window for the config: a name, None, or the values as a list."""
    if window is None or isinstance(window, str):
        return window
    return np.asarray(window.detach().cpu() if isinstance(window, torch.Tensor) else window).tolist()


class MelSpectrogram(Layer):
    """Mel spectrogram of raw audio, as Keras' MelSpectrogram: ``(..., samples) -> (..., num_mel_bins, frames)``
    with ``frames = 1 + samples // sequence_stride`` (frames are centred: the signal is reflected by
    ``fft_length // 2`` samples at both ends). It has no weights; it computes in float32 (float64 under a float64
    dtype) and returns its compute dtype.

    Magnitudes of the short-time Fourier transform are raised to ``mag_exp``, filtered into ``num_mel_bins``
    triangular mel bands between ``min_freq`` and ``max_freq`` (default ``sampling_rate / 2``), and with
    ``power_to_db`` turned into ``10 log10(S / ref_power)`` (both floored at ``min_power``) and clipped to
    ``top_db`` below the largest value of the whole batch, as Keras does.
    """

    def __init__(self, fft_length: int = 2048, sequence_stride: int = 512, sequence_length: int | None = None,
                 window="hann", sampling_rate: int = 16000, num_mel_bins: int = 128, min_freq: float = 20.0,
                 max_freq: float | None = None, power_to_db: bool = True, top_db: float = 80.0,
                 mag_exp: float = 2.0, min_power: float = 1e-10, ref_power: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.fft_length = _positive_int(layer, "fft_length", fft_length)
        self.sequence_stride = _positive_int(layer, "sequence_stride", sequence_stride)
        self.sequence_length = _positive_int(layer, "sequence_length", sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(f"{layer} fft_length must be at least sequence_length; got fft_length={fft_length}, "
                             f"sequence_length={sequence_length}.")
        window = _saved_window(window)
        if isinstance(window, str) and window not in WINDOWS:
            raise ValueError(f"{layer} window must be one of {sorted(WINDOWS)}, None or an array of "
                             f"sequence_length={self.sequence_length} values; got {window!r}.")
        if window is not None and not isinstance(window, str) and np.shape(window) != (self.sequence_length,):
            raise ValueError(f"{layer} window must have shape ({self.sequence_length},) (sequence_length); got "
                             f"shape {np.shape(window)}.")
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = _positive_int(layer, "num_mel_bins", num_mel_bins)
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power
        # The filters are constants: a buffer, so they follow the layer to its device, but no weight.
        self.register_buffer("mel_weights", linear_to_mel_weight_matrix(
            self.num_mel_bins, self.fft_length // 2 + 1, sampling_rate, min_freq, self.max_freq), persistent=False)

    def linear_to_mel_weight_matrix(self, num_mel_bins: int = 20, num_spectrogram_bins: int = 129,
                                    sampling_rate: float = 8000, lower_edge_hertz: float = 125.0,
                                    upper_edge_hertz: float = 3800.0, dtype=torch.float32) -> torch.Tensor:
        """Keras' method: ``linear_to_mel_weight_matrix`` of this module."""
        return linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz,
                                           upper_edge_hertz, dtype)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) < 1:
            raise ValueError(self._shape_message("audio (samples,) or (batch, samples)", input_shape))
        samples = input_shape[-1]
        if samples is not None and samples <= self.fft_length // 2:
            raise ValueError(self._shape_message(
                f"more than fft_length // 2 = {self.fft_length // 2} samples on the last axis (frames are centred "
                "by reflecting that many samples at each end)", input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.sequence_stride
        return (*input_shape[:-1], self.num_mel_bins, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # As Keras: in the layer's compute dtype when that is float32 or float64, else (half precision) float32.
        x = x.to(torch.float64 if self.compute_dtype == "float64" else torch.float32)
        real, imag = stft(x, self.sequence_length, self.sequence_stride, self.fft_length, window=self.window,
                          center=True)
        spectrum = (real.square() + imag.square()).sqrt().pow(self.mag_exp)  # (..., frames, bins)
        mel = torch.tensordot(spectrum, self.mel_weights.to(spectrum.dtype), dims=1)
        if self.power_to_db:
            mel = self._decibels(mel)
        return mel.transpose(-1, -2).to(getattr(torch, self.compute_dtype))

    def _decibels(self, power: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(power.clamp(min=self.min_power))
        ref = torch.tensor(abs(float(self.ref_power)), dtype=power.dtype).clamp(min=self.min_power)
        db = db - 10.0 * torch.log10(ref)
        # As Keras: the floor is set by the largest value of the whole batch, not of each signal.
        return torch.maximum(db, db.max() - self.top_db)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, max_freq=self.max_freq,
                      window=_jsonable_window(self.window))
        return config


def stft_window(window, frame_length: int, periodic: bool, layer: str = "STFTSpectrogram") -> np.ndarray | None:
    """``frame_length`` window values: a name of ``scipy.signal.get_window`` (symmetric unless ``periodic``),
    the values themselves, or None (no window)."""
    if window is None:
        return None
    if isinstance(window, str):
        from scipy.signal import get_window  # scipy comes with scikit-learn; imported only here

        try:
            return get_window(window, frame_length, fftbins=periodic)
        except ValueError as err:
            raise ValueError(f"{layer} window {window!r} is not a window name scipy.signal.get_window knows "
                             f"(e.g. 'hann', 'hamming', 'blackman'): {err}") from err
    values = np.asarray(window.detach().cpu() if isinstance(window, torch.Tensor) else window, dtype=np.float64)
    if values.shape != (frame_length,):
        raise ValueError(f"{layer} window must be a name or have shape ({frame_length},) (frame_length); got "
                         f"shape {values.shape}.")
    return values


def stft_kernel(side: str, window: np.ndarray | None, scaling: str | None, frame_length: int,
                bins: int) -> torch.Tensor:
    """The Fourier basis of one side ('real': cos, 'imag': -sin) times the window, in PyTorch's conv1d layout
    ``(bins, 1, frame_length)``. Computed in float32 step by step as Keras' STFT initializer does, so a fresh
    layer holds the same values as Keras'."""
    dtype = float_dtype()
    time = torch.arange(frame_length, dtype=dtype)
    freq = torch.arange(bins, dtype=dtype) / ((bins - 1) * 2)
    angle = (-2 * time)[None, :] * freq[:, None] * torch.tensor(math.pi, dtype=dtype)
    kernel = torch.cos(angle) if side == "real" else torch.sin(angle)
    if window is not None:
        win = torch.as_tensor(window, dtype=dtype)
        scale = {"density": lambda: win.square().sum().sqrt(), "spectrum": lambda: win.abs().sum(),
                 None: lambda: 1}[scaling]()
        kernel = kernel * win / scale
    return kernel[:, None, :].contiguous()


class STFTSpectrogram(Layer):
    """Spectrogram by a strided 1-D convolution with the windowed Fourier basis, as Keras' STFTSpectrogram:
    ``(batch, samples, channels)`` (``data_format='channels_first'``: ``(batch, channels, samples)``) ->
    ``(batch, frames, channels * freq)`` (``(batch, channels * freq, frames)``), or with ``expand_dims``
    ``(batch, frames, freq, channels)`` (``(batch, channels, frames, freq)``). Each channel is transformed
    alone by the same kernels; ``freq = fft_length // 2 + 1`` (twice that for ``mode='stft'``: real parts
    then imaginary parts); ``frames`` follows the convolution's ``padding`` with stride ``frame_step``.

    ``mode``: 'log' (natural log of the magnitude), 'magnitude', 'psd' (power, the bins between DC and
    Nyquist doubled), 'real', 'imag', 'angle' or 'stft'. The weights ``real_kernel`` and ``imag_kernel``
    (Keras' shape ``(frame_length, 1, freq)``; only the one needed by 'real' or 'imag') are trainable unless
    the layer is built with ``trainable=False``.
    """

    input_ndim = 3

    def __init__(self, mode: str = "log", frame_length: int = 256, frame_step: int | None = None,
                 fft_length: int | None = None, window="hann", periodic: bool = False, scaling: str | None = "density",
                 padding: str = "valid", expand_dims: bool = False, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.frame_length = _positive_int(layer, "frame_length", frame_length)
        if frame_step is not None and (_positive_int(layer, "frame_step", frame_step) > frame_length):
            raise ValueError(f"{layer} frame_step must not exceed frame_length={frame_length}, got {frame_step}.")
        if fft_length is not None and _positive_int(layer, "fft_length", fft_length) < frame_length:
            raise ValueError(f"{layer} fft_length must be at least frame_length={frame_length}, got {fft_length}.")
        if fft_length is not None and fft_length & (fft_length - 1):
            warnings.warn(f"{layer} fft_length is best a power of two, got {fft_length}.", stacklevel=3)
        if mode not in STFT_MODES:
            raise ValueError(f"{layer} mode must be one of {', '.join(map(repr, STFT_MODES))}, got {mode!r}.")
        if scaling not in SCALINGS:
            raise ValueError(f"{layer} scaling must be None, 'density' or 'spectrum', got {scaling!r}.")
        window = _saved_window(window)
        self.mode, self.scaling, self.periodic, self.expand_dims = mode, scaling, periodic, expand_dims
        self.frame_step, self.fft_length, self.window = frame_step, fft_length, window
        self.padding = check_padding(padding, what=f"{layer} padding")
        self.data_format = standardize_data_format(data_format)
        self._frame_step = frame_step or frame_length // 2
        self._fft_length = fft_length or 2 ** math.ceil(math.log2(frame_length))
        self._window_values = stft_window(window, frame_length, periodic, layer)
        self.real_kernel: torch.nn.Parameter | None = None
        self.imag_kernel: torch.nn.Parameter | None = None

    @property
    def bins(self) -> int:
        return self._fft_length // 2 + 1

    def build(self, input_shape: Shape) -> None:
        for side in ("real", "imag"):
            if self.mode != ("imag" if side == "real" else "real"):
                kernel = stft_kernel(side, self._window_values, self.scaling, self.frame_length, self.bins)
                setattr(self, f"{side}_kernel", LayerWeight(kernel))

    def weight_views(self) -> list[WeightView]:
        # Keras' layout (frame_length, 1, freq); stored as conv1d's (freq, 1, frame_length).
        def swap(t: torch.Tensor) -> torch.Tensor:
            return t.permute(2, 1, 0)

        return [WeightView(f"{side}_kernel", kernel, to_keras=swap, from_keras=swap)
                for side, kernel in (("real", self.real_kernel), ("imag", self.imag_kernel)) if kernel is not None]

    def _axes(self, input_shape: Shape) -> tuple:
        """(batch, channels, samples) of an input shape."""
        if self.data_format == "channels_last":
            return input_shape[0], input_shape[2], input_shape[1]
        return tuple(input_shape)

    def check_input_shape(self, input_shape: Shape) -> None:
        # Rank only: the kernels fit any channel count and signal length, as Keras' InputSpec(ndim=3).
        if len(input_shape) != 3:
            order = "samples, channels" if self.data_format == "channels_last" else "channels, samples"
            raise ValueError(self._shape_message(f"an input of rank 3 (batch, {order})", input_shape))
        samples = self._axes(input_shape)[2]
        if self.padding == "valid" and samples is not None and samples < self.frame_length:
            raise ValueError(self._shape_message(
                f"at least frame_length={self.frame_length} samples with padding='valid'", input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, channels, samples = self._axes(input_shape)
        frames = conv_output_length(samples, self.frame_length, self._frame_step, self.padding)
        freq = self.bins * (2 if self.mode == "stft" else 1)
        if self.expand_dims:
            return ((batch, frames, freq, channels) if self.data_format == "channels_last"
                    else (batch, channels, frames, freq))
        stacked = None if channels is None else channels * freq
        return (batch, frames, stacked) if self.data_format == "channels_last" else (batch, stacked, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            raise TypeError(f"Layer '{self.name}' (STFTSpectrogram) expected a float16, float32 or float64 input, "
                            f"but received {x.dtype}.")
        kernels = [k for k in (self.real_kernel, self.imag_kernel) if k is not None]
        x = x.to(kernels[0].dtype)
        if self.data_format == "channels_last":
            x = x.transpose(1, 2)
        batch, channels, samples = x.shape
        signal, pad = torch_padding(x.reshape(batch * channels, 1, samples), (self.frame_length,),
                                    (self._frame_step,), (1,), self.padding)
        kernel = kernels[0] if len(kernels) == 1 else torch.cat(kernels)  # one convolution for both sides
        out = F.conv1d(signal, kernel, None, self._frame_step, pad)
        return self._arrange(self._spectrum(out.reshape(batch, channels, -1, out.shape[-1])))

    def _spectrum(self, out: torch.Tensor) -> torch.Tensor:
        """The requested mode from the convolution's output ``(batch, channels, sides * freq, frames)``."""
        if self.mode in ("real", "imag", "stft"):
            return out
        real, imag = out[:, :, :self.bins], out[:, :, self.bins:]
        if self.mode == "angle":
            return torch.atan2(imag, real)
        power = real.square() + imag.square()
        if self.mode == "psd":
            # One-sided spectrum: each bin between DC and Nyquist also holds its negative frequency's power.
            doubling = torch.full((self.bins, 1), 2.0, dtype=power.dtype, device=power.device)
            doubling[0] = doubling[-1] = 1.0
            return power * doubling
        magnitude = power.clamp(min=epsilon()).sqrt()
        return magnitude if self.mode == "magnitude" else magnitude.clamp(min=epsilon()).log()

    def _arrange(self, spec: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, freq, frames)`` in the layer's output layout."""
        batch, channels, freq, frames = spec.shape
        if self.expand_dims:
            return spec.permute(0, 3, 2, 1) if self.data_format == "channels_last" else spec.transpose(2, 3)
        stacked = spec.reshape(batch, channels * freq, frames)
        return stacked.transpose(1, 2) if self.data_format == "channels_last" else stacked

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, window=_jsonable_window(self.window))
        return config
