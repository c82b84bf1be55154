"""Keras' connectionist temporal classification ops (``keras.ops.nn``): ``ctc_loss`` and ``ctc_decode``
(greedy and beam search).

``output``/``inputs`` are ``(batch, steps, classes)`` scores; ``mask_index`` is the blank class. The beam
search follows Keras' (its JAX backend's, which its torch backend ports) step by step, so that ties between
paths break the same way: classes are visited in reverse order, paths deduplicated by a polynomial hash and
sorted stably. It runs the whole batch at once; only the steps are a loop, each depending on the last.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers.operations import keras_class_names, operation
from layerwise.ops.core import to_tensor, to_tensors
from layerwise.ops.promotion import promote

_PAD = -1  # an empty position of a path
_HASH_BASE = 2654435769  # Knuth's multiplicative constant: the base of the path hash (int64 wraps on purpose)


def _float_scores(x: torch.Tensor) -> torch.Tensor:
    """Scores in float32, as Keras computes CTC (its type rules turn float64 into float32 as well)."""
    return x.to(promote(x.dtype, torch.float32))


@operation()
def ctc_loss(target, output, target_length, output_length, mask_index: int = 0) -> torch.Tensor:
    """CTC loss per sequence ``(batch,)`` of integer labels ``target`` ``(batch, max_label_length)`` given logits
    ``output`` ``(batch, steps, classes)``; the lengths ``(batch,)`` say how much of each is real."""
    target, output, target_length, output_length = to_tensors(target, output, target_length, output_length)
    if output.ndim != 3 or target.ndim != 2 or target.shape[0] != output.shape[0]:
        raise ValueError(f"ops.ctc_loss takes target (batch, max_label_length) and output (batch, steps, classes); "
                         f"received target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}.")
    if target_length.shape != target.shape[:1] or output_length.shape != output.shape[:1]:
        raise ValueError(f"ops.ctc_loss: target_length and output_length must be (batch,) = ({output.shape[0]},); "
                         f"received target_length.shape={tuple(target_length.shape)}, "
                         f"output_length.shape={tuple(output_length.shape)}.")
    log_probs = F.log_softmax(_float_scores(output).transpose(0, 1), dim=-1)  # (steps, batch, classes)
    return F.ctc_loss(log_probs, target.long(), output_length.long(), target_length.long(), blank=mask_index,
                      reduction="none")


def _greedy(inputs: torch.Tensor, lengths: torch.Tensor, merge_repeated: bool, blank: int):
    batch, steps, _ = inputs.shape
    scores, labels = inputs.max(dim=-1)
    beyond = torch.arange(steps, device=inputs.device) >= lengths[:, None]
    labels = labels.masked_fill(beyond, blank)
    scores = scores.masked_fill(beyond, 0.0)
    if merge_repeated:
        repeat = F.pad(labels[:, 1:] == labels[:, :-1], (1, 0))
        labels = labels.masked_fill(repeat, blank)
    dropped = labels == blank
    # Keep the emitted labels in order at the front; -1 fills the rest.
    order = torch.argsort(dropped.to(torch.int8), dim=1, stable=True)
    labels = torch.gather(labels.masked_fill(dropped, _PAD), 1, order)
    return labels.to(torch.int32)[None], -scores.sum(dim=1, keepdim=True)


def _unique_paths(paths: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per batch row, the distinct paths of ``paths`` ``(batch, n, steps)`` in hash order, padded with empty
    paths to ``size``, and the index of each input path among them ``(batch, n)``."""
    batch, n, steps = paths.shape
    powers = F.pad(torch.full((steps - 1,), _HASH_BASE, dtype=torch.int64, device=paths.device).cumprod(0), (1, 0),
                   value=1)  # 1, base, base^2... wrapping as int64
    hashes = ((paths.long() + 1) * powers).sum(dim=-1)
    order = torch.argsort(hashes, dim=1, stable=True)
    ordered = torch.gather(paths, 1, order[..., None].expand(-1, -1, steps))
    hashes = torch.gather(hashes, 1, order)
    # A path is new unless it equals the one before it (equal hashes, then equal labels: collisions stay apart).
    repeated = (hashes[:, 1:] == hashes[:, :-1]) & (ordered[:, 1:] == ordered[:, :-1]).all(dim=-1)
    slot = torch.cumsum(F.pad(~repeated, (1, 0), value=True).long(), dim=1) - 1
    inverse = torch.empty_like(slot).scatter_(1, order, slot)
    unique = torch.full((batch, size, steps), _PAD, dtype=paths.dtype, device=paths.device)
    unique.scatter_(1, slot[..., None].expand(-1, -1, steps), ordered)  # repeats write the same path again
    return unique, inverse


def _merge(inverse: torch.Tensor, scores: torch.Tensor, size: int) -> torch.Tensor:
    """Log-sum-exp of the ``scores`` of the paths that ``inverse`` maps to each of ``size`` slots."""
    top = scores.amax(dim=1, keepdim=True)
    total = torch.zeros(scores.shape[0], size, dtype=scores.dtype, device=scores.device)
    return torch.log(total.scatter_add_(1, inverse, torch.exp(scores - top))) + top


def _extend(paths, scores, blank_ended, step_scores, classes: int, blank: int):
    """Every path (``(batch, beams, steps)``) extended by every class at one step."""
    batch, beams, steps = paths.shape
    paths = paths.repeat_interleave(classes, dim=1)
    scores = scores.repeat_interleave(classes, dim=1) + step_scores.repeat(1, beams)
    blank_ended = blank_ended.repeat_interleave(classes, dim=1)
    ends = (paths == _PAD).to(torch.int8).argmax(dim=-1)  # first empty position of each path
    last = torch.gather(paths, 2, ((ends - 1) % steps)[..., None])[..., 0].masked_fill(ends == 0, _PAD)
    labels = torch.arange(classes, dtype=paths.dtype, device=paths.device)
    labels = labels.masked_fill(labels == blank, _PAD).repeat(beams).expand(batch, -1)
    emits_blank = labels == _PAD
    # Repeating the last label without a blank between continues that label: nothing is appended.
    labels = labels.masked_fill(~blank_ended & (last == labels), _PAD)
    paths = paths.scatter(2, ends[..., None], labels[..., None])
    return paths, scores, emits_blank


def _prune(paths, scores, blank_ended, width: int, size: int):
    """The ``width`` best distinct paths, each kept twice: ending in a label, then ending in a blank."""
    unique, inverse = _unique_paths(paths, size)
    label_scores = _merge(inverse, scores.masked_fill(blank_ended, float("-inf")), size)
    blank_scores = _merge(inverse, scores.masked_fill(~blank_ended, float("-inf")), size)
    best = torch.argsort(torch.logaddexp(label_scores, blank_scores), dim=1, stable=True)[:, -width:]
    kept = torch.gather(unique, 1, best[..., None].expand(-1, -1, unique.shape[2]))
    scores = torch.cat([torch.gather(label_scores, 1, best), torch.gather(blank_scores, 1, best)], dim=1)
    flags = torch.zeros(paths.shape[0], 2 * width, dtype=torch.bool, device=paths.device)
    flags[:, width:] = True
    return kept.repeat(1, 2, 1), scores, flags


def _beam_search(inputs: torch.Tensor, lengths: torch.Tensor, width: int, top_paths: int, blank: int):
    batch, steps, classes = inputs.shape
    # Classes reversed (as Keras' JAX backend) so that ascending stable sorts break ties as Keras does.
    log_probs = F.log_softmax(inputs, dim=-1).flip(-1)
    blank = classes - blank - 1
    size = 2 * classes * width
    start = min(classes, width)
    first = torch.argsort(log_probs[:, 0], dim=-1, stable=True)[:, -start:]
    paths = torch.full((batch, 2 * width, steps), _PAD, dtype=torch.int32, device=inputs.device)
    paths[:, :start, 0] = first.to(torch.int32).masked_fill(first == blank, _PAD)
    scores = torch.full((batch, 2 * width), float("-inf"), dtype=log_probs.dtype, device=inputs.device)
    scores[:, :start] = torch.gather(log_probs[:, 0], 1, first)
    blank_ended = paths[:, :, 0] == _PAD
    for t in range(1, steps):
        state = _prune(*_extend(paths, scores, blank_ended, log_probs[:, t], classes, blank), width, size)
        running = (t < lengths)[:, None]  # a finished sequence keeps its beams
        paths = torch.where(running[..., None], state[0], paths)
        scores, blank_ended = torch.where(running, state[1], scores), torch.where(running, state[2], blank_ended)
    unique, inverse = _unique_paths(paths, size)
    totals = _merge(inverse, scores, size)
    best = torch.argsort(totals, dim=1, stable=True)[:, -top_paths:].flip(1)
    decoded = torch.gather(unique, 1, best[..., None].expand(-1, -1, steps))
    decoded = torch.where(decoded == _PAD, _PAD, classes - decoded - 1)  # back to the real class numbers
    return decoded.transpose(0, 1).to(torch.int32), torch.gather(totals, 1, best)


@operation()
def ctc_decode(inputs, sequence_lengths, strategy: str = "greedy", beam_width: int = 100, top_paths: int = 1,
               merge_repeated: bool = True, mask_index: int | None = 0):
    """Decode ``(batch, steps, classes)`` scores: ``(paths, scores)``, the label paths ``(top_paths, batch, steps)``
    (int32, -1 after the last label) and their scores ``(batch, top_paths)``. 'greedy' takes the best class per
    step (``top_paths`` 1; the negated sum of those scores); 'beam_search' keeps ``beam_width`` paths of the
    log-softmax of ``inputs`` (log-probabilities). ``mask_index`` None means the last class."""
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(f"ops.ctc_decode: strategy must be 'greedy' or 'beam_search'; received strategy={strategy!r}.")
    inputs = _float_scores(to_tensor(inputs))
    if inputs.ndim != 3:
        raise ValueError(f"ops.ctc_decode takes inputs (batch, steps, classes); received "
                         f"inputs.shape={tuple(inputs.shape)}.")
    lengths = to_tensor(sequence_lengths, device=inputs.device).long()
    if lengths.shape != inputs.shape[:1]:
        raise ValueError(f"ops.ctc_decode: sequence_lengths must be (batch,) = ({inputs.shape[0]},); received "
                         f"sequence_lengths.shape={tuple(lengths.shape)}.")
    blank = inputs.shape[-1] - 1 if mask_index is None else mask_index
    if strategy == "greedy":
        return _greedy(inputs, lengths, merge_repeated, blank)
    return _beam_search(inputs, lengths, beam_width, top_paths, blank)


keras_class_names(ctc_loss="CTCLoss", ctc_decode="CTCDecode")

__all__ = ["ctc_loss", "ctc_decode"]
