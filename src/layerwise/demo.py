"""``make demo``: the course's CNN on scikit-learn's bundled digits, end to end in under a minute.

Run as ``python -m layerwise.demo``.
"""
from __future__ import annotations

import time

import layerwise as keras
from layerwise.datasets import digits
from layerwise.recipes import course_cnn


def main(epochs: int = 15) -> float:
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data(upscale=2)
    y_train, y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
    print(f"Digits: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}, "
          f"device {keras.config.get_device()}\n")
    model = course_cnn(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=epochs, batch_size=32, verbose=2)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print("\nTraining history (per epoch):")
    print("epoch " + " ".join(f"{k:>12}" for k in history.history))
    for epoch in history.epoch:
        print(f"{epoch + 1:5d} " + " ".join(f"{v[epoch]:12.4f}" for v in history.history.values()))
    print(f"\nTest accuracy: {accuracy:.4f} (loss {loss:.4f}) after {epochs} epochs in {seconds:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
