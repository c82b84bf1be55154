"""What ``compile`` resolves for each output of a model: its loss, loss weight and metrics.

Keras' rules: one loss applies to every output; a list gives one per output in order and a dict one
per output name (``None`` for an output that is not trained). With several outputs the total loss is
``sum(weight_i * loss_i)``, each output's loss is logged as ``<output>_loss`` and each metric as
``<output>_<metric>``; metrics are a list with one entry per output or a dict keyed by output name.
For nested outputs (``Model(x, [a, [b, c]])``) each argument may follow the nesting, and a loss is logged by its
path as Keras logs it (``1/b_loss``; a dict key stays in the path, a list index gives way to the output's name).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from layerwise import losses as losses_module
from layerwise import tree
from layerwise import metrics as metrics_module
from layerwise.metrics import Metric


def flat_outputs(value) -> list:
    """A model's outputs one by one, in the order of its output names: the values of a dict, the items of a list
    or tuple, nested ones flattened (``Model(i, [a, [b, c]])`` gives ``[a, b, c]``); anything else is one output."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in flat_outputs(part)]
    return [value]


def _per_output(value, names: list[str], what: str, *, dict_needs_all: bool) -> list:
    """``value`` spread over the outputs ``names``: a list of one entry per output (None where absent)."""
    if isinstance(value, dict):
        unknown = [key for key in value if key not in names]
        missing = [name for name in names if name not in value]
        if unknown or (dict_needs_all and missing):
            raise ValueError(f"compile(): the {what} dict has keys {list(value)}, but the model's outputs are "
                             f"{names}. Give one entry per output name (None for an output without one).")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile(): {what} is a list of {len(value)} entries for a model with "
                             f"{len(names)} outputs {names}. Give one entry per output, in order, or a dict "
                             "keyed by output name.")
        return list(value)
    return [value] * len(names)


def _is_nested(structure) -> bool:
    children = structure.values() if isinstance(structure, dict) else structure
    return isinstance(structure, (list, tuple, dict)) and any(isinstance(c, (list, tuple, dict)) for c in children)


def _flat_up_to(structure, value):
    """``value``'s entries for the leaves of the nested output ``structure``, in its flat order, when ``value``
    follows that nesting; else ``value`` itself."""
    entries: list = []
    try:
        tree.map_structure_up_to(structure, entries.append, value)
    except (ValueError, TypeError, KeyError):
        return value
    return entries


def _loss_names(structure, output_names: list[str]) -> list[str]:
    """Keras' log name (less ``_loss``) of each output's loss: its path in the nested ``structure``."""
    names = []
    for (path, _), name in zip(tree.flatten_with_path(structure), output_names):
        path = (*path[:-1], name) if isinstance(path[-1], int) else path
        names.append("/".join(str(part) for part in path))
    return names


def _metric_lists(metrics, names: list[str]) -> list[list]:
    """One list of metric identifiers per output."""
    if metrics is None or (isinstance(metrics, (list, tuple)) and not metrics):  # Keras takes [] as no metrics
        return [[] for _ in names]
    if len(names) == 1 and isinstance(metrics, (list, tuple)) and not any(isinstance(m, (list, tuple, dict))
                                                                            for m in metrics):
        return [list(metrics)]  # the usual metrics=["accuracy"] of a one-output model
    if len(names) > 1 and not isinstance(metrics, (list, tuple, dict)):
        raise ValueError(f"compile(): metrics={metrics!r} for a model with outputs {names}: give a list with one "
                         "entry (a metric or a list of them) per output, or a dict keyed by output name.")
    per_output = _per_output(metrics, names, "metrics", dict_needs_all=False)
    return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in per_output]


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [value]


def check_names(loss, metrics) -> None:
    """Raise at compile time for an unknown loss or metric name, wherever it sits in the structure."""
    for item in _leaves(loss):
        losses_module.get(item)
    for item in _leaves(metrics):
        metrics_module.get(item, (None, 2), (None, 2))


class CompiledMetric(NamedTuple):
    name: str  # the log name
    output: int  # index of the output it scores
    metric: Metric
    weighted: bool  # from ``weighted_metrics``: sample and class weights count


class CompiledOutputs:
    """Losses, loss weights and metric identifiers of each output, and the total loss of a batch."""

    def __init__(self, loss, loss_weights, metrics, weighted_metrics, output_names: list[str], structure=None):
        self.names = list(output_names)
        nested = _is_nested(structure)
        if nested:
            loss, loss_weights, metrics, weighted_metrics = (
                _flat_up_to(structure, value) for value in (loss, loss_weights, metrics, weighted_metrics))
        self.several = len(self.names) > 1
        # No loss at all is allowed, as in Keras: the model then minimises what its layers add (add_loss).
        given = [None] * len(self.names) if loss is None else _per_output(loss, self.names, "loss",
                                                                          dict_needs_all=True)
        self.losses = [None if item is None else losses_module.get(item) for item in given]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, self.names, "loss_weights",
                              dict_needs_all=False)
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        self.metric_ids = _metric_lists(metrics, self.names)
        self.weighted_ids = _metric_lists(weighted_metrics, self.names)
        for ids in self.metric_ids + self.weighted_ids:  # validate now; 'accuracy' is resolved in fit
            for metric in ids:
                metrics_module.get(metric, (None, 2), (None, 2))
        loss_names = _loss_names(structure, self.names) if nested else self.names
        trained = [name for name, loss in zip(loss_names, self.losses) if loss is not None]
        # Keras logs each output's loss only when more than one output has a loss.
        self.loss_log_names = [f"{name}_loss" for name in trained] if len(trained) > 1 else []

    def untrained(self) -> frozenset:
        """Outputs with neither a loss nor metrics: their targets may be left out of a ``y`` dict."""
        return frozenset(name for name, loss, ids, weighted in zip(self.names, self.losses, self.metric_ids,
                                                                   self.weighted_ids)
                         if loss is None and not ids and not weighted)

    def parts(self, value) -> list:
        """Per-output items of targets, predictions or sample weights (a single value serves every output)."""
        if not self.several:
            return [value]
        return list(value) if isinstance(value, (list, tuple)) else [value] * len(self.names)

    def make_metrics(self, y_shapes: list[tuple], pred_shapes: list[tuple]) -> list[CompiledMetric]:
        """Every metric with its log name, in output order then compile order, the weighted ones last.

        Names follow Keras: ``<output>_<metric>`` for several outputs; a repeated name gets ``_1``, ``_2``...,
        and a weighted metric whose name is taken becomes ``weighted_<metric>``.
        """
        made, taken = [], {}

        def unique(name: str) -> str:
            count = taken.get(name, 0)
            taken[name] = count + 1
            return name if count == 0 else f"{name}_{count}"

        prefix = [f"{name}_" if self.several else "" for name in self.names]
        for weighted, lists in ((False, self.metric_ids), (True, self.weighted_ids)):
            for i, ids in enumerate(lists):
                for identifier in ids:
                    metric = metrics_module.get(identifier, y_shapes[i], pred_shapes[i])
                    name = prefix[i] + metric.name
                    if weighted and name in taken:
                        name = prefix[i] + "weighted_" + metric.name
                    made.append(CompiledMetric(unique(name), i, metric, weighted))
        return made

    def total(self, y, y_pred, sample_weight) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The weighted sum of the outputs' losses, and each trained output's loss (for the logs)."""
        if not self.several:
            if self.losses[0] is None:
                return y_pred.new_zeros(()), []
            loss = self.losses[0](y, y_pred, sample_weight)
            weight = self.loss_weights[0]
            return (loss if weight == 1.0 else loss * weight), []
        each = [(loss(yi, pi, wi), weight) for loss, weight, yi, pi, wi in
                zip(self.losses, self.loss_weights, y, y_pred, self.parts(sample_weight)) if loss is not None]
        total = sum(value * weight for value, weight in each) if each else y_pred[0].new_zeros(())
        return total, [value for value, _ in each]

    def config(self) -> dict:
        """Losses and metrics as ``compile`` takes them back (used by saving): names stay names, the user's
        registered functions and classes are saved by their registered names, Metric objects as configs."""
        losses = [None if loss is None else losses_module.serialize(loss) for loss in self.losses]
        metric_ids = [[metrics_module.serialize(metric) for metric in ids] for ids in self.metric_ids]
        weighted_ids = [[metrics_module.serialize(metric) for metric in ids] for ids in self.weighted_ids]
        return {"loss": losses if self.several else losses[0], "loss_weights": self.loss_weights,
                "metrics": metric_ids if self.several else metric_ids[0],
                "weighted_metrics": weighted_ids if self.several else weighted_ids[0]}
