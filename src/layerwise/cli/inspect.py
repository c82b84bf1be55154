"""``layerwise evaluate``, ``predict`` and ``summary``: use a trained model on new data."""
from __future__ import annotations

import argparse

import numpy as np

from layerwise.cli import data_loading as dl
from layerwise.cli import model_files, tasks
from layerwise.cli.errors import UserError, check_at_least_one
from layerwise.cli.progress import say

EVALUATE_EXAMPLES = """examples:
  layerwise evaluate runs/photos --data photos_test/
  layerwise evaluate runs/patients/model.lw --data patients_test.csv

MODEL is the folder `layerwise train --out` wrote (or its model.lw); the data must have the
same columns (or classes) as the training data, including the true values."""

PREDICT_EXAMPLES = """examples:
  layerwise predict runs/photos --data new_photos/ -o predictions.csv
  layerwise predict runs/patients --data new_patients.csv

Classifiers write one row per sample: its name, the predicted class and the probability of each
class. Regression and forecasting models write the predicted value; autoencoders their codes and
RBMs their hidden-unit features."""


def add_parsers(sub, parents) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evaluate", parents=parents, help="score a trained model on labelled data",
                       description="Score a trained model on data with known answers.", epilog=EVALUATE_EXAMPLES,
                       formatter_class=fmt)
    p.add_argument("model", metavar="MODEL", help="the folder `train --out` wrote, or its model.lw")
    p.add_argument("--data", required=True, metavar="PATH", help="data in the training data's form")
    p.add_argument("--batch-size", type=int, default=256, help="samples per step (default 256)")
    p.set_defaults(run=run_evaluate)

    p = sub.add_parser("predict", parents=parents, help="predict with a trained model and write a CSV",
                       description="Predict with a trained model.", epilog=PREDICT_EXAMPLES, formatter_class=fmt)
    p.add_argument("model", metavar="MODEL", help="the folder `train --out` wrote, or its model.lw")
    p.add_argument("--data", required=True, metavar="PATH", help="data in the training data's form")
    p.add_argument("-o", "--output", default="predictions.csv", metavar="CSV", help="default predictions.csv")
    p.add_argument("--batch-size", type=int, default=256, help="samples per step (default 256)")
    p.set_defaults(run=run_predict)

    p = sub.add_parser("summary", parents=parents, help="show a model's layers, parameters and training card",
                       description="Show a saved model's layers and parameter counts (Keras' table).",
                       epilog="examples:\n  layerwise summary runs/photos\n  layerwise summary cnn.lw",
                       formatter_class=fmt)
    p.add_argument("model", metavar="MODEL", help="a model folder or a .lw file")
    p.set_defaults(run=run_summary)


def _prepare(args, card: dict, needs_target: bool) -> tasks.Prepared:
    if card.get("task") == "raw":
        if not args.data.lower().endswith(".npz"):
            raise UserError(f"{args.model} has no {model_files.CARD_FILE} (a model saved from Python), so --data must "
                            f"be an .npz file with an array x; got {args.data}.")
        x, y = dl.load_npz(args.data)
        return tasks.Prepared(x, y, [f"row {i}" for i in range(len(x))])
    return tasks.prepare(args.data, card, fitting=False, quiet=args.quiet, needs_target=needs_target)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32)


def run_evaluate(args) -> int:
    check_at_least_one(batch_size=args.batch_size)
    model, card = model_files.load(args.model)
    data = _prepare(args, card, needs_target=card.get("task") not in ("reduce", "features"))
    task = card.get("task")
    if task == "reduce":
        scores = {"reconstruction_mse": -model.score(_flat(data.x))}
    elif task == "features":
        from layerwise.rbm.monitoring import reconstruction_error
        scores = {"reconstruction_error": reconstruction_error(model, _flat(data.x))}
    else:
        if data.y is None:
            raise UserError(f"{args.data} has no true values (labels or target column) to evaluate against.")
        if model.optimizer is None:
            raise UserError(f"{args.model} was saved without compile settings, so it has no loss to evaluate.")
        y = data.y if task in ("classify", "text", "raw") else data.y.reshape(-1, 1)
        scores = model.evaluate(data.x, y, batch_size=args.batch_size, verbose=0, return_dict=True)
        if task == "forecast":  # errors in the series' own units, beside the last-value baseline
            t = card["features"].index(card["target"])
            pred = tasks.unscale_target(card, model.predict(data.x, verbose=0)[:, 0])
            actual, last = tasks.unscale_target(card, data.y), tasks.unscale_target(card, data.x[:, -1, t])
            scores["mae_units"] = float(np.mean(np.abs(pred - actual)))
            scores["baseline_mae_units"] = float(np.mean(np.abs(last - actual)))
    say(f"Evaluated on {len(data.x)} samples of {args.data}:", args.quiet)
    for name, value in scores.items():
        print(f"{name}: {value:.4f}")
    return 0


def run_predict(args) -> int:
    check_at_least_one(batch_size=args.batch_size)
    dl.check_output_file(args.output, "-o", (args.data, args.model))
    model, card = model_files.load(args.model)
    task = card.get("task")
    if task == "text":
        raise UserError("text models continue a prompt: use `layerwise generate MODEL --prompt TEXT`.")
    data = _prepare(args, card, needs_target=False)
    if task == "reduce":
        values = model.transform(_flat(data.x))
        header, rows = ["sample"] + [f"code_{k + 1}" for k in range(values.shape[1])], values.tolist()
    elif task == "features":
        values = model.transform(_flat(data.x))
        header, rows = ["sample"] + [f"h_{k + 1}" for k in range(values.shape[1])], values.tolist()
    else:
        out = model.predict(data.x, batch_size=args.batch_size, verbose=0)
        if task == "classify":
            classes = card["classes"]
            header = ["sample", "class"] + [f"p({c})" for c in classes]
            rows = [[classes[int(np.argmax(p))], *p.tolist()] for p in out]
        elif task in ("regress", "forecast"):
            values = out[:, 0] if task == "regress" else tasks.unscale_target(card, out[:, 0])
            target = card.get("target") or "value"  # an .npz target has no column name
            header, rows = ["sample", f"predicted_{target}"], [[v] for v in values.tolist()]
        else:  # a model saved from Python, without a card: its raw outputs
            header, rows = ["sample"] + [f"output_{k + 1}" for k in range(out.shape[1])], out.tolist()
    dl.write_csv(args.output, header, [[name, *row] for name, row in zip(data.names, rows)])
    say(f"Wrote {len(rows)} predictions to {args.output}", args.quiet)
    return 0


def run_summary(args) -> int:
    model, card = model_files.load(args.model)
    if hasattr(model, "summary"):
        model.summary()
    else:
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(model.get_params().items()))
        print(f"{type(model).__name__}({params})")
        if hasattr(model, "encoder_"):
            model.encoder_.summary()
            model.decoder_.summary()
    if card.get("task") != "raw":
        shown = {k: v for k, v in card.items() if k not in ("mean", "std", "vocab")}
        print("Training card:", ", ".join(f"{k}={v}" for k, v in shown.items()))
    return 0
