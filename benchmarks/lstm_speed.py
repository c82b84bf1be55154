"""Speed of LSTM(64) -> Dense(1) on sequences of 100 steps x 8 features: PyTorch, Keras (torch / TF), layerwise.

    python benchmarks/lstm_speed.py --all                      # every contender, side by side
    python benchmarks/lstm_speed.py --contender pytorch --json # one contender (what --all runs per process)

MSE loss, Adam(1e-3), batch 64. torch.nn.LSTM keeps two bias vectors per gate where Keras keeps one,
so the PyTorch baseline has 256 more parameters (19,009 against 18,753); the work is the same.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import speed_common

STEPS = 100
FEATURES = 8
UNITS = 64
BATCH = 64
SEQUENCES = 4096  # both for one training epoch and for one batch prediction


def make_data() -> tuple[np.ndarray, np.ndarray]:
    """Random sequences and regression targets, the same in every process."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SEQUENCES, STEPS, FEATURES), dtype=np.float32)
    return x, rng.standard_normal((SEQUENCES, 1), dtype=np.float32)


def bench_pytorch(threads: int, repeats: int) -> dict:
    """Idiomatic eager PyTorch: nn.LSTM(batch_first=True), a Linear on the last step, shuffled tensor slices."""
    speed_common.setup_torch(threads)
    import torch
    from torch import nn

    class LastStepRegressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.head = nn.Linear(UNITS, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outputs, _ = self.lstm(x)
            return self.head(outputs[:, -1])

    x_np, y_np = make_data()
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    model = LastStepRegressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def train_epoch() -> float:
        model.train()
        order = torch.randperm(len(x))  # Keras' fit shuffles too
        loss_sum = torch.zeros(())
        for start in range(0, len(x), BATCH):
            batch = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(batch)  # the running loss Keras reports, without a per-batch sync
        return (loss_sum / len(x)).item()

    @torch.inference_mode()
    def predict() -> np.ndarray:
        model.eval()
        return torch.cat([model(x[s:s + BATCH]) for s in range(0, len(x), BATCH)]).numpy()

    train = speed_common.median_seconds(train_epoch, repeats)
    predict_all = speed_common.median_seconds(predict, repeats)
    return speed_common.throughput_record(SEQUENCES, train, predict_all, sum(p.numel() for p in model.parameters()))


def bench_keras_api(Sequential, Input, LSTM, Dense, repeats: int) -> dict:
    """Plain Keras code on whichever implementation of the Keras API is passed in."""
    x, y = make_data()
    model = Sequential()
    model.add(Input(shape=(STEPS, FEATURES)))
    model.add(LSTM(UNITS))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")

    train = speed_common.median_seconds(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0), repeats)
    predict = speed_common.median_seconds(lambda: model.predict(x, batch_size=BATCH, verbose=0), repeats)
    return speed_common.throughput_record(SEQUENCES, train, predict, model.count_params())


def bench_keras(backend: str, threads: int, repeats: int) -> dict:
    """Keras 3 on ``backend``, with Keras' defaults (jit_compile="auto": XLA on TensorFlow, eager on torch)."""
    speed_common.import_keras(backend, threads)
    from keras.layers import LSTM, Dense, Input
    from keras.models import Sequential

    return bench_keras_api(Sequential, Input, LSTM, Dense, repeats)


def bench_layerwise(threads: int, repeats: int) -> dict:
    """layerwise: the same Keras code, imported from layerwise."""
    speed_common.setup_torch(threads)
    from layerwise.layers import LSTM, Dense, Input
    from layerwise.models import Sequential

    return bench_keras_api(Sequential, Input, LSTM, Dense, repeats)


def bench_layerwise_functional(threads: int, repeats: int) -> dict:
    """layerwise: the same model written with the functional API, Model(inputs, outputs)."""
    speed_common.setup_torch(threads)
    from layerwise import Input, Model
    from layerwise.layers import LSTM, Dense

    x, y = make_data()
    inputs = Input(shape=(STEPS, FEATURES))
    model = Model(inputs, Dense(1)(LSTM(UNITS)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    train = speed_common.median_seconds(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0), repeats)
    predict = speed_common.median_seconds(lambda: model.predict(x, batch_size=BATCH, verbose=0), repeats)
    return speed_common.throughput_record(SEQUENCES, train, predict, model.count_params())


CONTENDERS = {
    "pytorch": bench_pytorch,
    "keras-torch": lambda threads, repeats: bench_keras("torch", threads, repeats),
    "keras-tf": lambda threads, repeats: bench_keras("tensorflow", threads, repeats),
    "layerwise": bench_layerwise,
    "layerwise-functional": bench_layerwise_functional,
}
COLUMNS = [
    ("train_per_s", "train seq/s", ".0f"),
    ("predict_per_s", "predict seq/s", ".0f"),
    ("params", "params", ","),
]

if __name__ == "__main__":
    speed_common.main(f"LSTM speed ({STEPS} steps x {FEATURES} features, batch {BATCH})",
                      Path(__file__).resolve(), CONTENDERS, COLUMNS)
