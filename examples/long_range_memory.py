"""Long-range memory: the adding problem (Hochreiter & Schmidhuber 1997), SimpleRNN against LSTM and GRU.

    .venv/bin/python examples/long_range_memory.py                       # lengths 10 25 50 100 200
    .venv/bin/python examples/long_range_memory.py --lengths 10 50 --out memory.png

Each sequence has ``length`` steps of two features: a random value in [0, 1) and a marker that is 1
at exactly two steps (one in the first half, one in the second) and 0 elsewhere. The target is the
sum of the two marked values. Predicting the mean (1.0) scores an MSE of 1/6 ~ 0.167, the line a
model must get well below; solving it means carrying the first marked value across up to
``length`` steps. Every model has 32 units, the same data and the same number of Adam steps.
Prints the test MSE per model and length and plots it (log scale) to a PNG: ``--out``, by default
``runs/long_range_memory.png``; docs/benchmarks/sequences.md gives the command that rewrites the docs' plot.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise import layers
from layerwise.optimizers import Adam

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import positive_int

BASELINE_MSE = 1.0 / 6.0  # variance of the sum of two uniforms: the error of always answering 1.0


def adding_problem(count: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(count, length, 2)`` (value, marker) and targets ``(count, 1)``."""
    values = rng.random((count, length), dtype=np.float32)
    markers = np.zeros((count, length), np.float32)
    rows = np.arange(count)
    first = rng.integers(0, max(1, length // 2), count)
    second = rng.integers(length // 2, length, count)
    markers[rows, first] = markers[rows, second] = 1.0
    target = (values[rows, first] + values[rows, second])[:, None]
    return np.stack([values, markers], axis=-1), target


def memory_model(kind: str, length: int, units: int = 32, lr: float = 3e-3) -> keras.Sequential:
    recurrent = {"SimpleRNN": layers.SimpleRNN, "LSTM": layers.LSTM, "GRU": layers.GRU}[kind]
    model = keras.Sequential([keras.Input((length, 2)), recurrent(units), layers.Dense(1)])
    model.compile(optimizer=Adam(lr, clipnorm=1.0), loss="mse")
    return model


def test_mse(kind: str, length: int, train_size: int = 10_000, epochs: int = 10, seed: int = 0) -> float:
    """Test MSE of ``kind`` on sequences of ``length`` after ``epochs`` passes over ``train_size``."""
    rng = np.random.default_rng(seed)
    x, y = adding_problem(train_size, length, rng)
    x_test, y_test = adding_problem(2_000, length, rng)
    keras.utils.set_random_seed(seed)
    model = memory_model(kind, length)
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return float(np.mean((model.predict(x_test, batch_size=500, verbose=0) - y_test) ** 2))


def plot(results: dict[str, list[float]], lengths: list[int], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, errors in results.items():
        ax.plot(lengths, errors, marker="o", label=kind)
    ax.axhline(BASELINE_MSE, color="gray", linestyle="--", label="predict the mean")
    ax.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="test MSE",
           title="Adding problem: remembering across the sequence")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=positive_int, nargs="+", default=[10, 25, 50, 100, 200])
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--threads", type=positive_int, default=2)
    # Under the working folder (runs/ is git-ignored): the docs' tracked plot is rewritten only when asked for.
    parser.add_argument("--out", type=Path, default=Path("runs") / "long_range_memory.png",
                        help="where to save the plot")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, list[float]] = {}
    print(f"test MSE (predicting the mean: {BASELINE_MSE:.3f})\n{'length':>8}" +
          "".join(f"{k:>11}" for k in ("SimpleRNN", "LSTM", "GRU")))
    for length in args.lengths:
        row = [test_mse(kind, length, epochs=args.epochs) for kind in ("SimpleRNN", "LSTM", "GRU")]
        for kind, mse in zip(("SimpleRNN", "LSTM", "GRU"), row):
            results.setdefault(kind, []).append(mse)
        print(f"{length:>8}" + "".join(f"{m:11.4f}" for m in row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.lengths, args.out)
    print(f"plot written to {args.out}")


if __name__ == "__main__":
    main()
