"""The course CNN on scikit-learn's 8x8 handwritten digits (bundled with scikit-learn, no download).

    .venv/bin/python examples/cnn_digits.py --epochs 30                # digits as 16x16 images
    .venv/bin/python examples/cnn_digits.py --upsample 1               # the native 8x8 images

Conv2D(16, 2x2) -> MaxPooling2D(2x2) -> Conv2D(32, 2x2) -> MaxPooling2D -> Flatten -> Dense(100)
-> Dense(10, softmax), trained with adam on categorical crossentropy. The 2x2 kernels and pools
fit the native 8x8 images exactly (8 -> 7 -> 3 -> 2 -> 1), but leave a single 1x1x32 feature map
(about 92% test accuracy); the default ``--upsample 2`` repeats every pixel, so the second pooling
still sees 6x6 positions (about 98%). Prints the model summary, the per-epoch history and the test
accuracy on a stratified 25% hold-out.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import layerwise as keras
from layerwise.recipes import course_cnn  # the course's Conv2D/MaxPooling2D/Dense stack


def load(upsample: int, seed: int) -> tuple[np.ndarray, ...]:
    """Digits as float32 ``(n, 8*upsample, 8*upsample, 1)`` in [0, 1] and one-hot ``(n, 10)`` labels."""
    digits = load_digits()
    x = digits.images.astype("float32") / 16.0  # pixel values are 0..16
    x = x.repeat(upsample, axis=1).repeat(upsample, axis=2)[..., None]
    y = keras.utils.to_categorical(digits.target, 10)
    return tuple(train_test_split(x, y, test_size=0.25, stratify=digits.target, random_state=seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--upsample", type=int, default=2, help="repeat each pixel this many times per axis")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    x_train, x_test, y_train, y_test = load(args.upsample, args.seed)
    model = course_cnn(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, verbose=0)
    for epoch, values in enumerate(zip(*history.history.values()), start=1):
        print(f"epoch {epoch:3d}  " + "  ".join(f"{k}={v:.4f}" for k, v in zip(history.history, values)))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {accuracy:.4f}  ({len(x_test)} held-out digits, "
          f"{x_train.shape[1]}x{x_train.shape[2]} images)")


if __name__ == "__main__":
    main()
