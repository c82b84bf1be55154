"""One-step forecasts of the yearly sunspot numbers with a small GRU ensemble (data bundled in statsmodels).

    .venv/bin/python examples/forecast_sunspots.py                 # 10 members
    .venv/bin/python examples/forecast_sunspots.py --members 3     # quicker

The classic set-up (Weigend, Huberman & Rumelhart 1990): train on 1700-1920, forecast each year
of 1921-1955 and 1956-1979 one step ahead from the 12 years before it. Reported as RMSE and as
error relative to the variance of the whole 1700-1979 series (MSE / variance), against
persistence (next year = this year) and a linear AR(9) fitted to the same training years.

Each member is GRU(units) over the 12-year window (values / 100) -> Dense(1), trained with Adam
on MSE; the ensemble averages the members' forecasts, which removes most of the variance that a
single small network trained on 209 windows has.
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
from _cli import positive_int

LAGS, SCALE = 12, 100.0
TEST_PERIODS = ((1921, 1955), (1956, 1979))


def load_yearly() -> tuple[np.ndarray, np.ndarray]:
    """(years, sunspot numbers) for 1700-1979."""
    import statsmodels.api as sm
    data = sm.datasets.sunspots.load_pandas().data
    data = data[(data.YEAR >= 1700) & (data.YEAR <= 1979)]
    return data.YEAR.to_numpy(int), data.SUNACTIVITY.to_numpy(np.float32)


def windows(series: np.ndarray, lags: int = LAGS) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n - lags, lags, 1)``: the ``lags`` values before each target; targets ``(n - lags,)``."""
    x, y = timeseries_dataset_from_array(series[:, None], series[lags:], lags, batch_size=None).as_arrays()
    return x, y


def ar_forecasts(series: np.ndarray, train_end: int, order: int = 9) -> np.ndarray:
    """One-step AR(order) forecasts for every index >= order, fitted on ``series[:train_end]``."""
    from statsmodels.tsa.ar_model import AutoReg
    params = AutoReg(series[:train_end].astype(np.float64), order).fit().params
    lagged = np.stack([series[order - k - 1:len(series) - k - 1] for k in range(order)], axis=1)
    return np.concatenate([np.full(order, np.nan), params[0] + lagged @ params[1:]])


def gru_member(units: int, seed: int, lr: float) -> keras.Sequential:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((LAGS, 1)), layers.GRU(units), layers.Dense(1)])
    model.compile(optimizer=Adam(lr), loss="mse")
    return model


def ensemble_forecasts(series: np.ndarray, train_end: int, members: int = 10, units: int = 8,
                       epochs: int = 400, lr: float = 3e-3, seed: int = 0) -> np.ndarray:
    """Mean one-step forecast of ``members`` GRUs trained on targets before ``train_end``."""
    x, y = windows(series / SCALE)
    train = slice(0, train_end - LAGS)
    forecasts = []
    for m in range(members):
        model = gru_member(units, seed + m, lr)
        model.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0)
        forecasts.append(model.predict(x, verbose=0)[:, 0] * SCALE)
    return np.concatenate([np.full(LAGS, np.nan), np.mean(forecasts, axis=0)])


def scores(years, series, forecasts, first: int, last: int) -> tuple[float, float]:
    """(RMSE, MSE relative to the 1700-1979 variance) over the years first..last."""
    pick = (years >= first) & (years <= last)
    mse = float(np.mean((series[pick] - forecasts[pick]) ** 2))
    return mse ** 0.5, mse / float(series.var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=positive_int, default=10)
    parser.add_argument("--units", type=positive_int, default=8)
    parser.add_argument("--epochs", type=positive_int, default=400)
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    years, series = load_yearly()
    train_end = int(np.searchsorted(years, 1921))
    persistence = np.concatenate([[np.nan], series[:-1]])
    results = {"persistence": persistence, "AR(9)": ar_forecasts(series, train_end),
               f"GRU({args.units}) x{args.members}": ensemble_forecasts(series, train_end, args.members,
                                                                       args.units, args.epochs)}
    print(f"{'model':<16}" + "".join(f"{f'{a}-{b} RMSE':>16}{'relative':>10}" for a, b in TEST_PERIODS))
    for name, forecast in results.items():
        row = "".join(f"{r:16.2f}{rel:10.3f}" for r, rel in (scores(years, series, forecast, a, b)
                                                              for a, b in TEST_PERIODS))
        print(f"{name:<16}{row}")
    print("published 1921-55: persistence RMSE 25.3; AR(9) 13.8 (relative 0.126); "
          "Weigend et al. 1990 network relative 0.086")


if __name__ == "__main__":
    main()
