"""Speed of the course's CNN on 128x128x3 images: hand-written PyTorch, Keras (torch / TF backends), layerwise.

    python benchmarks/cnn_speed.py --all                      # every contender, side by side
    python benchmarks/cnn_speed.py --contender pytorch --json # one contender (what --all runs per process)

Network: Conv2D(16,2x2,relu) -> MaxPool 2x2 -> Conv2D(32,2x2,relu) -> MaxPool 2x2 -> Flatten
-> Dense(100,relu) -> Dense(10,softmax); 3,078,598 parameters; categorical crossentropy, Adam(1e-3), batch 32.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import speed_common

SHAPE = (128, 128, 3)
CLASSES = 10
BATCH = 32
IMAGES = 1024  # both for one training epoch and for one batch prediction
LATENCY_CALLS = 50


def make_data() -> tuple[np.ndarray, np.ndarray]:
    """Random NHWC images in [0, 1) and integer labels, the same in every process."""
    rng = np.random.default_rng(0)
    images = rng.random((IMAGES, *SHAPE), dtype=np.float32)
    return images, rng.integers(0, CLASSES, IMAGES)


def bench_pytorch(threads: int, repeats: int) -> dict:
    """Idiomatic eager PyTorch: NCHW in channels_last memory, shuffled slices of a pre-made tensor."""
    speed_common.setup_torch(threads)
    import torch
    from torch import nn

    images, labels = make_data()
    # NHWC -> NCHW view whose strides are already channels_last: no copy, and the conv kernels' fast layout.
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(labels)
    # In-place ReLUs, as torchvision writes them: the first conv's output (33 MB a batch) is above glibc's
    # mmap threshold, so every extra buffer of that size costs fresh, page-faulted memory on each batch.
    model = nn.Sequential(
        nn.Conv2d(3, 16, 2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(32 * 31 * 31, 100), nn.ReLU(inplace=True), nn.Linear(100, CLASSES),
    ).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Softmax + categorical crossentropy, fused the PyTorch way: cross_entropy on logits.
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch() -> tuple[float, float]:
        model.train()
        order = torch.randperm(len(x))  # Keras' fit shuffles too
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for start in range(0, len(x), BATCH):
            batch = order[start:start + BATCH]
            xb, yb = x[batch], y[batch]
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            # Running loss and accuracy, as Keras reports them; kept as tensors so nothing syncs per batch.
            loss_sum += loss.detach() * len(batch)
            correct += (logits.argmax(1) == yb).sum()
        return (loss_sum / len(x)).item(), (correct / len(x)).item()

    @torch.inference_mode()
    def predict(inputs: torch.Tensor) -> np.ndarray:
        model.eval()
        return torch.cat([model(inputs[s:s + BATCH]).softmax(1) for s in range(0, len(inputs), BATCH)]).numpy()

    one = x[:1]
    train = speed_common.median_seconds(train_epoch, repeats)
    predict_all = speed_common.median_seconds(lambda: predict(x), repeats)
    latency = speed_common.median_seconds(lambda: predict(one), LATENCY_CALLS, warmup=5)
    return speed_common.throughput_record(IMAGES, train, predict_all, sum(p.numel() for p in model.parameters()),
                                        latency_ms=latency[0] * 1000)


def bench_keras_api(Sequential, Conv2D, MaxPooling2D, Flatten, Dense, repeats: int) -> dict:
    """The course's Keras code, verbatim, on whichever implementation of the Keras API is passed in."""
    images, labels = make_data()
    onehot = np.eye(CLASSES, dtype=np.float32)[labels]
    model = Sequential()
    model.add(Conv2D(16, (2, 2), strides=(1, 1), activation="relu", input_shape=SHAPE))
    model.add(MaxPooling2D((2, 2), strides=(2, 2)))
    model.add(Conv2D(32, (2, 2), activation="relu"))
    model.add(MaxPooling2D((2, 2), strides=(2, 2)))
    model.add(Flatten())
    model.add(Dense(100, activation="relu"))
    model.add(Dense(CLASSES, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    one = images[:1]
    train = speed_common.median_seconds(
        lambda: model.fit(images, onehot, batch_size=BATCH, epochs=1, verbose=0), repeats)
    predict = speed_common.median_seconds(
        lambda: model.predict(images, batch_size=BATCH, verbose=0), repeats)
    latency = speed_common.median_seconds(lambda: model.predict(one, verbose=0), LATENCY_CALLS, warmup=5)
    return speed_common.throughput_record(IMAGES, train, predict, model.count_params(), latency_ms=latency[0] * 1000)


def bench_keras(backend: str, threads: int, repeats: int) -> dict:
    """Keras 3 on ``backend``, with Keras' defaults (jit_compile="auto": XLA on TensorFlow, eager on torch)."""
    speed_common.import_keras(backend, threads)
    from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from keras.models import Sequential

    return bench_keras_api(Sequential, Conv2D, MaxPooling2D, Flatten, Dense, repeats)


def bench_layerwise(threads: int, repeats: int) -> dict:
    """layerwise: the same Keras code, imported from layerwise."""
    speed_common.setup_torch(threads)
    from layerwise.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from layerwise.models import Sequential

    return bench_keras_api(Sequential, Conv2D, MaxPooling2D, Flatten, Dense, repeats)


CONTENDERS = {
    "pytorch": bench_pytorch,
    "keras-torch": lambda threads, repeats: bench_keras("torch", threads, repeats),
    "keras-tf": lambda threads, repeats: bench_keras("tensorflow", threads, repeats),
    "layerwise": bench_layerwise,
}
COLUMNS = [
    ("train_per_s", "train img/s", ".0f"),
    ("predict_per_s", "predict img/s", ".0f"),
    ("latency_ms", "1-image predict ms", ".2f"),
    ("params", "params", ","),
]

if __name__ == "__main__":
    speed_common.main("CNN speed (128x128x3, batch 32)", Path(__file__).resolve(), CONTENDERS, COLUMNS)
