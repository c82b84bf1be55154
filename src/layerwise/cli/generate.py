"""``layerwise generate`` (text from a character-level model) and ``layerwise forecast`` (a series' future)."""
from __future__ import annotations

import argparse
import math
import os
import sys
from itertools import islice

import numpy as np

from layerwise.cli import data_loading as dl
from layerwise.cli import model_files, tasks
from layerwise.cli.errors import UserError
from layerwise.cli.progress import say, track
from layerwise.utils.text_generation import sample_tokens

GENERATE_EXAMPLES = """examples:
  layerwise generate runs/text --prompt "the king " --length 200 --temperature 0.6
  layerwise generate runs/text/model.lw --prompt "once" --length 80 --temperature 1.2 --seed 3

Lower temperatures pick likely characters (repetitive); higher ones take more risks."""

FORECAST_EXAMPLES = """examples:
  layerwise forecast runs/sunspots --data sunspots.csv --horizon 24
  layerwise forecast runs/sunspots --data sunspots.csv --horizon 12 -o future.csv --holdout 12

The model continues the series from its last --window rows, feeding each forecast back in. With
--holdout N the last N rows are hidden, forecast, and compared with the truth."""


def add_parsers(sub, parents) -> None:
    p = sub.add_parser("generate", parents=parents, help="generate text with a character-level model",
                       description="Generate text with a model trained by `layerwise train --model lstm --data "
                       "corpus.txt`.", epilog=GENERATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="the folder `train --out` wrote, or its model.lw")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature, 0 for the most likely character (default 1.0)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the text to FILE")
    p.set_defaults(run=run_generate)

    p = sub.add_parser("forecast", parents=parents, help="forecast the next steps of a time series",
                       description="Forecast a series with a model trained by `layerwise train --model lstm "
                       "--data series.csv`.", epilog=FORECAST_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="the folder `train --out` wrote, or its model.lw")
    p.add_argument("--data", required=True, metavar="CSV", help="the series (same columns as in training)")
    p.add_argument("--horizon", type=int, default=12, help="steps to forecast (default 12)")
    p.add_argument("--holdout", type=int, default=0, help="hide the last N rows and compare the forecast with them")
    p.add_argument("-o", "--output", metavar="CSV", help="write step, forecast (and actual) to CSV")
    p.add_argument("--report", metavar="DIR", help="write report.html with the forecast plot to DIR")
    p.set_defaults(run=run_forecast)


def _load(path: str, task: str):
    model, card = model_files.load(path)
    if card.get("task") != task:
        what = {"text": "a text model (train --model lstm --data corpus.txt)",
                "forecast": "a forecaster (train --model lstm --data series.csv)"}[task]
        raise UserError(f"{path} holds a {card.get('task')} model; this command needs {what}.")
    return model, card


def sample_text(model, card: dict, prompt: str, length: int, temperature: float, rng: np.random.Generator,
                quiet: bool = True) -> str:
    """``prompt`` continued by ``length`` characters drawn one at a time at ``temperature``."""
    vocab, window = card["vocab"], int(card["window"])
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted(set(prompt) - set(index))
    if unknown:
        raise UserError(f"the prompt has characters the model never saw: {''.join(unknown)!r}.")
    # Short prompts are padded with the first character of the vocabulary (often the space or newline).
    tokens = sample_tokens(model, [index[c] for c in prompt], temperature=temperature, window=window, seed=rng)
    out = [vocab[i] for i in track(islice(tokens, length), length, f"Sampling {length} characters", quiet)]
    return prompt + "".join(out)


def run_generate(args) -> int:
    if args.length < 1 or not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UserError("--length must be at least 1 and --temperature 0 (the most likely character) or a finite "
                        f"number above it; got --length {args.length} --temperature {args.temperature}.")
    model, card = _load(args.model, "text")
    if args.output:  # not over the model, nor over the text it learnt from
        dl.check_output_file(args.output, "-o", (args.model, card.get("data")))
    text = sample_text(model, card, args.prompt, args.length, args.temperature, np.random.default_rng(args.seed),
                       args.quiet)
    if args.output:
        from layerwise.saving import atomic_write
        atomic_write(args.output, text.encode("utf-8"))
    print(text)
    return 0


def forecast_series(model, card: dict, scaled: np.ndarray, horizon: int) -> np.ndarray:
    """``horizon`` forecasts (scaled units) continuing ``scaled`` (rows, features), fed back step by step.

    Other feature columns are held at their last value: only the target is forecast.
    """
    window, t = int(card["window"]), card["features"].index(card["target"])
    history = scaled[-window:].copy()
    out = []
    for _ in range(horizon):
        step = float(model.predict_on_batch(history[None])[0, 0])
        out.append(step)
        row = history[-1].copy()
        row[t] = step
        history = np.vstack([history[1:], row])
    return np.asarray(out)


def run_forecast(args) -> int:
    if args.horizon < 1 or args.holdout < 0:
        raise UserError("--horizon must be at least 1 and --holdout at least 0.")
    if args.output:
        dl.check_output_file(args.output, "-o", (args.data, args.model))
    if args.report:
        dl.check_output_folder(args.report, "--report")
    model, card = _load(args.model, "forecast")
    table = dl.read_csv(args.data)
    raw = table.numeric(card["features"])
    scaled = (raw - np.asarray(card["mean"])) / np.asarray(card["std"])
    series = raw[:, card["features"].index(card["target"])]
    cut = len(scaled) - args.holdout
    if cut < int(card["window"]):
        raise UserError(f"{args.data}: after holding out {args.holdout} rows, fewer than {card['window']} remain.")
    forecast = tasks.unscale_target(card, forecast_series(model, card, scaled[:cut].astype(np.float32), args.horizon))
    actual = series[cut:cut + args.horizon] if args.holdout else np.empty(0)
    # With a holdout, the actual value beside each forecast (blank past the held-out rows); without, two columns.
    rows = [[cut + k + 1, f, *((actual[k:k + 1].tolist() or [""]) if args.holdout else [])]
            for k, f in enumerate(forecast)]
    header = ["step", "forecast"] + (["actual"] if args.holdout else [])
    if args.output:
        dl.write_csv(args.output, header, rows)
    if args.report:
        from layerwise.cli.train_report import forecast_plot
        from layerwise.reports import Report
        report = Report(args.report, f"layerwise forecast: {os.path.basename(args.data)}")
        forecast_plot(report, "forecast", series[max(0, cut - 4 * args.horizon):cut], actual, forecast)
        say(f"Wrote {report.save()}", args.quiet)
    print(",".join(header))
    for row in rows:
        print(",".join(dl.format_number(v) for v in row))
    if args.holdout:
        n = len(actual)
        # On stderr, so that stdout stays a CSV table that can be redirected to a file.
        print(f"MAE over the {n} held-out steps: {np.mean(np.abs(forecast[:n] - actual)):.4g}", file=sys.stderr,
              flush=True)
    return 0
