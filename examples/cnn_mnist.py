"""The course CNN on MNIST (60,000 training and 10,000 test digits, 28x28 grey).

    .venv/bin/python examples/cnn_mnist.py                       # 12 epochs, about 98.7% test accuracy
    .venv/bin/python examples/cnn_mnist.py --epochs 1 --threads 2
    .venv/bin/python examples/cnn_mnist.py --data ~/mnist.npz     # Keras' mnist.npz layout

Conv2D(16, 2x2, relu) -> MaxPooling2D(2x2) -> Conv2D(32, 2x2, relu) -> MaxPooling2D -> Flatten
-> Dense(100, relu) -> Dense(10, softmax), adam, categorical crossentropy, as in Keras' classic
``mnist_cnn`` example: the test set is the validation data, so each epoch's line shows test
accuracy. Prints the model summary, the seconds each epoch took, the history and the final test
accuracy. ``--data`` is an npz with ``x_train`` (uint8 n x 28 x 28), ``y_train``, ``x_test``, ``y_test``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise.recipes import course_cnn  # the course's Conv2D/MaxPooling2D/Dense stack

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, positive_int, read_data

DEFAULT_DATA = SHARED_DATA / "mnist" / "mnist.npz"


def load_mnist(path: str | Path) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)``: float32 ``(n, 28, 28, 1)`` in [0, 1], one-hot ``(n, 10)``."""
    with np.load(path) as data:
        arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    x_train, x_test = (a.astype("float32")[..., None] / 255.0 for a in (arrays[0], arrays[2]))
    y_train, y_test = (keras.utils.to_categorical(a, 10) for a in (arrays[1], arrays[3]))
    return x_train, y_train, x_test, y_test


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training plus the validation pass)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="path to mnist.npz")
    parser.add_argument("--epochs", type=positive_int, default=12)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras' fit verbosity")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    x_train, y_train, x_test, y_test = read_data(parser, load_mnist, args.data, "MNIST (Keras' mnist.npz)")
    model = course_cnn(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    timer = EpochTimer()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_test, y_test), callbacks=[timer], verbose=args.verbose)
    for epoch, seconds in enumerate(timer.seconds):
        logs = {k: v[epoch] for k, v in history.history.items()}
        print(f"epoch {epoch + 1:3d}  {seconds:6.1f} s  " + "  ".join(f"{k}={v:.4f}" for k, v in logs.items()))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {accuracy:.4f}  "
          f"mean {np.mean(timer.seconds):.1f} s per epoch ({args.threads} thread(s), batch {args.batch_size})")


if __name__ == "__main__":
    main()
