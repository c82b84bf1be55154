"""Shallow vs deep dense networks, ReLU vs sigmoid, on MNIST: why deep sigmoid nets learn slowly.

    .venv/bin/python examples/dense_depth_relu.py                       # 3 epochs each, SGD
    .venv/bin/python examples/dense_depth_relu.py --epochs 5 --depth 8 --optimizer adam
    .venv/bin/python examples/dense_depth_relu.py --out runs/depth.png --data ~/mnist.npz

Four networks on flattened 28x28 digits: one hidden layer (shallow) or ``--depth`` hidden layers
(deep) of ``--units`` units, with ReLU or sigmoid hidden activations and a softmax output. During
training a callback reads the gradient of every Dense kernel after each batch (``kernel.grad``,
left by ``backward`` until the next step clears it) and averages its norm over the epoch. The
plot (``--out``) shows, per layer from input to output, the mean gradient norm in the first epoch,
and the test accuracy after each epoch. Sigmoid's derivative is at most 1/4, so in the deep
sigmoid net the gradient shrinks by a large factor at each layer on its way back to the input:
the first layers barely move (vanishing gradients), and the net trails the others. ReLU passes
gradients through unchanged where a unit is active, so depth costs it little. Plain SGD (the
default) shows the effect in the accuracies too; adam rescales each weight's step by its own
gradient size, which hides much of it in the accuracies but not in the raw gradient norms.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise import layers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, positive_int, read_data

DEFAULT_DATA = SHARED_DATA / "mnist" / "mnist.npz"


def dense_net(depth: int, units: int, activation: str, optimizer: str) -> keras.Sequential:
    """784 inputs -> ``depth`` hidden Dense(``units``, ``activation``) layers -> 10-way softmax."""
    model = keras.Sequential([keras.Input((784,))]
                             + [layers.Dense(units, activation=activation) for _ in range(depth)]
                             + [layers.Dense(10, activation="softmax")])
    opt = keras.optimizers.SGD(learning_rate=0.1) if optimizer == "sgd" else keras.optimizers.get(optimizer)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class GradientNorms(keras.callbacks.Callback):
    """Per epoch, the mean over batches of each Dense kernel's gradient norm (input layer first)."""

    def __init__(self):
        super().__init__()
        self.per_epoch: list[np.ndarray] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._sums, self._batches = None, 0

    def on_train_batch_end(self, batch, logs=None):
        # summed on the device; read once per epoch, so the hot loop never waits for a sync
        norms = torch.stack([layer.kernel.grad.norm() for layer in self.model.layers])
        self._sums = norms if self._sums is None else self._sums + norms
        self._batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append((self._sums / self._batches).cpu().numpy())


def load_mnist(path: str | Path) -> tuple[np.ndarray, ...]:
    """Flattened float32 ``(n, 784)`` in [0, 1] and integer labels ``(n,)``, train then test."""
    with np.load(path) as data:
        x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    return (x_train.reshape(-1, 784).astype("float32") / 255.0, y_train,
            x_test.reshape(-1, 784).astype("float32") / 255.0, y_test)


def plot(results: dict[str, dict], out: str, title: str) -> None:
    """Left: first-epoch gradient norm per layer (log scale). Right: test accuracy per epoch."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, (ax_grad, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, result in results.items():
        style = "-" if "relu" in name else "--"
        norms = result["grad_norms"][0]
        ax_grad.semilogy(np.arange(1, len(norms) + 1), norms, style, marker="o", label=name)
        ax_acc.plot(np.arange(1, len(result["test_acc"]) + 1), result["test_acc"], style, marker="o", label=name)
    ax_grad.set(xlabel="Dense layer (1 = next to the input)", ylabel="mean Frobenius norm of dL/dW, epoch 1",
                title="Gradient norm per layer")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy")
    for ax in (ax_grad, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="path to mnist.npz")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--depth", type=positive_int, default=6, help="hidden layers of the deep networks")
    parser.add_argument("--units", type=positive_int, default=64, help="units per hidden layer")
    parser.add_argument("--optimizer", default="sgd", help="'sgd' (learning rate 0.1) or a Keras optimizer name")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="runs/dense_depth_relu.png", help="where to save the plot")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x_train, y_train, x_test, y_test = read_data(parser, load_mnist, args.data, "MNIST (Keras' mnist.npz)")
    results: dict[str, dict] = {}
    for depth in (1, args.depth):
        for activation in ("relu", "sigmoid"):
            name = f"{'shallow' if depth == 1 else 'deep'} {activation} ({depth} hidden)"
            keras.utils.set_random_seed(args.seed)
            model = dense_net(depth, args.units, activation, args.optimizer)
            grads = GradientNorms()
            accuracy = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs, model=model: logs.update(
                test_acc=model.evaluate(x_test, y_test, verbose=0)[1]))
            history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                                callbacks=[accuracy, grads], verbose=0)
            results[name] = {"test_acc": history.history["test_acc"], "grad_norms": grads.per_epoch}
            first, last = grads.per_epoch[0][0], grads.per_epoch[0][-1]
            print(f"{name:28s} test accuracy per epoch "
                  + " ".join(f"{a:.4f}" for a in history.history["test_acc"])
                  + f" | epoch-1 gradient norm: first layer {first:.2e}, last layer {last:.2e}, "
                  f"ratio {first / last:.1e}")
    for name, result in results.items():
        print(f"{name:28s} epoch-1 gradient norm per layer (input -> output): "
              + " ".join(f"{g:.1e}" for g in result["grad_norms"][0]))
    plot(results, args.out, f"MNIST, {args.units} units per hidden layer, {args.optimizer}, "
                            f"batch {args.batch_size}")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
