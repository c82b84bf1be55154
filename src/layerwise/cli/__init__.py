"""The ``layerwise`` command: train, use and inspect models, transform CSV files, and take the tour.

``main(argv)`` parses the arguments, runs one subcommand and returns its exit status. Every user
mistake becomes one line on stderr and a non-zero status (see ``errors.py``); outputs are written to
temporary files and renamed, so an interrupted command leaves no half-written file.
"""
from __future__ import annotations

import argparse
import sys

from layerwise.cli.errors import UserError, run_guarded

EPILOG = """examples:
  layerwise tour                      one model of every family, a results table and runs/tour/report.html
  layerwise train --model cnn --data photos/ --epochs 10 --out runs/photos
  layerwise evaluate runs/photos --data photos_test/
  layerwise predict runs/photos --data new_photos/ -o predictions.csv
  layerwise generate runs/text --prompt "the " --length 200 --temperature 0.7
  layerwise oversample patients.csv --target diagnosis -o balanced.csv

Run `layerwise COMMAND --help` for each command's options and examples."""


def _seed(text: str) -> int:
    """A seed as every generator takes it: an integer from 0 to 2**32 - 1."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= seed < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {seed}")
    return seed


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="print no progress, only results and errors")
    common.add_argument("--seed", type=_seed, default=None, help="seed every random generator (repeatable runs)")
    common.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    return common


def build_parser() -> argparse.ArgumentParser:
    from layerwise import __version__
    from layerwise.cli import data_tools, generate, inspect, tour, train

    parser = argparse.ArgumentParser(prog="layerwise", description="Keras models on PyTorch, from the command line.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"layerwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = [_common_options()]
    tour.add_parser(sub, parents)
    train.add_parser(sub, parents)
    inspect.add_parsers(sub, parents)
    generate.add_parsers(sub, parents)
    data_tools.add_parsers(sub, parents)
    return parser


def _thread_count(requested: int | None, quiet: bool) -> int | None:
    """``--threads``, else None (PyTorch's default) unless the machine is already busy, then 1.

    On an oversubscribed machine every parallel region waits for a descheduled partner thread, and
    the small models of the tour run tens of times slower with 2 threads than with 1 (measured:
    5.5 s against 0.02 s for one LSTM epoch at load 9 on 2 cores).
    """
    import os

    if requested is not None:
        if requested < 1:
            raise UserError(f"--threads must be at least 1, got {requested}.")
        return requested
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if cores > 1 and load >= cores:
        if not quiet:  # said once, before the work whose speed it explains
            print(f"(The machine is busy, load {load:.1f} on {cores} cores: using 1 thread; "
                  "--threads N overrides.)", file=sys.stderr, flush=True)
        return 1
    return None


def _run(args) -> int:
    """Run the chosen subcommand with its thread count (PyTorch and BLAS), restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    from layerwise.backend import set_random_seed

    trains = args.command in ("tour", "train", "oversample", "impute", "reduce", "features")
    threads = _thread_count(args.threads, args.quiet or not trains)
    before = torch.get_num_threads()
    if args.seed is not None:
        set_random_seed(args.seed)
    if threads is None:
        return args.run(args)
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            return args.run(args)
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    """Run the ``layerwise`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand's parser, with its usage line, as argparse reports its own errors
        subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        (subcommands.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:  # as argparse reports a missing argument: usage and one line, on stderr
        parser.print_usage(sys.stderr)
        print("layerwise: error: a COMMAND is required; `layerwise --help` lists them.", file=sys.stderr)
        return 2
    return run_guarded(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
