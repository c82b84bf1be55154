"""GPU figures: LSTM(64) training and prediction (layerwise against hand-written PyTorch, both on CUDA and
cuDNN), and the RBM's seconds per epoch on the GPU against scikit-learn's on the CPU.

    python benchmarks/gpu_speed.py              # needs a CUDA device; prints a markdown table
    python benchmarks/gpu_speed.py --allow-cpu  # the same code on the CPU (to try the script)

The LSTM task is benchmarks/lstm_speed.py's: 4,096 sequences of 100 steps x 8 features, batch 64, MSE, Adam(1e-3).
Each figure is the median of 3 timed epochs after one warm-up epoch.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

SEQUENCES, STEPS, FEATURES, UNITS, BATCH = 4096, 100, 8, 64, 64


def timed(run, repeats: int = 3) -> float:
    """Median seconds of ``run()`` after one warm-up call, with the device synchronised around each."""
    run()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        start = time.perf_counter()
        run()
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lstm_pytorch(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[float, float]:
    """Hand-written loop: nn.LSTM + Linear on the last step; (training, prediction) sequences per second."""
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(FEATURES, UNITS, batch_first=True).to(device), torch.nn.Linear(UNITS, 1).to(device)
    params = [*lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, 1e-3)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return head(lstm(batch)[0][:, -1])

    def epoch() -> None:
        for idx in torch.randperm(SEQUENCES, device=device).split(BATCH):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(forward(xt[idx]), yt[idx]).backward()
            optimizer.step()

    def predict() -> None:
        with torch.no_grad():
            for batch in xt.split(BATCH):
                forward(batch)

    return SEQUENCES / timed(epoch), SEQUENCES / timed(predict)


def lstm_layerwise(x, y) -> tuple[float, float]:
    """``fit`` and ``predict`` on ``x`` and ``y``: numpy arrays, or tensors already on the device."""
    import layerwise as keras
    from layerwise import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), layers.LSTM(UNITS), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    train = timed(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0))
    predict = timed(lambda: model.predict(x, batch_size=BATCH, verbose=0))
    return SEQUENCES / train, SEQUENCES / predict


def rbm_epochs() -> list[tuple[str, float]]:
    """Seconds per epoch on scikit-learn's digits example (7,188 nudged rows, 100 hidden units)."""
    from sklearn import datasets
    from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM
    from sklearn.preprocessing import minmax_scale

    from layerwise.datasets.digits import nudge
    from layerwise.rbm import BernoulliRBM

    X, y = datasets.load_digits(return_X_y=True)
    X = minmax_scale(nudge(np.asarray(X, "float32"), y)[0])[:7188]
    rows = []
    for batch in (10, 100):
        kw = dict(n_components=100, learning_rate=0.06, batch_size=batch, n_iter=5, random_state=0)
        rows.append((f"layerwise BernoulliRBM, batch {batch}", timed(lambda kw=kw: BernoulliRBM(**kw).fit(X)) / 5))
        rows.append((f"scikit-learn BernoulliRBM (CPU), batch {batch}",
                     timed(lambda kw=kw: SkBernoulliRBM(**kw).fit(X), repeats=1) / 5))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.allow_cpu:
        sys.exit("No CUDA device: these are GPU figures (pass --allow-cpu to run the script on the CPU).")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SEQUENCES, STEPS, FEATURES), dtype=np.float32)
    y = rng.standard_normal((SEQUENCES, 1), dtype=np.float32)
    print(f"Device: {name}, torch {torch.__version__}\n")
    print("| LSTM(64) -> Dense(1), 100 x 8, batch 64 | training sequences/s | prediction sequences/s |")
    print("|---|---|---|")
    on_device = (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
    for label, (train, predict) in (("hand-written PyTorch (data on the device)", lstm_pytorch(x, y, device)),
                                     ("layerwise, numpy data", lstm_layerwise(x, y)),
                                     ("layerwise, data on the device", lstm_layerwise(*on_device))):
        print(f"| {label} | {train:,.0f} | {predict:,.0f} |")
    print("\n| RBM, digits example settings | seconds per epoch |\n|---|---|")
    for label, seconds in rbm_epochs():
        print(f"| {label} | {seconds * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
