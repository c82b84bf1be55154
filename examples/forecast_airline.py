"""One-step forecasts of the monthly airline passengers (1949-1960) with a small GRU ensemble.

    .venv/bin/python examples/forecast_airline.py
    .venv/bin/python examples/forecast_airline.py --data ~/airline-passengers.csv --members 3

The last 24 months (1959-1960) are the test; everything before trains. The GRU does not see raw
counts: it sees the yearly log growth ``z_t = log y_t - log y_{t-12}`` of the 12 months before the
target and predicts the next one, so the forecast is ``y_{t-12} * exp(z_hat)``. Seasonal naive
(this month = the same month last year) is exactly ``z_hat = 0``, which makes the comparison fair:
the network only has to learn how the growth moves. Reports RMSE and MAPE against seasonal naive
and naive (this month = last month).
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
from layerwise.utils import timeseries_dataset_from_array

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, positive_int, read_data

DATA = SHARED_DATA / "timeseries" / "airline-passengers.csv"
SEASON, LAGS, TEST = 12, 12, 24


def load_passengers(path: Path = DATA) -> np.ndarray:
    """The 144 monthly totals (thousands), January 1949 to December 1960."""
    import pandas as pd
    return pd.read_csv(path)["Passengers"].to_numpy(np.float64)


def growth_windows(series: np.ndarray):
    """Windows of ``LAGS`` yearly log growths ``(n, LAGS, 1)``, the next growth, and its series index."""
    z = np.log(series[SEASON:]) - np.log(series[:-SEASON])  # z[i] belongs to month i + SEASON
    x, y = timeseries_dataset_from_array(z[:, None].astype(np.float32), z[LAGS:].astype(np.float32), LAGS,
                                         batch_size=None).as_arrays()
    return x, y, np.arange(len(y)) + LAGS + SEASON


def gru_ensemble_forecasts(series: np.ndarray, members: int = 10, units: int = 8, epochs: int = 300,
                           lr: float = 3e-3, seed: int = 0) -> np.ndarray:
    """One-step forecasts for every month that has a full window (NaN before); trained on the
    months before the last ``TEST``."""
    x, y, target_index = growth_windows(series)
    train = target_index < len(series) - TEST
    growth = []
    for m in range(members):
        keras.utils.set_random_seed(seed + m)
        model = keras.Sequential([keras.Input((LAGS, 1)), layers.GRU(units), layers.Dense(1)])
        model.compile(optimizer=Adam(lr), loss="mse")
        model.fit(x[train], y[train], batch_size=16, epochs=epochs, verbose=0)
        growth.append(model.predict(x, verbose=0)[:, 0])
    forecast = np.full(len(series), np.nan)
    forecast[target_index] = series[target_index - SEASON] * np.exp(np.mean(growth, axis=0))
    return forecast


def test_scores(series: np.ndarray, forecast: np.ndarray) -> tuple[float, float]:
    """(RMSE, MAPE %) over the last ``TEST`` months."""
    actual, pred = series[-TEST:], forecast[-TEST:]
    return float(np.sqrt(np.mean((actual - pred) ** 2))), float(np.mean(np.abs(actual - pred) / actual) * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="CSV with a Passengers column, one row a month")
    parser.add_argument("--members", type=positive_int, default=10)
    parser.add_argument("--epochs", type=positive_int, default=300)
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    series = read_data(parser, load_passengers, args.data, "the airline passengers CSV")
    results = {
        "naive": np.concatenate([[np.nan], series[:-1]]),
        "seasonal naive": np.concatenate([np.full(SEASON, np.nan), series[:-SEASON]]),
        f"GRU x{args.members}": gru_ensemble_forecasts(series, args.members, epochs=args.epochs),
    }
    print(f"one-step forecasts of 1959-1960 ({TEST} months)\n{'model':<16}{'RMSE':>8}{'MAPE %':>8}")
    for name, forecast in results.items():
        rmse, mape = test_scores(series, forecast)
        print(f"{name:<16}{rmse:8.2f}{mape:8.2f}")


if __name__ == "__main__":
    main()
