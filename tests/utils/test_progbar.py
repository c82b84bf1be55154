"""``utils.Progbar`` against ``keras.utils.Progbar``: averaged value pairs and stateful metrics, stateless metrics,
unit names and unknown targets, fit's logs, per-class values, and Keras' positional arguments."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest

from layerwise import utils


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, so that the bar redraws at each update."""

    def isatty(self) -> bool:
        return True


def _shown(text: str, name: str) -> list[float]:
    """The values of metric ``name`` in each drawn line of a progress bar's output."""
    return [float(v) for v in re.findall(rf"{name}: ([-+.\deE]+)", text)]


def _drive(bar) -> None:
    bar.update(1, [("loss", 1.0), ("acc", 0.2)])
    bar.update(3, [("loss", 4.0), ("acc", 0.6)])
    bar.add(1, [("loss", 2.0), ("acc", 0.4)])
    bar.update(10, [("loss", 5.0), ("acc", 0.9)])


def test_progbar_averages_keras_value_pairs_except_stateful_metrics(keras, capsys):
    _drive(keras.utils.Progbar(10, interval=0, stateful_metrics=["acc"]))
    expected = capsys.readouterr().out
    stream = _Terminal()
    _drive(utils.Progbar(10, interval=0, stateful_metrics=["acc"], stream=stream))
    # loss: averaged over the steps each value covers (1, 9/3, 11/4), then the final value, as Keras shows it
    assert _shown(stream.getvalue(), "loss") == _shown(expected, "loss") == [1.0, 3.0, 2.75, 5.0]
    assert _shown(stream.getvalue(), "acc") == _shown(expected, "acc") == [0.2, 0.6, 0.4, 0.9]


def test_progbar_stateless_metrics_unit_name_and_unknown_target(keras, capsys):
    for lib in (keras.utils, utils):
        with pytest.raises(ValueError, match="stateful_metrics"):
            lib.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    stream = _Terminal()
    bar = utils.Progbar(4, interval=0, stateless_metrics=["loss"], unit_name="sample", stream=stream)
    bar.update(2, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 4.0), ("lr", 0.01)])
    assert _shown(stream.getvalue(), "loss") == [1.0, 2.0] and _shown(stream.getvalue(), "lr") == [0.1, 0.01]
    assert "/sample" in stream.getvalue()
    stream = io.StringIO()
    bar = utils.Progbar(None, stream=stream)
    bar.update(5)
    bar.update(10, finalize=True)
    keras_bar = keras.utils.Progbar(None)
    keras_bar.update(5)
    keras_bar.update(10, finalize=True)
    assert "     10/Unknown" in capsys.readouterr().out and stream.getvalue().startswith("     10/Unknown ")


def test_progbar_takes_fit_logs_as_given_and_rejects_bad_values():
    stream = io.StringIO()
    bar = utils.Progbar(2, verbose=2, stream=stream)
    bar.update(1, {"loss": 3.0})
    bar.update(2, {"loss": 1.0})
    assert stream.getvalue().startswith("2/2 - ") and _shown(stream.getvalue(), "loss") == [1.0]
    with pytest.raises(ValueError, match=r"\(name, value\) pairs"):
        utils.Progbar(2).update(1, ["loss"])


def test_progbar_shows_per_class_log_values_by_their_mean():
    stream = io.StringIO()
    utils.Progbar(1, verbose=2, stream=stream).update(1, {"f1": [0.5, 1.0], "loss": np.float32(0.25)})
    assert _shown(stream.getvalue(), "f1") == [0.75] and _shown(stream.getvalue(), "loss") == [0.25]


def test_progbar_positional_arguments_in_keras_order(keras):
    """Keras' signature is Progbar(target, width=20, verbose=1, ...): the second positional argument is width."""
    ours, theirs = utils.Progbar(5, 30, 2), keras.utils.Progbar(5, 30, 2)
    assert (ours.width, ours.verbose) == (theirs.width, theirs.verbose) == (30, 2)
