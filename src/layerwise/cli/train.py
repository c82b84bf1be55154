"""``layerwise train``: a named recipe (or a JSON/YAML description) on an image folder, CSV, .npz or text file."""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from layerwise import recipes
from layerwise.cli import data_loading as dl
from layerwise.cli import model_files, spec, tasks
from layerwise.cli.errors import UserError, check_at_least_one
from layerwise.cli.progress import narration, say

RECIPES = ("mlp", "deep-mlp", "cnn", "lstm", "gru", "autoencoder", "rbm")
# Defaults of the options that apply to some recipes only: None in argparse tells "not given" apart.
DEFAULTS = {"validation_split": 0.2, "dim": 2, "units": 64}

DESCRIPTION = """Train a model on your data and write it, with its training history and an HTML report,
to the --out folder. Use the folder afterwards with evaluate, predict, summary, generate or forecast."""

EXAMPLES = f"""examples:
  layerwise train --model cnn --data photos/ --epochs 10 --out runs/photos
  layerwise train --model mlp --data patients.csv --target diagnosis
  layerwise train --model mlp --data scores.csv --target grade --task classify
  layerwise train --model lstm --data sunspots.csv --target SUNACTIVITY --window 12
  layerwise train --model lstm --data corpus.txt --epochs 5          (a character-level text model)
  layerwise train --model autoencoder --data digits.npz --dim 2
  layerwise train --model my_net.json --data digits.npz

data: a folder with one sub-folder of images per class, a .csv/.tsv file (a time series for lstm/gru),
an .npz file with arrays x (and y), or a .txt file. --out gets model.lw, card.json, report.html with its
plots and, for networks, history.csv (an autoencoder's or RBM's training is in its report).

task: image folders are classified. A CSV target is classified when it holds text, or numbers that are
all integers with at most {tasks.MAX_INTEGER_CLASSES} distinct values; other numbers are regressed. .npz
labels are classified unless they hold fractions. --task classify or --task regress overrides the guess."""


def add_parser(sub, parents) -> None:
    p = sub.add_parser("train", parents=parents, help="train a model and write it with its history and report",
                       description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="RECIPE",
                   help=f"one of {', '.join(RECIPES)}, or a .json/.yaml file describing the layers")
    p.add_argument("--data", required=True, metavar="PATH", help="image folder, CSV, .npz or text file")
    p.add_argument("--target", metavar="COLUMN",
                   help="the CSV column to predict (default: target/label/class/y, else the last column); "
                   f"numbers are classes when all are integers with at most {tasks.MAX_INTEGER_CLASSES} distinct "
                   "values, else regressed (see --task)")
    p.add_argument("--task", choices=("auto", "classify", "regress"), default="auto",
                   help="classify or regress the target of a CSV or .npz file (default auto: the rule under --target)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (default 32)")
    p.add_argument("--validation-split", type=float, metavar="F",
                   help="share of the data held out to validate networks (default 0.2)")
    p.add_argument("--window", type=int, help="steps per input window for lstm/gru (default 12; 40 for text)")
    p.add_argument("--dim", type=int, help="code size of an autoencoder (default 2)")
    p.add_argument("--units", type=int, help="hidden units of mlp/lstm/gru/rbm (default 64)")
    p.add_argument("--out", default=os.path.join("runs", "train"), metavar="DIR",
                   help="output folder (default runs/train)")
    p.set_defaults(run=run)


def _check_arguments(args) -> None:
    check_at_least_one(epochs=args.epochs, batch_size=args.batch_size)
    check_at_least_one(**{k: getattr(args, k) for k in ("window", "dim", "units") if getattr(args, k) is not None})
    if args.validation_split is not None and not 0 <= args.validation_split < 1:
        raise UserError(f"--validation-split must be in [0, 1), got {args.validation_split}.")
    if not spec.is_spec_path(args.model) and args.model not in RECIPES:
        raise UserError(f"unknown recipe {args.model!r}; choose one of {', '.join(RECIPES)}, "
                        "or give a .json/.yaml file describing the layers.")


def _task(recipe: str, kind: str) -> str:
    """The card's task; 'auto' where the labels decide between classify and regress (tasks.prepare)."""
    if kind == "text" and recipe not in ("lstm", "gru") and not spec.is_spec_path(recipe):
        raise UserError(f"text files train character-level models: use --model lstm or --model gru "
                        f"(--model {recipe} needs numeric data).")
    if recipe == "autoencoder":
        return "reduce"
    if recipe == "rbm":
        return "features"
    if recipe in ("lstm", "gru") and kind not in ("series", "text"):
        raise UserError(f"--model {recipe} reads sequences: give a time-series CSV or a text file.")
    return {"text": "text", "series": "forecast", "images": "classify"}.get(kind, "auto")


def _check_options(args, kind: str, task: str) -> None:
    """A UserError for an option given where it would be ignored (so nobody believes it was used)."""
    rules = [  # (option, given, applies, why not)
        ("--window", args.window is not None, task in ("text", "forecast"),
         "only recurrent models on a series or a text read windows"),
        ("--dim", args.dim is not None, args.model == "autoencoder", "only --model autoencoder has a code size"),
        ("--units", args.units is not None, args.model in ("mlp", "lstm", "gru", "rbm"),
         "only mlp, lstm, gru and rbm take a number of units"),
        ("--target", args.target is not None, kind in ("table", "series"),
         "only CSV files have columns; image folders and .npz files carry their own labels"),
        ("--validation-split", args.validation_split is not None, task not in ("reduce", "features"),
         "autoencoder and rbm train on all the data"),
        ("--task", args.task != "auto", task == "auto", "its task is fixed by the recipe and the data"),
    ]
    for option, given, applies, why in rules:
        if given and not applies:
            raise UserError(f"{option} does not apply to --model {args.model} on {tasks.KIND_NAMES[kind]}: {why}.")


def _say_task(card: dict, requested: str, quiet: bool) -> None:
    """Tell which of classify/regress the run does and why, as the guess can be wrong."""
    if card["task"] == "classify":
        what = f"classify into {len(card['classes'])} classes"
        guess = "guessed from the labels; --task regress overrides"
    else:
        what = "regress (predict a number)"
        guess = (f"guessed: the target holds fractions or more than {tasks.MAX_INTEGER_CLASSES} distinct integers; "
                 "--task classify overrides")
    say(f"Task: {what} ({'as --task asked' if requested != 'auto' else guess})", quiet)


def build_model(recipe: str, card: dict, input_shape: tuple[int, ...]):
    """The Sequential for ``recipe`` on the card's task, with its compile arguments."""
    classes = card.get("vocab") if card["task"] == "text" else card.get("classes")
    categorical = card["task"] in ("classify", "text")
    outputs, activation = (len(classes), "softmax") if categorical else (1, None)
    compile_args = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy" if categorical else "mse",
                    "metrics": ["accuracy"] if categorical else ["mae"]}
    if spec.is_spec_path(recipe):
        description = spec.read_spec(recipe)
        compile_args.update(description.get("compile") or {})  # read_spec checked it is an object
        return spec.build_from_spec(description, input_shape, recipe), compile_args
    if recipe == "cnn":
        if len(input_shape) != 3:
            raise UserError(f"--model cnn needs images (height, width, channels); this data has samples of "
                            f"shape {input_shape}. Use --model mlp for tables.")
        return recipes.course_cnn(input_shape, outputs), compile_args
    if recipe in ("mlp", "deep-mlp"):
        builder = recipes.mlp if recipe == "mlp" else recipes.deep_mlp
        kwargs = {"units": card["units"]} if recipe == "mlp" else {}
        return builder(input_shape, outputs, activation, **kwargs), compile_args
    builder = recipes.lstm if recipe == "lstm" else recipes.gru
    vocab = len(card["vocab"]) if card["task"] == "text" else None
    return builder(input_shape, outputs, activation, units=card["units"], vocab_size=vocab), compile_args


def run(args) -> int:
    _check_arguments(args)
    dl.check_output_folder(args.out, "--out")
    if os.path.exists(os.path.join(args.out, model_files.CARD_FILE)):
        say(f"note: --out {args.out} holds an earlier run: its model, card, history and report are replaced once "
            "this one has trained; other files there stay.", False)
    kind = dl.data_kind(args.data, args.model)
    task = _task(args.model, kind)
    _check_options(args, kind, task)
    for name, value in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    card = {"task": args.task if task == "auto" else task, "data_kind": kind, "recipe": args.model,
            "units": args.units, "data": os.path.abspath(args.data)}
    if args.window is not None:
        card["window"] = args.window
    say(f"Reading {args.data} ({kind})", args.quiet)
    data = tasks.prepare(args.data, card, fitting=True, target=args.target, quiet=args.quiet)
    if card["task"] == "classify" and len(card["classes"]) < 2:
        raise UserError(f"{args.data}: every label is {card['classes'][0]!r}; a classifier needs examples of at "
                        "least two classes.")
    with narration():  # model summaries, fit bars and RBM iterations are progress, not results
        if card["task"] in ("reduce", "features"):
            from layerwise.cli.train_estimators import train_estimator
            return train_estimator(args, card, data)
        if data.y is None:
            raise UserError(f"{args.data} has no labels (an array y) for --model {args.model} to learn; "
                            "--model autoencoder or rbm learn from x alone.")
        if card["task"] in ("classify", "regress"):
            _say_task(card, args.task, args.quiet)
        return _train_network(args, card, data)


def _train_network(args, card: dict, data: tasks.Prepared) -> int:
    from layerwise.cli.train_report import write_report

    if card["task"] in ("classify", "regress"):  # class folders come in order: shuffle before the split
        order = np.random.default_rng(args.seed).permutation(len(data.x))
        data = tasks.Prepared(data.x[order], data.y[order], [data.names[i] for i in order],
                              None if data.images is None else data.images[order])
    n_train = len(data.x) - int(np.floor(len(data.x) * args.validation_split))
    if args.validation_split and (n_train == len(data.x) or n_train == 0):
        raise UserError(f"--validation-split {args.validation_split} leaves no rows to train or validate on "
                        f"with {len(data.x)} samples.")
    model, compile_args = build_model(args.model, card, tuple(data.x.shape[1:]))
    try:
        model.compile(**compile_args)
    except (TypeError, ValueError) as err:
        raise UserError(f"{args.model}: cannot compile the model: {err}") from None
    if not args.quiet:
        model.summary()
    y = data.y if card["task"] in ("classify", "text") else data.y.reshape(-1, 1)
    start = time.perf_counter()
    history = model.fit(data.x, y, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=args.validation_split, verbose=0 if args.quiet else 1)
    card["seconds"] = round(time.perf_counter() - start, 2)
    model_path = model_files.save(args.out, model, card)
    _write_history(os.path.join(args.out, "history.csv"), history.history)
    report = write_report(args, card, model, data, n_train, history.history)
    last = {k: round(v[-1], 4) for k, v in history.history.items()}
    say(f"Trained in {card['seconds']:.1f} s: {last}\nWrote {model_path}, history.csv and {report}", args.quiet)
    return 0


def _write_history(path: str, history: dict[str, list[float]]) -> None:
    names = list(history)
    rows = [[epoch + 1, *(history[n][epoch] for n in names)] for epoch in range(len(history[names[0]]))]
    dl.write_csv(path, ["epoch", *names], rows)
