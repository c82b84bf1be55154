"""``layerwise tour --quick``: every family trains, the results table is printed, and the report
renders in headless Chromium with every image loaded."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess

import pytest

from layerwise.cli import main

STEPS = 9


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> tuple[str, dict[str, list[str]]]:
    """Run the quick tour once; returns (report folder, results table rows keyed by step)."""
    out = tmp_path_factory.mktemp("tour")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["tour", "--quick", "--out", os.fspath(out), "--threads", "1"])
    assert status == 0
    text, progress = stdout.getvalue(), stderr.getvalue()
    assert "[1/9]" in progress and "[9/9]" in progress  # each step announces itself on stderr, with its bar
    assert "[1/9]" not in text and "━" not in text  # stdout holds the results table only
    table = text.split("\n-")[1].split("\n\n")[0].splitlines()[1:]
    rows = [re.split(r"\s{2,}", line.strip()) for line in table]
    keys = ["mlp", "deep-mlp", "cnn", "lstm", "char-lstm", "autoencoder", "rbm-features", "rbm-oversample",
            "rbm-impute"]
    return os.fspath(out), dict(zip(keys, rows))


def test_tour_trains_every_family_and_beats_simple_baselines(tour):
    _, rows = tour
    assert len(rows) == STEPS and rows["char-lstm"][0].startswith("char-level LSTM")
    assert all(len(row) == 8 and float(row[7]) >= 0 for row in rows.values()), rows
    value = {data: float(row[3]) for data, row in rows.items()}
    baseline = {data: float(row[5]) for data, row in rows.items()}
    assert value["mlp"] > 0.85 and value["cnn"] > 0.8 and value["rbm-features"] > 0.75
    assert value["rbm-oversample"] > 0.8
    assert value["deep-mlp"] > baseline["deep-mlp"]  # a deep network finds what a linear model cannot
    assert value["rbm-features"] > baseline["rbm-features"] + 0.05  # features that survive one-pixel shifts
    assert value["lstm"] < baseline["lstm"]
    assert value["char-lstm"] < 0.5 * baseline["char-lstm"]  # bits/char: the grammar is learned
    assert value["autoencoder"] < 1.2 * baseline["autoencoder"]
    assert value["rbm-impute"] < baseline["rbm-impute"]


def test_tour_report_renders_in_headless_chromium(tour, tmp_path):
    folder, _ = tour
    report = os.path.join(folder, "report.html")
    html = open(report, encoding="utf-8").read()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 14 and all(os.path.getsize(os.path.join(folder, i)) > 1000 for i in images)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where apt-get is available as root)")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--virtual-time-budget=5000", "--dump-dom", f"file://{report}"],
        capture_output=True, text=True, timeout=120)
    assert "<h1>layerwise tour (quick)</h1>" in result.stdout, result.stderr[-2000:]
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', result.stdout)
    assert loaded is not None, "the page's image check did not run"
    assert loaded.group(1) == loaded.group(2) == str(len(images))
