"""Keras 3's model summary table, drawn with the same box characters and totals."""
from __future__ import annotations

from typing import Callable


def _size(count: int) -> str:
    size = count * 4.0  # float32
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
    """One table row; cells wrap onto as many lines as the longest needs."""
    wrapped = [_wrap(cell, width - 2) for cell, width in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    out = []
    for k in range(height):
        parts = []
        for lines, width, align in zip(wrapped, widths, aligns):
            cell = lines[k] if k < len(lines) else ""
            parts.append(" " + (cell.rjust(width - 2) if align == "r" else cell.ljust(width - 2)) + " ")
        out.append(edge + edge.join(parts) + edge)
    return out


def print_summary(model, print_fn: Callable[[str], None]) -> None:
    """Keras' table; functional models that are not a plain chain get its "Connected to" column."""
    connections = model.connections() if hasattr(model, "connections") else None
    widths, aligns = ([33, 24, 15], "llr") if connections is None else ([21, 19, 12, 19], "llrl")
    header = ["Layer (type)", "Output Shape", "Param #"] + ([] if connections is None else ["Connected to"])
    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    lines += _row(header, widths, aligns, "┃")
    lines.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    layers = getattr(model, "operations", model.layers)  # a functional model's rows include its operations
    for i, layer in enumerate(layers):
        shape = str(model.output_shapes[i]) if model.built else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        cells = [f"{layer.name} ({getattr(layer, 'type_name', type(layer).__name__)})", shape, params]
        if connections is not None:
            cells.append(", ".join(connections[i]) or "-")
        lines += _row(cells, widths, aligns)
        if i < len(layers) - 1:
            lines.append("├" + "┼".join("─" * w for w in widths) + "┤")
    lines.append("└" + "┴".join("─" * w for w in widths) + "┘")
    total = sum(layer.count_params() for layer in layers if layer.built)
    trainable = sum(int(v.tensor.numel()) for layer in layers if layer.built
                    for v in layer.weight_views() if v.trainable and layer.trainable)
    optimizer = getattr(model, "optimizer", None)
    optimizer_count = None
    if optimizer is not None and optimizer.built:
        # Keras counts its optimizer's iteration and learning_rate variables besides the slots,
        # and includes the optimizer's variables in "Total params".
        optimizer_count = 2 + sum(int(t.numel()) for values in optimizer.slots.values() for t in values)
    everything = total + (optimizer_count or 0)
    lines.append(f" Total params: {everything:,} ({_size(everything)})")
    lines.append(f" Trainable params: {trainable:,} ({_size(trainable)})")
    lines.append(f" Non-trainable params: {total - trainable:,} ({_size(total - trainable)})")
    if optimizer_count is not None:
        lines.append(f" Optimizer params: {optimizer_count:,} ({_size(optimizer_count)})")
    print_fn("\n".join(lines))
