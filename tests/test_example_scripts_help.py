"""The examples without options still answer ``--help`` (and refuse stray arguments) instead of running the whole
job: a newcomer's first ``--help`` on ``autoencoder_digits.py`` trained for a minute and printed no usage.
``autoencoder_denoise_mnist.py`` describes itself in ``--help`` and refuses counts and noise levels it cannot use
with one argparse line (a traceback from ``fit`` or the noise layer before).

Each script is loaded as a module, which must not start the job, and its ``main`` is given the arguments."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["autoencoder_digits", "rbm_digits_features", "rbm_impute_and_oversample"]
DENOISE = "autoencoder_denoise_mnist"


def example_main(name: str):
    """``examples/<name>.py`` loaded as a module (its imports only, no training); its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("name", [*SCRIPTS, DENOISE])
def test_help_prints_usage_and_the_docstring_without_training(name, capsys):
    main = example_main(name)
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:")
    assert f"examples/{name}.py" in out  # the docstring's command line


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_stray_argument_is_refused(name, capsys):
    main = example_main(name)
    with pytest.raises(SystemExit) as stop:
        main(["--epochs", "3"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --epochs 3" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--train", "5"], "argument --train: must be 10 or more, got 5"),
    (["--noise", "-1"], "argument --noise: must be a finite number above 0, got -1"),
])
def test_denoise_refuses_unusable_values_before_loading_data(args, message, capsys):
    main = example_main(DENOISE)
    with pytest.raises(SystemExit) as stop:
        main([*args, "--data", "/nonexistent/mnist.npz"])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
