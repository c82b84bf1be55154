"""Autoencoders as three Keras models that share their layers: ``(encoder, decoder, autoencoder)``.

The autoencoder is ``Sequential([Input, corruption?, *encoder.layers, *decoder.layers])``: the very
same layer objects, so ``autoencoder.fit(X, X)`` trains the encoder and the decoder, and afterwards
``encoder.predict(X)`` gives the codes and ``decoder.predict(codes)`` decodes them. A corruption layer
(denoising) sits only in the autoencoder, in front of the encoder, and acts only while training: the
encoder on its own is a clean map from inputs to codes, and each of the three models saves with
``model.save`` (the autoencoder too when its corruption is ``'gaussian'`` or none).

Images are channels-last, ``(batch, height, width, channels)``, whatever ``image_data_format()`` says: every
layer that takes a ``data_format`` gets ``CHANNELS_LAST``. The weights' dtype follows ``floatx()`` and the
global dtype policy, as in any Keras model (the ``Autoencoder`` estimator pins both to float32).
"""
from __future__ import annotations

import math
from numbers import Integral
from typing import Sequence

import numpy as np

from layerwise.autoencoders.noise import corruption_layer
from layerwise.layers import (Conv2D, Conv2DTranspose, Dense, Flatten, Input, MaxPooling2D, Reshape,
                              UpSampling2D)
from layerwise.models import Model, Sequential

Models = tuple[Sequential, Sequential, Sequential]
CHANNELS_LAST = "channels_last"  # the layout the shapes and size arithmetic below assume


def _is_positive_int(value) -> bool:
    """True for positive ints, NumPy's too (a grid of np.arange sizes, a size computed with NumPy); not bools."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_)) and value > 0


def _check_units(values: Sequence[int], what: str) -> tuple[int, ...]:
    values = tuple(values)
    if not all(_is_positive_int(v) for v in values):
        raise ValueError(f"{what} must be positive integers, got {values!r}.")
    return tuple(int(v) for v in values)


def _check_positive_int(value: int, what: str) -> int:
    if not _is_positive_int(value):
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def _check_code_size(code_size: int) -> int:
    return _check_positive_int(code_size, "code_size")


def _check_shape(shape: int | Sequence[int], what: str) -> tuple[int, ...]:
    """A per-sample shape given as one size or a sequence of sizes, as a tuple of positive Python ints."""
    return _check_units(tuple(shape) if isinstance(shape, (tuple, list, np.ndarray)) else (shape,), what)


def _check_kernel_size(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    """``kernel_size`` (one odd size or a pair, as Conv2D takes) as ``(kh, kw)``."""
    kernel = _check_shape(kernel_size, "kernel_size")
    kernel = kernel * 2 if len(kernel) == 1 else kernel
    if len(kernel) != 2 or any(k % 2 == 0 for k in kernel):
        raise ValueError(f"kernel_size must be one odd integer or two (height, width), so that 'same' layers keep "
                         f"maps centred, got {kernel_size!r}.")
    return kernel


def _parts(model: Model) -> list:
    """What ``model`` contributes to the joined Sequential: a Sequential's own layers, or a functional or
    subclassed model as one layer (its layers include an ``InputLayer``, which only may start a Sequential)."""
    return list(model.layers) if isinstance(model, Sequential) else [model]


def join(encoder: Model, decoder: Model, noise: str | None = None, noise_level: float = 0.1,
         noise_range: tuple[float, float] = (0.0, 1.0), name: str = "autoencoder",
         seed: int | None = None) -> Sequential:
    """The autoencoder ``decoder(encoder(corrupt(x)))`` built from the encoder's and decoder's own layers.

    Shapes: ``encoder.input_shape -> encoder.input_shape``. ``noise`` (None, 'gaussian', 'masking',
    'salt_pepper') corrupts inputs while training only; ``noise_range`` is (low, high) for salt-and-pepper;
    ``seed`` (an int) gives the corruption layer its own generator, so that its noise repeats build after build.
    Sequential encoders and decoders give their layers; functional ones (``Model(inputs, outputs)``) sit in the
    autoencoder whole, sharing their weights all the same.
    """
    if encoder.input_shape is None:
        raise ValueError("The encoder needs a known input shape (start it with Input(shape)).")
    if tuple(encoder.output_shape[1:]) != tuple(decoder.input_shape[1:]):
        raise ValueError(f"The encoder outputs {encoder.output_shape} but the decoder expects "
                         f"{decoder.input_shape}.")
    corruption = corruption_layer(noise, noise_level, *noise_range, seed=seed)
    front = [corruption] if corruption is not None else []
    return Sequential([Input(encoder.input_shape[1:]), *front, *_parts(encoder), *_parts(decoder)], name=name)


def dense_autoencoder(input_shape: int | Sequence[int], code_size: int, hidden_layers: Sequence[int] = (256, 64),
                      activation="relu", code_activation=None, output_activation=None,
                      noise: str | None = None, noise_level: float = 0.1,
                      noise_range: tuple[float, float] = (0.0, 1.0), seed: int | None = None) -> Models:
    """A symmetric fully connected autoencoder.

    Encoder: ``(batch, *input_shape) -> (batch, code_size)`` through ``hidden_layers`` units (images are
    flattened first); the decoder mirrors it: ``(batch, code_size) -> (batch, *input_shape)``.
    ``code_activation=None`` gives a linear code (Hinton & Salakhutdinov 2006); ``output_activation``
    'sigmoid' suits data scaled to [0, 1], None (linear) any real data. ``noise*`` and ``seed``: as in ``join``.
    """
    shape = _check_shape(input_shape, "input_shape")
    code_size = _check_code_size(code_size)
    hidden = _check_units(hidden_layers, "hidden_layers")
    n_inputs = math.prod(shape)
    encoder = Sequential([Input(shape), *([Flatten(data_format=CHANNELS_LAST)] if len(shape) > 1 else []),
                          *(Dense(units, activation=activation) for units in hidden),
                          Dense(code_size, activation=code_activation)], name="encoder")
    decoder = Sequential([Input((code_size,)), *(Dense(units, activation=activation) for units in reversed(hidden)),
                          Dense(n_inputs, activation=output_activation),
                          *([Reshape(shape)] if len(shape) > 1 else [])], name="decoder")
    return encoder, decoder, join(encoder, decoder, noise, noise_level, noise_range, seed=seed)


def _halved_sizes(image_shape: tuple[int, int, int], levels: int) -> list[tuple[int, int]]:
    """Spatial sizes after each 2x 'same' downsampling: [(h, w), (ceil(h/2), ceil(w/2)), ...]."""
    sizes = [tuple(image_shape[:2])]
    for _ in range(levels):
        sizes.append(tuple(-(-n // 2) for n in sizes[-1]))
    return sizes


def conv_autoencoder(image_shape: Sequence[int], code_size: int | None, filters: Sequence[int] = (32, 64),
                     kernel_size: int | Sequence[int] = 3, activation="relu", downsampling: str = "pool",
                     upsampling: str = "transpose", code_activation=None, output_activation=None,
                     noise: str | None = None, noise_level: float = 0.1,
                     noise_range: tuple[float, float] = (0.0, 1.0), seed: int | None = None) -> Models:
    """A convolutional autoencoder for grey or colour images ``(height, width, channels)``.

    Encoder: per entry of ``filters`` a 'same' Conv2D then a 2x downsampling (``downsampling='pool'``:
    MaxPooling2D; ``'strides'``: the convolution itself has stride 2), then Flatten and
    ``Dense(code_size)``: ``(batch, h, w, c) -> (batch, code_size)``. Decoder: Dense and Reshape back to
    the smallest map, then per level a 2x upsampling (``upsampling='transpose'``: a stride-2
    Conv2DTranspose, which also restores odd sizes such as MNIST's 7 -> 14 -> 28 or 25 -> 13 -> 7;
    ``'upsampling'``: UpSampling2D then Conv2D, sizes must halve evenly), and a last 'same' Conv2D to
    ``c`` channels: ``(batch, code_size) -> (batch, h, w, c)``. ``kernel_size`` is one odd size or an odd
    ``(height, width)`` pair, as Conv2D takes it.

    ``code_size=None`` drops the Dense layers: the code is the smallest feature map itself,
    ``(batch, h / 2**L, w / 2**L, filters[-1])``, as in the fully convolutional denoiser of Chollet's
    "Building Autoencoders in Keras". It keeps where things are, which suits denoising better than
    a small dense code. ``noise*`` and ``seed``: as in ``join``.
    """
    shape = _check_shape(image_shape, "image_shape")
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    if code_size is not None:
        code_size = _check_code_size(code_size)
    filters = _check_units(filters, "filters")
    if not filters:
        raise ValueError("filters needs at least one entry (one downsampling level each).")
    kernel_size = _check_kernel_size(kernel_size)
    if downsampling not in ("pool", "strides"):
        raise ValueError(f"downsampling must be 'pool' or 'strides', got {downsampling!r}.")
    if upsampling not in ("transpose", "upsampling"):
        raise ValueError(f"upsampling must be 'transpose' or 'upsampling', got {upsampling!r}.")
    sizes = _halved_sizes(shape, len(filters))
    if upsampling == "upsampling" and any(2 * small[i] != big[i] for big, small in zip(sizes, sizes[1:])
                                          for i in range(2)):
        raise ValueError(f"Image size {shape[:2]} does not halve evenly {len(filters)} times "
                         f"(sizes {sizes}); use upsampling='transpose', which restores odd sizes.")

    down = []
    for f in filters:
        if downsampling == "pool":
            down += [Conv2D(f, kernel_size, padding="same", activation=activation, data_format=CHANNELS_LAST),
                     MaxPooling2D(2, padding="same", data_format=CHANNELS_LAST)]
        else:
            down.append(Conv2D(f, kernel_size, strides=2, padding="same", activation=activation,
                               data_format=CHANNELS_LAST))
    dense_code = ([] if code_size is None else
                  [Flatten(data_format=CHANNELS_LAST), Dense(code_size, activation=code_activation)])
    encoder = Sequential([Input(shape), *down, *dense_code], name="encoder")

    (h, w), deepest = sizes[-1], filters[-1]
    up = []
    for level in range(len(filters), 0, -1):
        f, (n_h, n_w), (t_h, t_w) = filters[level - 1], sizes[level], sizes[level - 1]
        if upsampling == "transpose":
            # 'same' with stride 2 and an odd kernel gives 2n - 1 + output_padding: pick 0 or 1 per axis.
            up.append(Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation=activation,
                                      output_padding=(t_h - 2 * n_h + 1, t_w - 2 * n_w + 1),
                                      data_format=CHANNELS_LAST))
        else:
            up += [UpSampling2D(2, data_format=CHANNELS_LAST),
                   Conv2D(f, kernel_size, padding="same", activation=activation, data_format=CHANNELS_LAST)]
    from_code = ([Input((h, w, deepest))] if code_size is None else
                 [Input((code_size,)), Dense(h * w * deepest, activation=activation), Reshape((h, w, deepest))])
    decoder = Sequential([*from_code, *up,
                          Conv2D(shape[2], kernel_size, padding="same", activation=output_activation,
                                 data_format=CHANNELS_LAST)],
                         name="decoder")
    if tuple(decoder.output_shape[1:]) != shape:  # guards the size arithmetic above
        raise RuntimeError(f"Decoder output {decoder.output_shape} does not match the images {shape}.")
    return encoder, decoder, join(encoder, decoder, noise, noise_level, noise_range, seed=seed)


def sequence_autoencoder(timesteps: int, features: int, code_size: int, hidden_layers: Sequence[int] = (64,),
                         output_activation=None, noise: str | None = None, noise_level: float = 0.1,
                         noise_range: tuple[float, float] = (0.0, 1.0), seed: int | None = None) -> Models:
    """An LSTM sequence autoencoder (Srivastava et al. 2015): ``(batch, timesteps, features)`` in and out.

    Encoder: LSTMs of ``hidden_layers`` units (returning sequences), then ``LSTM(code_size)``, whose last
    state is the code ``(batch, code_size)``. Decoder: ``RepeatVector(timesteps)`` feeds the code to every
    step of LSTMs of ``reversed(hidden_layers)`` units, and a Dense maps each step back to ``features``.
    ``noise*`` and ``seed``: as in ``join``.
    """
    try:
        from layerwise.layers import LSTM, RepeatVector
    except ImportError as err:
        raise ImportError("sequence_autoencoder needs layerwise.layers.LSTM and RepeatVector, which this "
                          f"build of layerwise does not have yet ({err}).") from None
    timesteps, features = _check_positive_int(timesteps, "timesteps"), _check_positive_int(features, "features")
    code_size = _check_code_size(code_size)
    hidden = _check_units(hidden_layers, "hidden_layers")
    encoder = Sequential([Input((timesteps, features)), *(LSTM(u, return_sequences=True) for u in hidden),
                          LSTM(code_size)], name="encoder")
    decoder = Sequential([Input((code_size,)), RepeatVector(timesteps),
                          *(LSTM(u, return_sequences=True) for u in (tuple(reversed(hidden)) or (code_size,))),
                          Dense(features, activation=output_activation)], name="decoder")
    return encoder, decoder, join(encoder, decoder, noise, noise_level, noise_range, seed=seed)
