"""Keras 3's model summary table, drawn with the same box characters and totals."""
from __future__ import annotations

import re
import shutil
from functools import partial
from typing import Callable

import torch

from layerwise.utils.io_utils import is_interactive_logging_enabled, print_msg


def shape_text(shape) -> str:
    """A shape as Keras' summary writes it: ``(None, 3)``, a one-axis shape ``(None)`` (no trailing comma), several
    outputs as ``[(None, 2), (None, 3)]``."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ")"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{key}: {shape_text(value)}" for key, value in shape.items()) + "}"
    if isinstance(shape, (tuple, list)):
        inner = ", ".join(shape_text(item) for item in shape)
        return f"[{inner}]" if isinstance(shape, list) else f"({inner})"
    return str(shape)

def _bytes(weights) -> int:
    """The memory of ``weights`` (each once) at their dtypes, as Keras counts it (a bool takes one bit)."""
    unique = {id(w): w for w in weights}.values()
    return sum(w.numel() * (1 if w.dtype == torch.bool else 8 * w.element_size()) for w in unique) / 8


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return ""


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap into lines of at most ``width``; a longer word is cut with "…" (as Keras' rich does)."""
    lines: list[str] = []
    for word in text.split(" "):
        if len(word) > width:
            word = word[:width - 1] + "…"
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _row(cells: list[str], widths: list[int], aligns: str, edge: str = "│") -> list[str]:
    """One table row; cells wrap onto as many lines as the longest needs (the heading's cells sit at the bottom
    of their row, as rich draws a header)."""
    wrapped = [_wrap(cell, width - 2) for cell, width in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    if edge == "┃":
        wrapped = [[""] * (height - len(lines)) + lines for lines in wrapped]
    out = []
    for k in range(height):
        parts = []
        for lines, width, align in zip(wrapped, widths, aligns):
            cell = lines[k] if k < len(lines) else ""
            room = width - 2 - len(cell)
            left = room if align == "r" else room // 2 if align == "c" else 0
            parts.append(" " * (1 + left) + cell + " " * (1 + room - left))
        out.append(edge + edge.join(parts) + edge)
    return out


def _column_widths(positions: list[float], line_length: int) -> list[int]:
    """Keras' column widths for ``positions`` (fractions of ``line_length``), then fitted as its rich table
    fits them between the borders: each cell's padding added, the excess taken evenly from left to right."""
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError(f"summary: line_length={line_length} with positions={positions} leaves a column "
                             f"{width} characters wide; at least 4 are needed. Pass a larger line_length.")
        widths.append(width + 2)
        current += width
    share = line_length - len(widths) - 1 - sum(widths)
    count, total, fitted = len(widths), sum(widths), []
    for width in widths:
        # Too wide: each column gives up an even share (rounded half to even); too narrow (positions ending
        # before 1.0): each gets a share in proportion to its width, rounded up.
        part = max(round(share / count), -width) if share < 0 else -(-share * width // total)
        fitted.append(width + part)
        share, count, total = share - part, count - 1, total - width
    return fitted


def _layer_range(layers: list, layer_range) -> range:
    """The indices from the first layer whose name matches ``layer_range[0]`` (a regex) to the last that
    matches ``layer_range[1]``, both included, as Keras' ``summary(layer_range=...)``."""
    if layer_range is None:
        return range(len(layers))
    if len(layer_range) != 2 or not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"summary: layer_range must be two layer names (or regexes); received {layer_range!r}.")
    first = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    last = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not first or not last:
        raise ValueError(f"summary: layer_range {list(layer_range)} matches no layer name of the model; its layers "
                         f"are {[layer.name for layer in layers]}.")
    if first[0] > last[-1]:  # given in reverse order, as Keras takes it
        return range(last[0], first[-1] + 1)
    return range(first[0], last[-1] + 1)


def _nested_rows(model, level: int) -> list[tuple]:
    """(layer, shape, prefix, index in the top table or None) for the layers inside a nested model."""
    shapes = dict(zip((id(layer) for layer in getattr(model, "operations", model.layers)), model.output_shapes)) \
        if model.built else {}
    rows = []
    for layer in model.layers:
        rows.append((layer, shapes.get(id(layer), "?"), "   " * level + "└ ", None))
        if getattr(layer, "layers", None) and hasattr(layer, "output_shapes"):
            rows += _nested_rows(layer, level + 1)
    return rows


def print_summary(model, print_fn: Callable[[str], None], line_length: int | None = None,
                  positions: list[float] | None = None, expand_nested: bool = False, show_trainable: bool = False,
                  layer_range=None) -> None:
    """Keras' table; functional models that are not a plain chain get its "Connected to" column.

    ``show_trainable`` adds the "Trainable" column (Y, N, or - for a layer without weights);
    ``expand_nested`` lists the layers of nested models under them; ``layer_range`` (two names or regexes)
    limits the rows; ``line_length`` and ``positions`` (fractions of the line) size the columns as in Keras.
    Without ``line_length`` the table is as wide as Keras draws it: its default width, narrowed to the terminal's."""
    connections = model.connections() if hasattr(model, "connections") else None
    if connections is None:
        default, header, aligns = 88, ["Layer (type)", "Output Shape", "Param #"], "llr"
        positions = list(positions or [0.45, 0.80, 1.0])
    else:
        default, header, aligns = 108, ["Layer (type)", "Output Shape", "Param #", "Connected to"], "llrl"
        positions = list(positions or [0.3, 0.56, 0.74, 1.0])
    if show_trainable:
        default, header, aligns = default + 12, header + ["Trainable"], aligns + "c"
        positions = [p * 0.90 for p in positions] + [1.0]
    if len(positions) != len(header):
        raise ValueError(f"summary: positions needs {len(header) - int(show_trainable)} values (one per column); "
                         f"received {len(positions) - int(show_trainable)}.")
    widths = _column_widths(positions, line_length or min(default, shutil.get_terminal_size().columns - 4))
    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    lines += _row(header, widths, aligns, "┃")
    lines.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    layers = getattr(model, "operations", model.layers)  # a functional model's rows include its operations
    rows = []
    for i in _layer_range(layers, layer_range):
        rows.append((layers[i], model.output_shapes[i] if model.built else "?", "", i))
        if expand_nested and getattr(layers[i], "layers", None) and hasattr(layers[i], "output_shapes"):
            rows += _nested_rows(layers[i], 1)
    for k, (layer, shape, prefix, i) in enumerate(rows):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        cells = [f"{prefix}{layer.name} ({getattr(layer, 'type_name', type(layer).__name__)})", shape_text(shape),
                 params]
        if connections is not None:
            cells.append(", ".join(connections[i]) if i is not None and connections[i] else "-")
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        lines += _row(cells, widths, aligns)
        if k < len(rows) - 1:
            lines.append("├" + "┼".join("─" * w for w in widths) + "┤")
    lines.append("└" + "┴".join("─" * w for w in widths) + "┘")
    total = sum(int(w.numel()) for w in model.weights)  # each shared weight once, as Keras counts them
    trainable = sum(int(w.numel()) for w in model.trainable_weights)
    memory = [_bytes(model.trainable_weights), _bytes(model.non_trainable_weights)]
    optimizer = getattr(model, "optimizer", None)
    optimizer_count = None
    if optimizer is not None and optimizer.built:
        # Keras counts its optimizer's variables (iterations and learning_rate too; a MultiOptimizer's and its
        # optimizers') and includes them in "Total params".
        optimizer_count = sum(int(t.numel()) for t in optimizer.variables)
        memory.append(_bytes(optimizer.variables))
    everything = total + (optimizer_count or 0)
    lines.append(f" Total params: {everything:,} ({_size(sum(memory))})")
    lines.append(f" Trainable params: {trainable:,} ({_size(memory[0])})")
    lines.append(f" Non-trainable params: {total - trainable:,} ({_size(memory[1])})")
    if optimizer_count is not None:
        lines.append(f" Optimizer params: {optimizer_count:,} ({_size(memory[2])})")
    # Keras hands a print_fn its captured console text, which ends with a newline; print adds its own.
    print_fn("\n".join(lines) + ("" if print_fn is print else "\n"))


def model_summary(model, line_length: int | None = None, positions: list[float] | None = None, print_fn=None,
                  expand_nested: bool = False, show_trainable: bool = False, layer_range=None) -> None:
    """Keras' ``model.summary(...)``, its arguments in Keras' order (see ``print_summary``)."""
    if print_fn is None:  # as Keras: to stdout, or to the log when interactive logging is off
        print_fn = print if is_interactive_logging_enabled() else partial(print_msg, line_break=False)
    print_summary(model, print_fn, line_length=line_length, positions=positions,
                  expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)
