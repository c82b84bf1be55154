"""Speed of the next-frame example's ConvLSTM2D(64, (5, 5), padding='same') forward + backward: layerwise against
Keras on its torch backend, both on the CPU in one process, with 1 and 2 threads.

    python benchmarks/conv_lstm_speed.py

One batch of (8, 10, 40, 40, 1) frames, return_sequences=True and activation='relu' as in the example; the
loss is the outputs' mean. Each figure is the best of 3 timed runs after one untimed warm-up run.
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import

import numpy as np
import torch

SHAPE = (8, 10, 40, 40, 1)
ARGS, KWARGS = (64, (5, 5)), {"padding": "same", "return_sequences": True, "activation": "relu"}
REPEATS = 3


def seconds(layer, x: torch.Tensor, call) -> float:
    """One forward + backward pass."""
    start = time.perf_counter()
    call(layer, x).mean().backward()
    elapsed = time.perf_counter() - start
    for w in layer.trainable_weights if hasattr(layer, "trainable_weights") else layer.parameters():
        getattr(w, "value", w).grad = None  # a Keras variable holds its torch tensor in .value
    return elapsed


def main() -> None:
    import keras

    import layerwise.layers as L

    x = torch.from_numpy(np.random.default_rng(0).random(SHAPE, dtype=np.float32))
    theirs = keras.layers.ConvLSTM2D(*ARGS, **KWARGS)
    theirs.build((None, *SHAPE[1:]))
    ours = L.ConvLSTM2D(*ARGS, **KWARGS)
    ours.build_from((None, *SHAPE[1:]))
    ours.set_weights(theirs.get_weights())
    ours.train()
    contenders = [("layerwise", ours, lambda layer, x: layer(x)),
                  ("keras (torch backend)", theirs, lambda layer, x: layer(x, training=True))]
    print(f"ConvLSTM2D{ARGS} {KWARGS} on {SHAPE}, forward + backward, best of {REPEATS}, torch {torch.__version__}")
    print(f"| {'contender':<22} | {'threads':>7} | {'seconds':>8} | {'vs keras':>8} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 10}|{'-' * 10}|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = {name: [] for name, _, _ in contenders}
        for i in range(REPEATS + 1):  # the contenders take turns, so that both see the same machine load
            for name, layer, call in contenders:
                t = seconds(layer, x, call)
                if i:  # the first round warms up
                    times[name].append(t)
        best = {name: min(t) for name, t in times.items()}
        for name, s in best.items():
            ratio = best["keras (torch backend)"] / s
            print(f"| {name:<22} | {threads:>7} | {s:>8.3f} | {ratio:>7.2f}x |")


if __name__ == "__main__":
    main()
