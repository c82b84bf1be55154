"""The MNIST-1D benchmark table (Greydanus & Kobak) with the published model sizes, in layerwise.

    .venv/bin/python examples/mnist1d_table.py                 # all three, 8,000 steps each
    .venv/bin/python examples/mnist1d_table.py --models gru    # one row
    .venv/bin/python examples/mnist1d_table.py --seeds 8       # mean over 8 seeds, beside the reference models
    .venv/bin/python examples/mnist1d_table.py --validate      # how WEIGHT_DECAY was chosen

The data (4,000 train / 1,000 test sequences of 40 values, 10 classes) is generated locally by the
``mnist1d`` package with its default arguments. Models follow the reference ``notebooks/models.py``:
  * MLP: 40 -> Dense(100, relu) -> Dense(100, relu) -> Dense(10)  (the reference adds a residual
    connection around the second layer, which a Sequential model cannot express; same sizes)
  * CNN: Conv1D(25, 5, stride 2) -> Conv1D(25, 3, stride 2) -> Conv1D(25, 3, stride 2), relu, each
    after ZeroPadding1D(1) as the reference pads, -> Flatten (125) -> Dense(10)
  * GRU: Bidirectional(GRU(6, return_sequences=True)) over the 40 steps -> Flatten (480) -> Dense(10)
Training keeps the reference ``notebooks/train.py`` budget: 8,000 steps of 100, cross-entropy on
logits, batches cycled in a fixed order. The reference uses Adam(1e-2) at a constant rate
(``--recipe reference``); the default recipe is AdamW at 2e-2 decayed to zero along a cosine
(``CosineDecay``) with a weight decay per model, chosen by ``--validate`` on the last 1,000
training sequences (never on the test set). One seed moves a model's accuracy by a point or more,
so ``--seeds N`` reports the mean over N seeds, and for the MLP and the CNN also the mean of the
reference models and recipe written directly in PyTorch (``reference_accuracy``, the MLP with its
residual connection) on the same data.
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise import layers
from layerwise.losses import SparseCategoricalCrossentropy
from layerwise.optimizers import Adam, AdamW
from layerwise.optimizers.schedules import CosineDecay

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import positive_int

PUBLISHED = {"mlp": 68.0, "cnn": 94.0, "gru": 91.0}  # test accuracy %, MNIST-1D README
STEPS, BATCH_SIZE, PEAK_LEARNING_RATE = 8000, 100, 2e-2
WEIGHT_DECAY = {"mlp": 0.1, "cnn": 0.05, "gru": 0.02}  # chosen with --validate
WEIGHT_DECAY_GRID = (0.02, 0.05, 0.1, 0.2)


def load_mnist1d(seed: int = 42) -> dict[str, np.ndarray]:
    """x ``(4000, 40)``, y, x_test ``(1000, 40)``, y_test, generated with the package's defaults."""
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)


def build(kind: str, recipe: str = "tuned", steps: int = STEPS, weight_decay: float | None = None
          ) -> keras.Sequential:
    """The published architecture, compiled with the reference optimizer or the tuned one."""
    if kind == "mlp":
        stack = [keras.Input((40,)), layers.Dense(100, activation="relu"), layers.Dense(100, activation="relu")]
    elif kind == "cnn":
        stack = [keras.Input((40, 1))]
        for kernel in (5, 3, 3):
            stack += [layers.ZeroPadding1D(1), layers.Conv1D(25, kernel, strides=2, activation="relu")]
        stack.append(layers.Flatten())
    elif kind == "gru":
        stack = [keras.Input((40, 1)), layers.Bidirectional(layers.GRU(6, return_sequences=True)), layers.Flatten()]
    else:
        raise ValueError(f"Unknown model {kind!r}: use mlp, cnn or gru.")
    model = keras.Sequential(stack + [layers.Dense(10)])
    if recipe == "reference":
        optimizer = Adam(1e-2)
    else:
        decay = WEIGHT_DECAY[kind] if weight_decay is None else weight_decay
        optimizer = AdamW(CosineDecay(PEAK_LEARNING_RATE, steps), weight_decay=decay)
    model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_accuracy(kind: str, data: dict, steps: int = STEPS, seed: int = 0, recipe: str = "tuned",
                  weight_decay: float | None = None) -> float:
    """Accuracy (%) on ``x_test`` of ``kind`` trained on ``x`` for ``steps`` steps of 100."""
    keras.utils.set_random_seed(seed)
    shape = (-1, 40) if kind == "mlp" else (-1, 40, 1)
    x, x_test = data["x"].reshape(shape).astype(np.float32), data["x_test"].reshape(shape).astype(np.float32)
    epochs = max(1, round(steps * BATCH_SIZE / len(x)))
    model = build(kind, recipe, epochs * -(-len(x) // BATCH_SIZE), weight_decay)
    model.fit(x, data["y"], batch_size=BATCH_SIZE, epochs=epochs, verbose=0, shuffle=False)
    return float(np.mean(model.predict(x_test, verbose=0).argmax(1) == data["y_test"]) * 100)


def validation_table(kinds: list[str], data: dict, seeds: int, steps: int) -> None:
    """Mean accuracy on the last 1,000 training sequences (trained on the first 3,000) per weight decay."""
    split = {"x": data["x"][:3000], "y": data["y"][:3000], "x_test": data["x"][3000:], "y_test": data["y"][3000:]}
    print(f"{'model':<8}" + "".join(f"{f'wd {wd}':>10}" for wd in WEIGHT_DECAY_GRID) + "   (validation %)")
    for kind in kinds:
        means = [mean_accuracy(partial(test_accuracy, kind, weight_decay=wd), split, seeds, steps)[0]
                 for wd in WEIGHT_DECAY_GRID]
        print(f"{kind:<8}" + "".join(f"{m:>10.2f}" for m in means), flush=True)


class _ResidualMLP(torch.nn.Module):
    """The reference MLP: 40 -> 100 -> (+ residual) 100 -> 10."""

    def __init__(self):
        super().__init__()
        self.first, self.second = torch.nn.Linear(40, 100), torch.nn.Linear(100, 100)
        self.out = torch.nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x).relu()
        return self.out(h + self.second(h).relu())


def reference_accuracy(kind: str, data: dict, steps: int = STEPS, seed: int = 0) -> float:
    """The reference MLP or CNN and training loop in plain PyTorch (its own initialisation), test accuracy (%)."""
    torch.manual_seed(seed)
    if kind == "mlp":
        net = _ResidualMLP()
    else:
        nn = torch.nn
        net = nn.Sequential(nn.Unflatten(1, (1, 40)), nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1),
                            nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(125, 10))
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    x, y = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["y"], dtype=torch.long)
    for step in range(steps):
        batch = slice((step * BATCH_SIZE) % len(x), (step * BATCH_SIZE) % len(x) + BATCH_SIZE)
        loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = net(torch.tensor(data["x_test"], dtype=torch.float32)).argmax(1).numpy()
    return float(np.mean(predicted == data["y_test"]) * 100)


def mean_accuracy(run, data: dict, seeds: int, steps: int) -> tuple[float, list[float]]:
    """Mean and per-seed test accuracy (%) of ``run(data, steps, seed=...)`` over seeds 0..seeds-1."""
    accuracies = [run(data, steps, seed=seed) for seed in range(seeds)]
    return float(np.mean(accuracies)), accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(PUBLISHED), default=list(PUBLISHED))
    parser.add_argument("--steps", type=positive_int, default=STEPS)
    parser.add_argument("--seeds", type=positive_int, default=1, help="average over this many seeds")
    parser.add_argument("--recipe", choices=["tuned", "reference"], default="tuned",
                        help="tuned: AdamW + cosine decay (default); reference: Adam(1e-2) as notebooks/train.py")
    parser.add_argument("--validate", action="store_true",
                        help="instead of the table, compare weight decays on a validation split of the training set")
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist1d()
    print(f"MNIST-1D: {len(data['x'])} train / {len(data['x_test'])} test, {args.steps} steps of {BATCH_SIZE}, "
          f"{args.seeds} seed(s), {args.recipe} recipe")
    if args.validate:
        validation_table(args.models, data, args.seeds, args.steps)
        return
    print(f"{'model':<14}{'params':>8}{'mean %':>9}{'published %':>13}{'seconds':>9}  per seed")
    runs = [(kind, kind, partial(test_accuracy, kind, recipe=args.recipe)) for kind in args.models]
    runs += [(kind, f"{kind}, PyTorch", partial(reference_accuracy, kind)) for kind in args.models if kind != "gru"]
    for kind, name, run in runs:
        start = time.perf_counter()
        mean, each = mean_accuracy(run, data, args.seeds, args.steps)
        print(f"{name:<14}{build(kind).count_params():>8}{mean:>9.1f}{PUBLISHED[kind]:>13.1f}"
              f"{time.perf_counter() - start:>9.0f}  {' '.join(f'{a:.1f}' for a in each)}", flush=True)


if __name__ == "__main__":
    main()
