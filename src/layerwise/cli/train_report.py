"""The report ``layerwise train`` writes for a network: summary, curves and validation results by task."""
from __future__ import annotations

import os

import numpy as np

from layerwise.cli import tasks
from layerwise.reports import Report, plots, sections


def model_summary_text(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def write_report(args, card: dict, model, data: tasks.Prepared, n_train: int, history: dict) -> str:
    """Write ``args.out/report.html``; returns its path."""
    report = Report(args.out, f"layerwise train: {args.model} on {os.path.basename(os.path.normpath(args.data))}")
    report.table(["", ""], [["task", card["task"]], ["data", args.data], ["samples", len(data.x)],
                            ["training / validation", f"{n_train} / {len(data.x) - n_train}"],
                            ["epochs", args.epochs], ["batch size", args.batch_size],
                            ["seconds", card["seconds"]]])
    report.section("Model")
    report.preformatted(model_summary_text(model))
    report.section("Training")
    sections.history(report, "train", history)
    held_out = n_train < len(data.x)
    what = "validation" if held_out else "training"
    part = slice(n_train, None) if held_out else slice(None)
    x, y = data.x[part], data.y[part]
    report.section(f"Results ({what} data)")
    if card["task"] == "classify":
        images = None if data.images is None else data.images[part]
        sections.classifier(report, "train", model.predict(x, verbose=0), y, card["classes"], images, what)
    elif card["task"] == "regress":
        sections.regression(report, "train", y, model.predict(x, verbose=0)[:, 0], what)
    elif card["task"] == "forecast":
        _forecast_section(report, card, model, x, y)
    else:
        _text_section(report, card, model, x, y)
    return report.save()


def _forecast_section(report: Report, card: dict, model, x: np.ndarray, y: np.ndarray) -> None:
    t = card["features"].index(card["target"])
    actual = tasks.unscale_target(card, y)
    predicted = tasks.unscale_target(card, model.predict(x, verbose=0)[:, 0])
    persistence = tasks.unscale_target(card, x[:, -1, t])  # "tomorrow as today": the baseline to beat
    sections.regression(report, "forecast", actual, predicted, "validation", persistence, "last value (baseline)")


def _text_section(report: Report, card: dict, model, x: np.ndarray, y: np.ndarray) -> None:
    from layerwise.cli.generate import sample_text

    probs = model.predict(x, verbose=0)
    accuracy = float(np.mean(probs.argmax(1) == y))
    bits = float(-np.mean(np.log2(np.clip(probs[np.arange(len(y)), y], 1e-12, 1))))
    report.paragraph(f"Next-character accuracy {accuracy:.3f}, {bits:.3f} bits per character.")
    prompt = "".join(card["vocab"][i] for i in x[0])
    for temperature in (0.5, 1.0):
        text = sample_text(model, card, prompt, 300, temperature, np.random.default_rng(0))
        report.paragraph(f"Generated at temperature {temperature}, from the prompt {prompt!r}:")
        report.preformatted(text)


def forecast_plot(report: Report, name: str, context: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> None:
    """Multi-step forecast against the actual continuation (used by ``layerwise forecast``)."""
    report.figure(name, "Forecast against actual values; the gray line is the history it starts from.",
                  lambda: plots.forecast(actual, predicted, len(context), context))
