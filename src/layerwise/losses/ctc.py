"""Connectionist Temporal Classification loss, on PyTorch's fused ``ctc_loss`` kernel with Keras' conventions:
class 0 is the blank and pads the label rows, every output sequence has the full number of steps."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.losses.functions import accepts_arrays
from layerwise.losses.wrapped import DEFAULT_REDUCTION, FunctionLoss

__all__ = ["CTC", "ctc"]

BLANK = 0  # Keras' mask_index: the blank, and the padding of shorter label sequences


@accepts_arrays
def ctc(y_true, y_pred):
    """Per-sample CTC loss ``(batch,)`` of integer labels ``(batch, max_label_length)`` against logits
    ``(batch, steps, classes)`` (not softmaxed). Each row holds its labels first, then 0s: its length is its
    count of non-zero labels."""
    if y_true.ndim != 2:
        raise ValueError("ctc: targets y_true must have shape (batch_size, max_length) and hold integer labels; "
                         f"received y_true.shape={tuple(y_true.shape)}.")
    if y_pred.ndim != 3:
        raise ValueError("ctc: logits y_pred must have shape (batch_size, max_length, num_classes); "
                         f"received y_pred.shape={tuple(y_pred.shape)}.")
    batch, steps, classes = y_pred.shape
    if y_true.shape[0] != batch:
        raise ValueError(f"ctc: y_true holds {y_true.shape[0]} label rows for a batch of {batch} predictions "
                         f"(y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}).")
    labels = y_true.long()
    if labels.numel():
        # An out-of-range label would index past the kernel's classes; one sync for both bounds.
        low, high = torch.stack(torch.aminmax(labels)).tolist()
        if low < 0 or high >= classes:
            raise ValueError(f"ctc: labels in y_true must lie in [0, {classes - 1}] for {classes} classes "
                             f"(0 is the blank); received labels from {low} to {high}.")
    # As Keras (and tf.nn.ctc_loss): half precision is computed in float32.
    if y_pred.dtype in (torch.float16, torch.bfloat16):
        y_pred = y_pred.float()
    log_probs = F.log_softmax(y_pred.transpose(0, 1), dim=-1)  # (steps, batch, classes), as the kernel takes
    input_lengths = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    label_lengths = (labels != BLANK).sum(dim=-1)
    return F.ctc_loss(log_probs, labels, input_lengths, label_lengths, blank=BLANK, reduction="none")


class CTC(FunctionLoss):
    """The CTC loss of ``ctc``: integer labels ``(batch, max_length)`` against logits ``(batch, steps, classes)``."""

    def __init__(self, reduction=DEFAULT_REDUCTION, name: str = "ctc", dtype=None):
        super().__init__(ctc, name, reduction, dtype)
