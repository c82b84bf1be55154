"""Named model recipes: the networks the courses build, ready to compile."""
from __future__ import annotations

from layerwise.layers import Conv2D, Dense, Flatten, MaxPooling2D
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
