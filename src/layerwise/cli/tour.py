"""``layerwise tour``: one model of every family on data that ships with the packages, a results table
and ``runs/tour/report.html``. ``make demo`` runs it; ``--quick`` trains less (for tests).

Each step is a function in ``tour_networks`` or ``tour_estimators`` that takes a :class:`Tour` and
returns a :class:`Result`; a step whose optional package is missing is reported as skipped.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

from layerwise.cli.errors import UserError
from layerwise.cli.progress import EpochBar, narration, say
from layerwise.reports import Report

DESCRIPTION = """Train one model of every family layerwise covers (dense, convolutional and recurrent networks,
an autoencoder and RBMs), each beside a simple baseline, print a results table and write an HTML report
with the plots. Progress goes to stderr, the table to stdout."""

EXAMPLES = """examples:
  layerwise tour                  about 3 minutes on a 2-core CPU; report in runs/tour/report.html
  layerwise tour --quick          the same in under a minute, with fewer epochs and less data
  layerwise tour --only cnn,rbm-features --out runs/cnn-tour

Data: scikit-learn's digits and breast cancer, statsmodels' sunspots, MNIST-1D generated locally
and a text corpus generated from a small grammar. Nothing is downloaded."""


@dataclass
class Result:
    """One line of the results table."""

    model: str
    data: str
    metric: str
    value: float
    baseline: str
    baseline_value: float
    higher_is_better: bool = True
    seconds: float = 0.0


@dataclass
class Tour:
    """What every step needs: the size of the run, the seed, where to report, and how to show progress."""

    quick: bool
    quiet: bool
    seed: int
    report: Report

    def pick(self, full, quick):
        """``full`` normally, ``quick`` with ``--quick``."""
        return quick if self.quick else full

    def fit(self, model, x, y, epochs: int, batch_size: int, validation_data=None, callbacks=()):
        """``model.fit`` with one progress bar over the epochs (none when quiet); returns History.history."""
        bars = [] if self.quiet else [EpochBar(epochs)]
        return model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data, verbose=0,
                         callbacks=[*bars, *callbacks]).history

    def stages(self, names: list[str]) -> "Stages":
        return Stages(names, self.quiet)


class Stages:
    """A bar over the named stages of a step that has no epochs to show (RBMs, baselines)."""

    def __init__(self, names: list[str], quiet: bool):
        from layerwise.utils.progbar import Progbar
        self.names, self.done = names, 0
        self.bar = None if quiet else Progbar(len(names), verbose=1, stream=sys.stderr)

    def next(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.done, {})


def steps() -> list[tuple[str, str, Callable[[Tour], Result]]]:
    """``(key, title, function)`` for every step, in the order they run."""
    from layerwise.cli import tour_estimators as est
    from layerwise.cli import tour_networks as net
    return [
        ("mlp", "Shallow dense network on breast cancer", net.shallow_mlp),
        ("deep-mlp", "Deep dense network on MNIST-1D", net.deep_mlp),
        ("cnn", "The course's CNN on digits", net.course_cnn),
        ("lstm", "LSTM forecaster on sunspots", net.lstm_forecaster),
        ("char-lstm", "Character-level LSTM generator", net.char_lstm),
        ("autoencoder", "Denoising autoencoder against PCA on digits", est.denoising_autoencoder),
        ("rbm-features", "RBM features for a classifier on digits", est.rbm_features),
        ("rbm-oversample", "RBM oversampling of a rare class", est.rbm_oversampling),
        ("rbm-impute", "RBM imputation of missing values", est.rbm_imputation),
    ]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("tour", parents=parents, help="train one model of every family and write a report",
                       description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer epochs and less data: under a minute")
    p.add_argument("--out", default=os.path.join("runs", "tour"), metavar="DIR", help="default runs/tour")
    p.add_argument("--only", metavar="STEPS", help="comma-separated steps: " + ", ".join(k for k, _, _ in steps()))
    p.set_defaults(run=run)


def _selected(only: str | None) -> list:
    chosen = steps()
    if only is not None:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        if not keys:
            raise UserError(f"--only {only!r} names no step; give one or more of "
                            f"{', '.join(k for k, _, _ in chosen)}, separated by commas.")
        unknown = [k for k in keys if k not in {key for key, _, _ in chosen}]
        if unknown:
            raise UserError(f"unknown tour step(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(k for k, _, _ in chosen)}.")
        chosen = [s for s in chosen if s[0] in keys]
    return chosen


def run(args) -> int:
    from layerwise.backend import set_random_seed

    chosen = _selected(args.only)
    seed = 0 if args.seed is None else args.seed
    report = Report(args.out, "layerwise tour" + (" (quick)" if args.quick else ""),
                    "One model of every family layerwise covers, each beside a simple baseline, on data that "
                    "ships with the Python packages (nothing is downloaded).")
    tour = Tour(args.quick, args.quiet, seed, report)
    placeholder = len(report.parts)  # the results table goes first, once the numbers exist
    results: list[Result | tuple[str, str]] = []
    begin = time.perf_counter()
    for number, (key, title, step) in enumerate(chosen, start=1):
        say(f"\n[{number}/{len(chosen)}] {title}", args.quiet)
        report.section(title)
        set_random_seed(seed)
        start = time.perf_counter()
        try:
            with narration():  # what a step's libraries print is progress; stdout gets the results table
                result = step(tour)
        except ImportError as err:  # an optional package (statsmodels, mnist1d, imbalanced-learn) is missing
            reason = f"skipped: {err.name or err} is not installed (pip install 'layerwise[test]')"
            report.paragraph(reason, note=True)
            say(f"  {reason}", args.quiet)
            results.append((title, reason))
            continue
        result.seconds = time.perf_counter() - start
        results.append(result)
        say(f"  {result.metric}: {result.value:.4g} (baseline {result.baseline}: {result.baseline_value:.4g}) "
            f"in {result.seconds:.1f} s", args.quiet)
    total = time.perf_counter() - begin
    table = results_table(results)
    header, rows = table[0], table[1:]
    _insert_results(report, placeholder, header, rows, total)
    path = report.save()
    print("\n" + format_table(header, rows))
    print(f"\nTotal {total:.1f} s. Report: {path}")
    return 0


def results_table(results: list) -> list[list[str]]:
    """Header and rows: model, data, metric, value, baseline, its value, better?, seconds."""
    rows = [["model", "data", "metric", "value", "baseline", "baseline value", "beats baseline", "seconds"]]
    for r in results:
        if isinstance(r, tuple):
            rows.append([r[0], "", r[1], "", "", "", "", ""])
            continue
        better = r.value > r.baseline_value if r.higher_is_better else r.value < r.baseline_value
        rows.append([r.model, r.data, r.metric, f"{r.value:.4f}", r.baseline, f"{r.baseline_value:.4f}",
                     "yes" if better else "no", f"{r.seconds:.1f}"])
    return rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    numeric = {3, 5, 7}  # value, baseline value, seconds: right-aligned so digits line up

    def line(row):
        cells = zip(row, widths)
        return "  ".join(str(c).rjust(w) if k in numeric else str(c).ljust(w) for k, (c, w) in enumerate(cells))
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _insert_results(report: Report, at: int, header: list[str], rows: list[list[str]], total: float) -> None:
    """Put the results table at the top of the report (it is known only after every step ran)."""
    tail = report.parts[at:]
    report.parts = report.parts[:at]
    report.section("Results", f"All steps took {total:.1f} s on this machine. Lower is better for errors and "
                              "bits per character; higher for accuracies.")
    report.table(header, rows)
    report.parts.extend(tail)
