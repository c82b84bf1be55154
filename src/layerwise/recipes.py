"""Named model recipes: the networks the courses build, ready to compile.

Each recipe takes the shape of one input sample and the number of outputs and returns a built
``Sequential``; the command line's ``--model`` names map to these functions.
"""
from __future__ import annotations

from math import prod

from layerwise.layers import GRU, LSTM, Conv2D, Dense, Dropout, Embedding, Flatten, Input, MaxPooling2D
from layerwise.models import Sequential


def course_cnn(input_shape: tuple[int, int, int], num_classes: int) -> Sequential:
    """The course's CNN: two (2x2 conv, 2x2 max-pool) stages, Dense(100), softmax.

    Input ``(height, width, channels)``; 3,078,598 parameters for (128, 128, 3) and 10 classes.
    """
    model = Sequential(name="course_cnn")
    model.add(Conv2D(16, (2, 2), strides=(1, 1), activation="relu", input_shape=input_shape))
    model.add(MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
    model.add(Conv2D(32, (2, 2), strides=(1, 1), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
    model.add(Flatten())
    model.add(Dense(100, activation="relu"))
    model.add(Dense(num_classes, activation="softmax"))
    return model


def _dense_stack(name: str, input_shape: tuple[int, ...], num_outputs: int, output_activation: str | None,
                 units: tuple[int, ...], dropout: float) -> Sequential:
    model = Sequential([Input(tuple(input_shape))], name=name)
    if len(input_shape) > 1:  # images or sequences: dense layers see one flat vector per sample
        model.add(Flatten())
    for width in units:
        model.add(Dense(width, activation="relu"))
        if dropout:
            model.add(Dropout(dropout))
    model.add(Dense(num_outputs, activation=output_activation))
    return model


def mlp(input_shape: tuple[int, ...], num_outputs: int, output_activation: str | None = "softmax",
        units: int = 64) -> Sequential:
    """A shallow dense network: one hidden ReLU layer of ``units``; inputs of any shape are flattened."""
    return _dense_stack("mlp", input_shape, num_outputs, output_activation, (units,), 0.0)


def deep_mlp(input_shape: tuple[int, ...], num_outputs: int, output_activation: str | None = "softmax",
             units: tuple[int, ...] = (256, 128, 64), dropout: float = 0.2) -> Sequential:
    """A deep dense network: ReLU layers of ``units``, each followed by dropout."""
    return _dense_stack("deep_mlp", input_shape, num_outputs, output_activation, tuple(units), dropout)


def _recurrent(cell: type, name: str, input_shape: tuple[int, ...], num_outputs: int,
               output_activation: str | None, units: int, vocab_size: int | None, embedding_dim: int) -> Sequential:
    model = Sequential([Input(tuple(input_shape))], name=name)
    if vocab_size is not None:  # token ids (batch, timesteps) become vectors before the recurrence
        model.add(Embedding(vocab_size, embedding_dim))
    model.add(cell(units))
    model.add(Dense(num_outputs, activation=output_activation))
    return model


def lstm(input_shape: tuple[int, ...], num_outputs: int, output_activation: str | None = None,
         units: int = 64, vocab_size: int | None = None, embedding_dim: int = 32) -> Sequential:
    """An LSTM over ``(timesteps, features)`` windows (a forecaster), or over ``(timesteps,)`` token ids
    through an ``Embedding`` when ``vocab_size`` is given (a character-level language model)."""
    return _recurrent(LSTM, "lstm", input_shape, num_outputs, output_activation, units, vocab_size, embedding_dim)


def gru(input_shape: tuple[int, ...], num_outputs: int, output_activation: str | None = None,
        units: int = 64, vocab_size: int | None = None, embedding_dim: int = 32) -> Sequential:
    """As :func:`lstm` with a GRU cell: fewer parameters, often as good on short sequences."""
    return _recurrent(GRU, "gru", input_shape, num_outputs, output_activation, units, vocab_size, embedding_dim)


def flat_size(input_shape: tuple[int, ...]) -> int:
    """Number of values in one sample of ``input_shape``."""
    return int(prod(input_shape))
