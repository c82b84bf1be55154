"""Circle loss (Sun et al., 2020) for metric learning: integer labels ``(batch,)`` and L2-normalized
embeddings ``(batch, dim)``; each sample's same-label pairs are pulled together and the others pushed
apart, each pair weighted by how far it is from its optimum."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.losses.base import as_tensor, reduce_weighted, squeeze_or_expand
from layerwise.losses.functions import accepts_arrays
from layerwise.losses.wrapped import DEFAULT_REDUCTION, FunctionLoss

__all__ = ["Circle", "circle"]


def _labels(labels: torch.Tensor, rows: int, what: str) -> torch.Tensor:
    """Integer labels ``(rows,)`` or ``(rows, 1)`` as a flat vector; a ValueError for any other shape."""
    if labels.ndim > 2 or labels.numel() != rows or (labels.ndim == 2 and labels.shape[1] != 1):
        raise ValueError(f"circle: {what} must hold one integer label per embedding, shape ({rows},) or "
                         f"({rows}, 1); received shape {tuple(labels.shape)}.")
    return labels.reshape(-1).long()


@accepts_arrays
def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal: bool = True, gamma: float = 80,
           margin: float = 0.4):
    """Per-sample circle loss ``(batch,)`` of labels ``y_true`` and embeddings ``y_pred`` ``(batch, dim)``
    against ``ref_embeddings`` ``(n, dim)`` with ``ref_labels`` ``(n,)`` (default: the batch itself).
    ``remove_diagonal`` drops each sample's pair with itself from its positives. A sample with no positive
    or no negative pair gets 0."""
    ref_embeddings = y_pred if ref_embeddings is None else as_tensor(ref_embeddings, y_pred).to(y_pred.dtype)
    if y_pred.ndim != 2 or ref_embeddings.ndim != 2 or ref_embeddings.shape[1] != y_pred.shape[1]:
        raise ValueError(f"circle: y_pred (batch, dim) and ref_embeddings (n, dim) must be 2-D with the same dim; "
                         f"received y_pred.shape={tuple(y_pred.shape)}, "
                         f"ref_embeddings.shape={tuple(ref_embeddings.shape)}.")
    y_true = _labels(y_true, y_pred.shape[0], "y_true")
    ref_labels = y_true if ref_labels is None else _labels(as_tensor(ref_labels, y_pred), len(ref_embeddings),
                                                           "ref_labels")
    distances = (1 - y_pred @ ref_embeddings.T).clamp_min(0.0)  # cosine distances (batch, n)
    positive = y_true[:, None] == ref_labels[None, :]
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~torch.eye(*positive.shape, dtype=torch.bool, device=positive.device)
    # Keras' names: optimum O_p = margin, O_n = 1 + margin; decision margins delta_p = margin, delta_n = 1 - margin.
    pos_weights = ((margin + distances) * positive).clamp_min(0.0)
    neg_weights = ((1 + margin - distances) * negative).clamp_min(0.0)
    pos_terms = (-1 * gamma * pos_weights) * (margin - distances)
    neg_terms = (gamma * neg_weights) * (1 - margin - distances)
    pos_loss = torch.logsumexp(pos_terms.masked_fill(~positive, float("-inf")), dim=1)
    neg_loss = torch.logsumexp(neg_terms.masked_fill(~negative, float("-inf")), dim=1)
    return F.softplus(pos_loss + neg_loss)


def masked_weight(mask: torch.Tensor, sample_weight, reduction, dtype: torch.dtype) -> torch.Tensor:
    """Keras' merge of a loss mask into the sample weights: for the mean reductions the kept values weigh
    ``count / kept`` (so the mean is over kept values only), for the others 1; masked values weigh 0."""
    weight = mask.to(dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        kept = weight.sum()
        weight = weight * torch.where(kept == 0, torch.zeros_like(kept), weight.numel() / kept)
    if sample_weight is None:
        return weight
    sample_weight = as_tensor(sample_weight, weight).to(weight.dtype)
    weight, sample_weight = squeeze_or_expand(weight, sample_weight)
    return sample_weight * weight


class Circle(FunctionLoss):
    """The circle loss of ``circle`` within each batch. As Keras, samples whose loss is 0 (no positive or no
    negative pair in the batch) are left out of the mean: 'sum_over_batch_size' averages the others."""

    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
                 reduction=DEFAULT_REDUCTION, name: str = "circle", dtype=None):
        super().__init__(circle, name, reduction, dtype, gamma=gamma, margin=margin, remove_diagonal=remove_diagonal)

    def __call__(self, y_true, y_pred, sample_weight=None) -> torch.Tensor:
        values = self.per_sample(y_true, y_pred)
        weight = masked_weight(values > 0, sample_weight, self.reduction, values.dtype)
        return reduce_weighted(values, weight, self.reduction)
