"""Shared helpers of the speed benchmarks: timing, JSON result lines, the side-by-side driver.

Standard library only: the keras-tf contender runs this file from a venv without torch.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
TF_PYTHON = ROOT / ".venv-keras-tf" / "bin" / "python"
RESULT_PREFIX = "RESULT "  # marks the JSON line among whatever else a framework prints

BUSY_WARNING = 0.1  # cores' worth of other processes' work above which figures are flagged

Timing = tuple[float, list[float]]  # (median seconds, every repeat's seconds)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed (compilation, allocator, caches), then time it ``repeats`` times."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(round(time.perf_counter() - start, 6))
    return statistics.median(times), times


def throughput_record(items: int, train: Timing, predict: Timing, params: int, **extra) -> dict:
    """A contender's result: ``items`` (images or sequences) per second from the medians, every repeat's
    seconds to judge the noise, the parameter count, and any ``extra`` figures."""
    return {"params": params, "train_per_s": items / train[0], "predict_per_s": items / predict[0], **extra,
            "train_s": train[1], "predict_s": predict[1]}


def cpu_model() -> str:
    """The CPU's marketing name, as /proc/cpuinfo gives it where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Versions of the frameworks installed in this interpreter (read from metadata, imports nothing)."""
    found = {}
    for dist in ("torch", "keras", "tensorflow", "tensorflow-cpu", "layerwise"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def describe_machine() -> str:
    """One line: CPU, core count, Python."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (0 where /proc/stat is missing)."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds used by this process' finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def emit(result: dict, as_json: bool) -> None:
    """Print a contender's result: one machine-readable line, or ``key: value`` lines for people."""
    if as_json:
        print(RESULT_PREFIX + json.dumps(result), flush=True)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a contender process: the same thread count for every framework, quiet TF logs."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
    )
    return env


def run_contender(script: Path, name: str, python: Path, repeats: int, threads: int, timeout: float) -> dict:
    """Run one contender in its own process (no shared threads or imports); its result or why there is none."""
    if not python.exists():
        return {"contender": name, "status": f"unavailable ({python.parent.parent.name} missing; run benchmarks/run_all.sh)"}
    command = [str(python), str(script), "--contender", name, "--json", "--repeats", str(repeats), "--threads", str(threads)]
    # CPU the machine used during the run minus what the contender used: other people's work, which skews figures.
    before = time.perf_counter(), machine_cpu_seconds(), children_cpu_seconds()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=thread_env(threads))
    except subprocess.TimeoutExpired:
        return {"contender": name, "status": f"failed (timed out after {timeout:.0f} s)"}
    wall = time.perf_counter() - before[0]
    others = (machine_cpu_seconds() - before[1] - (children_cpu_seconds() - before[2])) / wall
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            if others > BUSY_WARNING and result["status"] == "ok":
                result["status"] = f"ok, but other processes used {others:.1f} cores meanwhile: unreliable"
            return result
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"contender": name, "status": f"failed (exit {done.returncode}: {tail})"}


def setup_torch(threads: int) -> None:
    """Give PyTorch the same intra- and inter-op thread counts as every other contender."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def import_keras(backend: str, threads: int):
    """Keras 3 on ``backend`` ("torch" or "tensorflow"), its framework's threads set before any op runs."""
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        setup_torch(threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    if keras.backend.backend() != backend:  # e.g. a keras.json that overrides the variable
        raise RuntimeError(f"asked for Keras on {backend}, got {keras.backend.backend()}")
    return keras


def keras_api(contender: str, threads: int):
    """The module a Keras-API contender's code runs on (``Sequential``, ``Input``, ``layers``): layerwise for
    "layerwise", Keras 3 on its torch or TensorFlow backend for "keras-torch" / "keras-tf"."""
    if contender == "layerwise":
        setup_torch(threads)
        import layerwise

        return layerwise
    return import_keras({"keras-torch": "torch", "keras-tf": "tensorflow"}[contender], threads)


def markdown_table(results: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Results as a markdown table; ``columns`` are (result key, header, format) triples."""
    header = ["contender", *(title for _, title, _ in columns), "status"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        ok = result.get("status", "").startswith("ok")
        cells = [format(result[key], fmt) if ok else "-" for key, _, fmt in columns]
        rows.append("| " + " | ".join([result["contender"], *cells, result["status"]]) + " |")
    return "\n".join(rows)


def main(
    title: str,
    script: Path,
    contenders: dict[str, Callable[[int, int], dict]],
    columns: list[tuple[str, str, str]],
) -> None:
    """Command line shared by the speed benchmarks: ``--contender NAME [--json]`` runs one, ``--all`` drives all."""
    parser = argparse.ArgumentParser(description=title)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--contender", choices=sorted(contenders))
    which.add_argument("--all", action="store_true", help="run every contender, each in its own process")
    parser.add_argument("--json", action="store_true", help="print one RESULT JSON line (used by --all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement; the median is kept")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra- and inter-op threads, all frameworks")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one contender may take")
    args = parser.parse_args()

    if args.contender:
        result = {"contender": args.contender, "status": "ok", "threads": args.threads, "repeats": args.repeats}
        try:
            result |= contenders[args.contender](args.threads, args.repeats)
        except ImportError as error:  # the engine or a framework is not there (yet)
            result = {"contender": args.contender, "status": f"unavailable ({error})"}
        result["versions"] = versions()
        emit(result, args.json)
        return

    print(f"## {title}\n\n{describe_machine()}; {args.threads} threads per framework; median of {args.repeats} repeats after warm-up.\n")
    results = []
    for name in contenders:
        python = TF_PYTHON if name == "keras-tf" else Path(sys.executable)
        results.append(run_contender(script, name, python, args.repeats, args.threads, args.timeout))
        print(f"  {name}: {results[-1]['status']}", file=sys.stderr, flush=True)
    print(markdown_table(results, columns))
    installed = sorted({f"{dist} {version}" for r in results for dist, version in r.get("versions", {}).items()})
    print("\nVersions: " + ", ".join(installed) + "\n", flush=True)
