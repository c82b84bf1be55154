"""The course CNN on CIFAR-10 read from JPEG folders with ``image_dataset_from_directory``.

    .venv/bin/python examples/cnn_cifar10.py --epochs 10                    # 32x32, the native size
    .venv/bin/python examples/cnn_cifar10.py --image-size 128 --epochs 2    # the course's 128x128
    .venv/bin/python examples/cnn_cifar10.py --data ~/cifar10 --threads 2

``--data`` holds ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (one folder per class). The
training folder is split 90/10 into training and validation subsets with a seed, exactly as Keras
would split it; the test folder gives the final accuracy. Pixels are scaled to [0, 1] with
``dataset.map``. Same network as the other course examples: Conv2D(16, 2x2) -> MaxPooling2D ->
Conv2D(32, 2x2) -> MaxPooling2D -> Flatten -> Dense(100) -> Dense(10, softmax), adam.

Memory: every image is decoded once into one uint8 array, 3 KB per image at 32x32 but 48 KB at
128x128 (2.4 GB for the 50,000 training images); at 128x128 decoding also takes minutes.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import layerwise as keras
from layerwise.recipes import course_cnn  # the course's Conv2D/MaxPooling2D/Dense stack

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, positive_int, read_data

DEFAULT_DATA = SHARED_DATA / "cifar10-jpeg"


def scale(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels from [0, 255] to [0, 1]: raw pixels saturate the softmax, and the clipped loss then has no gradient."""
    return x / 255.0, y


def load_folders(folder: Path, size: tuple[int, int], batch_size: int, seed: int):
    """(training, validation, test) datasets: ``train/`` split 90/10 with ``seed``, ``test/`` in file order."""
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        folder / "train", label_mode="categorical", image_size=size, batch_size=batch_size,
        validation_split=0.1, subset="both", seed=seed)
    test_ds = keras.utils.image_dataset_from_directory(
        folder / "test", label_mode="categorical", image_size=size, batch_size=batch_size, shuffle=False)
    return train_ds, val_ds, test_ds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/ and test/ class folders")
    parser.add_argument("--image-size", type=positive_int, default=32, help="images are resized to this square size")
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    size = (args.image_size, args.image_size)
    start = time.perf_counter()
    train_ds, val_ds, test_ds = read_data(parser, lambda folder: load_folders(folder, size, args.batch_size, args.seed),
                                          args.data, "CIFAR-10 (train/ and test/ class folders)")
    print(f"decoded {len(train_ds.file_paths) + len(val_ds.file_paths) + len(test_ds.file_paths)} images in "
          f"{time.perf_counter() - start:.1f} s; classes: {train_ds.class_names}")

    model = course_cnn((*size, 3), len(train_ds.class_names))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit(train_ds.map(scale), validation_data=val_ds.map(scale), epochs=args.epochs, verbose=2)
    seconds = (time.perf_counter() - start) / args.epochs
    loss, accuracy = model.evaluate(test_ds.map(scale), verbose=0)
    print(f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}; test loss {loss:.4f}  "
          f"test accuracy {accuracy:.4f}  ({len(test_ds.file_paths)} test images, {size[0]}x{size[1]}, "
          f"{seconds:.1f} s per epoch on {args.threads} thread(s))")


if __name__ == "__main__":
    main()
