"""Quality of the sequence jobs in ``examples/``: each measured figure beside its published target.

    .venv/bin/python benchmarks/quality_sequences.py                     # everything (text: 30 minutes)
    .venv/bin/python benchmarks/quality_sequences.py --jobs sunspots mnist1d
    .venv/bin/python benchmarks/quality_sequences.py --text-minutes 5    # a shorter text run

Prints one markdown table (job, figure, ours, target, seconds). The jobs read ``../shared/data``
where their data lives there (text, airline, DNA) and are reported as skipped without it.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("sunspots", "airline", "dna", "mnist1d", "memory", "text")


def example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sunspots() -> list[tuple[str, str, str]]:
    job = example("forecast_sunspots")
    years, series = job.load_yearly()
    end = int(np.searchsorted(years, 1921))
    ours = job.ensemble_forecasts(series, end)
    ar = job.ar_forecasts(series, end)
    rows = []
    for first, last in job.TEST_PERIODS:
        rmse, rel = job.scores(years, series, ours, first, last)
        ar_rmse, ar_rel = job.scores(years, series, ar, first, last)
        target = "AR(9) 0.126; 1990 network 0.086" if first == 1921 else f"AR(9) {ar_rel:.3f}"
        rows.append((f"sunspots {first}-{str(last)[2:]}: RMSE / relative error (GRU(8) x10)",
                     f"{rmse:.2f} / {rel:.3f}", f"AR(9) {ar_rmse:.2f} / {target}"))
    return rows


def airline() -> list[tuple[str, str, str]]:
    job = example("forecast_airline")
    series = job.load_passengers()
    seasonal = np.concatenate([np.full(job.SEASON, np.nan), series[:-job.SEASON]])
    rmse, mape = job.test_scores(series, job.gru_ensemble_forecasts(series))
    s_rmse, s_mape = job.test_scores(series, seasonal)
    return [("airline 1959-60 one-step: RMSE / MAPE % (GRU x10)", f"{rmse:.2f} / {mape:.2f}",
             f"seasonal naive {s_rmse:.2f} / {s_mape:.2f}")]


def dna() -> list[tuple[str, str, str]]:
    job = example("dna_splice")
    x, y = job.load_splice()
    errors = job.errors_per_class(y, job.cross_validate(x, y, log=lambda *_: None))
    published = job.PUBLISHED_BACKPROP
    return [("splice 10-fold CV error % N / EI / IE (Conv1D + BiLSTM)",
             " / ".join(f"{errors[c]:.2f}" for c in job.CLASSES),
             "backprop " + " / ".join(f"{published[c]:.2f}" for c in job.CLASSES))]


def mnist1d(seeds: int = 4) -> list[tuple[str, str, str]]:
    job = example("mnist1d_table")
    data = job.load_mnist1d()
    rows = []
    for kind in ("mlp", "cnn", "gru"):
        mean, _ = job.mean_accuracy(partial(job.test_accuracy, kind), data, seeds, 8000)
        target = f">= {job.PUBLISHED[kind]:.0f} (published, one run)"
        if kind != "gru":
            reference, _ = job.mean_accuracy(partial(job.reference_accuracy, kind), data, seeds, 8000)
            target += f"; the reference {kind.upper()} in PyTorch, mean of {seeds} seeds: {reference:.1f}"
        rows.append((f"MNIST-1D {kind.upper()} test accuracy %, mean of {seeds} seeds", f"{mean:.1f}", target))
    return rows


def memory() -> list[tuple[str, str, str]]:
    job = example("long_range_memory")
    rows = []
    for length in (10, 100, 200):
        mse = {kind: job.test_mse(kind, length) for kind in ("SimpleRNN", "LSTM", "GRU")}
        rows.append((f"adding problem, length {length}: test MSE SimpleRNN / LSTM / GRU",
                     " / ".join(f"{v:.4f}" for v in mse.values()), f"mean predictor {job.BASELINE_MSE:.3f}"))
    return rows


def text(minutes: float) -> list[tuple[str, str, str]]:
    job = example("text_generation")
    vectorizer, train_ids, val_ids = job.load_corpus()
    model = job.char_lstm(vectorizer.vocabulary_size())
    start = time.perf_counter()
    job.train(model, train_ids, val_ids, minutes, log=lambda *_: None)
    trained = (time.perf_counter() - start) / 60
    return [(f"tiny Shakespeare validation nats/char, 2x LSTM(512), {trained:.1f} min of training",
             f"{job.validation_nats(model, val_ids):.3f}", "<= 1.47 within 30 min")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=JOBS)
    parser.add_argument("--text-minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runners = {"sunspots": sunspots, "airline": airline, "dna": dna, "mnist1d": mnist1d, "memory": memory,
               "text": lambda: text(args.text_minutes)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"python {sys.version.split()[0]}\n")
    print("| figure | ours | target | seconds |\n|---|---|---|---|")
    for name in args.jobs:
        start = time.perf_counter()
        try:
            rows = runners[name]()
        except FileNotFoundError as err:
            rows = [(name, "skipped", f"data absent: {err.filename}")]
        seconds = time.perf_counter() - start
        for figure, ours, target in rows:
            print(f"| {figure} | {ours} | {target} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
