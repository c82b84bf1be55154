"""A user's mistake gives one clear line on stderr and exit status 2, never a traceback; an
interrupted command leaves no half-written output."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    (root / "malformed.csv").write_text("a,b,label\n1,2,x\n3,4\n5,6,y\n7,8,z,9\n")
    (root / "words.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    (root / "empty").mkdir()
    (root / "images" / "c0").mkdir(parents=True)
    (root / "images" / "c0" / "broken.png").write_bytes(b"not a png at all")
    (root / "model.keras").write_bytes(b"PK\x03\x04" + b"\0" * 64)
    (root / "notes.txt").write_text("hello")
    (root / "numbers.csv").write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    (root / "one_class.csv").write_text("a,b,label\n1,2,x\n3,4,x\n5,6,x\n")
    (root / "typo.csv").write_text('a,b\n1,2\n,3\n"1,4",5\n7,8\n')
    (root / "one_row.csv").write_text("a,b,c\n1,2,3\n")
    np.savez(root / "nan.npz", x=np.full((4, 3), np.nan), y=np.arange(4) % 2)
    return {p: os.fspath(root / p) for p in os.listdir(root)}


CASES = [  # (arguments, words the one line must contain)
    (["train", "--model", "mlp", "--data", "{tmp}/nowhere.csv"], "no such"),
    (["train", "--model", "mlp", "--data", "{iris.csv}", "--target", "colour"], "no column 'colour'"),
    (["train", "--model", "mlp", "--data", "{words.csv}", "--target", "label"], "line 3: column 'b' must be numeric"),
    (["train", "--model", "cnn", "--data", "{images}"], "broken.png: cannot read this image"),
    (["train", "--model", "cnn", "--data", "{empty}"], "no images found"),
    (["train", "--model", "transformer", "--data", "{iris.csv}"], "unknown recipe 'transformer'"),
    (["evaluate", "{model.keras}", "--data", "{iris.csv}"], "not a layerwise model file"),
    (["summary", "{notes.txt}"], "not a layerwise model file"),
    (["train", "--model", "mlp", "--data", "{malformed.csv}"], "line 3 has 2; line 5 has 4"),
    (["oversample", "{iris.csv}", "--target", "colour", "-o", "{tmp}/o.csv"], "no column 'colour'"),
    (["oversample", "{complete.csv}", "--target", "f0", "-o", "{tmp}/o.csv"], "it looks continuous"),
    (["reduce", "{words.csv}", "-o", "{tmp}/o.csv"], "must be numeric"),
    (["train", "--model", "cnn", "--data", "{iris.csv}"], "needs images"),
    (["train", "--model", "lstm", "--data", "{images}"], "reads sequences"),
    (["train", "--model", "lstm", "--data", "{iris.csv}", "--target", "species"], "to classify sequences"),
    (["train", "--model", "{tmp}/net.yaml", "--data", "{iris.csv}"], "no such model description"),
    (["tour", "--only", "everything"], "unknown tour step"),
    (["reduce", "{numbers.csv}", "--dim", "1", "--method", "pca", "-o", "{numbers.csv}"], "would overwrite"),
    (["reduce", "{numbers.csv}", "--method", "pca", "-o", "{tmp}/o.csv", "--plot", "{numbers.csv}"], "would overwrite"),
    (["oversample", "{one_class.csv}", "--target", "label", "-o", "{one_class.csv}"], "would overwrite"),
    (["train", "--model", "mlp", "--data", "{one_class.csv}", "--target", "label"], "every label is 'x'"),
    (["impute", "{typo.csv}", "-o", "{tmp}/o.csv"], "line 4: column 'a' must be numeric, found '1,4'"),
    (["reduce", "{one_row.csv}", "--method", "pca", "-o", "{tmp}/o.csv"], "has 1 row(s)"),
    (["train", "--model", "mlp", "--data", "{images}/c0/broken.png"], "is one image; give a folder"),
    (["train", "--model", "mlp", "--data", "{nan.npz}"], "nan.npz: array x holds 12 NaN or infinite value(s)"),
]


@pytest.mark.parametrize("args, words", CASES, ids=[" ".join(c[0][:2]) + f" #{i}" for i, c in enumerate(CASES)])
def test_one_clear_line_and_status_2(cli, data, bad, tmp_path, args, words):
    paths = {**data, **bad, "tmp": os.fspath(tmp_path)}
    def fill(arg: str) -> str:
        for key, path in paths.items():
            arg = arg.replace("{" + key + "}", path)
        return arg
    status, _, stderr = cli(*map(fill, args), "--quiet")
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerwise: error: "), stderr
    assert words in lines[0]
    assert "Traceback" not in stderr


def test_console_command_shows_no_traceback(bad, tmp_path):
    """The real entry point, in a subprocess: a bad model file is one line, exit status 2."""
    result = subprocess.run([sys.executable, "-m", "layerwise.cli", "summary", bad["model.keras"]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_every_subcommand_has_help_with_examples(cli):
    for command in ("tour", "train", "evaluate", "predict", "summary", "generate", "forecast", "oversample",
                    "impute", "reduce", "features"):
        with pytest.raises(SystemExit) as exit_info:
            cli(command, "--help")
        assert exit_info.value.code == 0


def test_interrupted_command_leaves_no_output(cli, data, tmp_path, monkeypatch):
    """Ctrl-C while the output is being renamed into place: no output file and no temporary file."""
    def interrupted(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    status, _, stderr = cli("reduce", data["iris.csv"], "--label", "species", "--method", "pca",
                            "-o", tmp_path / "codes.csv", "--quiet")
    assert status == 130 and "interrupted" in stderr
    assert os.listdir(tmp_path) == []


def test_impute_checks_the_truth_file_before_writing(cli, data, tmp_path):
    out = tmp_path / "filled.csv"
    status, _, stderr = cli("impute", data["missing.csv"], "-o", out, "--truth", data["series.csv"], "--quiet")
    assert status == 2 and "series.csv" in stderr
    assert not out.exists()


def test_inputs_are_never_overwritten(cli, bad):
    before = open(bad["numbers.csv"]).read()
    cli("reduce", bad["numbers.csv"], "--dim", "1", "--method", "pca", "-o", bad["numbers.csv"], "--quiet")
    assert open(bad["numbers.csv"]).read() == before


def test_a_bad_seed_names_the_option(cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("train", "--model", "mlp", "--data", "x.csv", "--seed", "-5")
    assert exit_info.value.code == 2
    assert "argument --seed: must be between 0 and 2**32 - 1, got -5" in capsys.readouterr().err


def test_an_unknown_option_is_reported_by_its_subcommand(cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("evaluate", "runs/x", "--data", "x.csv", "--nope")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: layerwise evaluate") and "unrecognized arguments: --nope" in err
