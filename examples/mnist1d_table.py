"""The MNIST-1D benchmark table (Greydanus & Kobak) with the published model sizes, in layerwise.

    .venv/bin/python examples/mnist1d_table.py                 # all three, 8,000 steps each
    .venv/bin/python examples/mnist1d_table.py --models gru    # one row

The data (4,000 train / 1,000 test sequences of 40 values, 10 classes) is generated locally by the
``mnist1d`` package with its default arguments. Models follow the reference ``notebooks/models.py``:
  * MLP: 40 -> Dense(100, relu) -> Dense(100, relu) -> Dense(10)  (the reference adds a residual
    connection around the second layer, which a Sequential model cannot express; same sizes)
  * CNN: Conv1D(25, 5, stride 2) -> Conv1D(25, 3, stride 2) -> Conv1D(25, 3, stride 2), relu,
    -> Flatten (125) -> Dense(10)
  * GRU: Bidirectional(GRU(6, return_sequences=True)) over the 40 steps -> Flatten (480) -> Dense(10)
trained as the reference ``notebooks/train.py`` trains them: Adam(1e-2), 8,000 steps of 100,
cross-entropy on logits.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import layerwise as keras
from layerwise import layers
from layerwise.losses import SparseCategoricalCrossentropy
from layerwise.optimizers import Adam

PUBLISHED = {"mlp": 68.0, "cnn": 94.0, "gru": 91.0}  # test accuracy %, MNIST-1D README


def load_mnist1d(seed: int = 42) -> dict[str, np.ndarray]:
    """x ``(4000, 40)``, y, x_test ``(1000, 40)``, y_test, generated with the package's defaults."""
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)


def build(kind: str) -> keras.Sequential:
    if kind == "mlp":
        stack = [keras.Input((40,)), layers.Dense(100, activation="relu"), layers.Dense(100, activation="relu")]
    elif kind == "cnn":
        stack = [keras.Input((40, 1)), layers.Conv1D(25, 5, strides=2, padding="same", activation="relu"),
                 layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"),
                 layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"), layers.Flatten()]
    elif kind == "gru":
        stack = [keras.Input((40, 1)), layers.Bidirectional(layers.GRU(6, return_sequences=True)), layers.Flatten()]
    else:
        raise ValueError(f"Unknown model {kind!r}: use mlp, cnn or gru.")
    model = keras.Sequential(stack + [layers.Dense(10)])
    model.compile(optimizer=Adam(1e-2), loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_accuracy(kind: str, data: dict, steps: int = 8000, batch_size: int = 100, seed: int = 0) -> float:
    """Test accuracy (%) of ``kind`` after ``steps`` optimizer steps."""
    keras.utils.set_random_seed(seed)
    shape = (-1, 40) if kind == "mlp" else (-1, 40, 1)
    x, x_test = data["x"].reshape(shape).astype(np.float32), data["x_test"].reshape(shape).astype(np.float32)
    model = build(kind)
    epochs = max(1, round(steps * batch_size / len(x)))
    model.fit(x, data["y"], batch_size=batch_size, epochs=epochs, verbose=0)
    return float(np.mean(model.predict(x_test, verbose=0).argmax(1) == data["y_test"]) * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn", "gru"])
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist1d()
    print(f"MNIST-1D: {len(data['x'])} train / {len(data['x_test'])} test, {args.steps} steps of 100")
    print(f"{'model':<6}{'params':>8}{'ours %':>9}{'published %':>13}{'seconds':>9}")
    for kind in args.models:
        start = time.perf_counter()
        accuracy = test_accuracy(kind, data, args.steps)
        params = build(kind).count_params()
        print(f"{kind:<6}{params:>8}{accuracy:>9.1f}{PUBLISHED[kind]:>13.1f}{time.perf_counter() - start:>9.0f}",
              flush=True)


if __name__ == "__main__":
    main()
