"""Keras' recurrent cells: one time step of SimpleRNN, LSTM or GRU, and a stack of cells.

A cell maps one step ``(batch, features)`` and its states, a list of ``(batch, units)`` tensors, to
``(output, new_states)``; ``RNN(cell)`` (``layers/rnn.py``) runs it over ``(batch, timesteps, features)``.
A built-in cell keeps its weights in a sequence layer of its kind (an ``LSTMCell`` holds an ``LSTM``),
so a step is that layer's step function and ``RNN`` hands whole sequences to that layer's fused kernel.
The other way round, ``LSTM(...).cell`` is an ``LSTMCell`` whose sequence layer is that LSTM (``cell_of``).
Weights are Keras' ``kernel``, ``recurrent_kernel`` and ``bias``, in Keras' layout and order.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.layers.base import Layer, Shape, to_snake_case
from layerwise.layers.weights import WeightView
from layerwise.layers.recurrent import GRU, LSTM, SimpleRNN
from layerwise.layers.rnn_base import Recurrent, States
from layerwise.layers.rnn_states import flat_state_sizes
from layerwise.layers.wrappers import _deserialize, _serialize


def check_cell(cell, owner: str) -> None:
    """Raise a ValueError unless ``cell`` can be run as a Keras cell: a ``call`` and a ``state_size``."""
    if not callable(getattr(cell, "call", None)) and not isinstance(cell, nn.Module):
        raise ValueError(f"{owner}: the cell {cell!r} has no `call(inputs, states)` method.")
    if isinstance(cell, Recurrent):  # it has a state_size, but runs whole sequences, not one step
        raise ValueError(f"{owner}: {type(cell).__name__} '{cell.name}' is a recurrent layer, not a cell: use it on "
                         f"its own, or give {owner} its cell (its .cell, or a new {type(cell).__name__}Cell).")
    if getattr(cell, "state_size", None) is None:
        raise ValueError(f"{owner}: the cell {type(cell).__name__} has no `state_size` attribute; set it in the "
                         "cell's __init__ to the size of its state (an int), or a list of sizes, one per state.")
    if not all(size > 0 for size in flat_state_sizes(cell.state_size)):
        raise ValueError(f"{owner}: the state_size of cell {type(cell).__name__} must hold positive integers, "
                         f"got {cell.state_size!r}.")


def build_cell(cell, step_shape: Shape) -> None:
    """Build ``cell`` for steps of ``step_shape`` ``(batch, features)``. A Keras-style cell is built without
    the probe call that finds other layers' output shapes (a cell's call needs states)."""
    if isinstance(cell, (_BuiltinCell, StackedRNNCells)):
        cell.build_from(step_shape)
    elif isinstance(cell, Layer):
        if not cell.built:
            cell.build(step_shape)
            cell.input_shape_built = (None, *step_shape[1:])
            cell.built = True
            cell.trainable = cell.trainable  # applies the layer's trainable flag to the new weights
    elif callable(getattr(cell, "build", None)) and not getattr(cell, "built", False):
        cell.build(step_shape)


def cell_output_size(cell) -> int:
    """Keras' rule: ``output_size`` when the cell has one, else its first state's size."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else flat_state_sizes(cell.state_size)[0]


def call_cell(cell, inputs: torch.Tensor, states: list):
    """One step of any cell: built-in, a layerwise Layer with ``call`` (given ``training`` when it takes it),
    or another object with ``call``."""
    if isinstance(cell, nn.Module):
        return cell.forward(inputs, states)
    return cell.call(inputs, states)


class _BuiltinCell(Layer):
    """A cell whose weights and step are those of ``self.sequence``, a SimpleRNN, LSTM or GRU."""

    input_ndim = 2
    sequence: Recurrent

    def _check_arguments(self, units, dropout, recurrent_dropout) -> None:
        """The sequence layer's own checks, made first so that an error names this cell, not its layer."""
        cell = type(self).__name__
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{cell} units must be a positive integer, got {units!r}.")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{cell} {what} must be in [0, 1), got {rate!r}.")

    def _hold(self, sequence: Recurrent) -> None:
        """Keep ``sequence`` as the layer whose weights and step this cell uses, frozen as the cell is."""
        sequence.trainable = self._trainable
        self.sequence = sequence

    @property
    def built(self) -> bool:
        """Whether the weights exist: they are the sequence layer's, which may be built on its own."""
        sequence = self._modules.get("sequence")
        return sequence is not None and sequence.built

    @built.setter
    def built(self, value: bool) -> None:
        pass  # follows the sequence layer (see the getter); Layer's building sets it

    @property
    def trainable(self) -> bool:
        """One flag with the sequence layer: freezing either freezes their shared weights, as in Keras."""
        return self.sequence.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        Layer.trainable.fset(self, value)  # sets the sequence layer's too (a layer this one holds)

    @property
    def units(self) -> int:
        return self.sequence.units

    @property
    def dropout(self) -> float:
        return self.sequence.dropout

    @property
    def recurrent_dropout(self) -> float:
        return self.sequence.recurrent_dropout

    @property
    def seed(self) -> int | None:
        return self.sequence.seed

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape: Shape) -> None:
        self.sequence.build_from((None, 1, input_shape[-1]))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.units)

    def weight_views(self) -> list[WeightView]:
        """The sequence layer's weights, without its cell's scope: the cell is that scope."""
        return [WeightView(v.name, v.tensor, v.trainable, v.to_keras, v.from_keras, key=v.key)
                for v in self.sequence.weight_views()]

    def get_initial_state(self, batch_size: int) -> States:
        """Zero states, ``(batch_size, units)`` each."""
        like = self.sequence.weight_hh if self.built else torch.zeros(())
        return [like.new_zeros(batch_size, self.units) for _ in flat_state_sizes(self.state_size)]

    def forward(self, inputs: torch.Tensor, states):
        """``(batch, features)`` and the states -> (output ``(batch, units)``, new states). States given as one
        tensor come back as one tensor, as in Keras."""
        single = not isinstance(states, (list, tuple))  # one tensor or array: Keras returns one state too
        # Arrays (numpy) are taken as Keras takes them, in the input's dtype and on its device.
        states = [s if isinstance(s, torch.Tensor) else torch.as_tensor(s, dtype=inputs.dtype, device=inputs.device)
                  for s in ([states] if single else states)]
        expected = len(flat_state_sizes(self.state_size))
        if len(states) != expected:
            raise ValueError(f"{type(self).__name__} '{self.name}' takes {expected} state tensor(s), "
                             f"got {len(states)}.")
        layer = self.sequence
        # Called on its own, a cell draws fresh dropout masks each step; RNN(cell) keeps one per sequence.
        inputs = F.dropout(inputs, layer.dropout, self.training) if layer.dropout else inputs
        h_rec = F.dropout(states[0], layer.recurrent_dropout, self.training) if layer.recurrent_dropout \
            else states[0]
        weight, input_bias, recurrent_bias = layer.loop_biases()
        output, new_states = layer.cell_step(F.linear(inputs, weight, input_bias), states, h_rec, recurrent_bias)
        return output, (new_states[0] if single else new_states)


class SimpleRNNCell(_BuiltinCell):
    """One step of SimpleRNN: ``h = activation(x W + h_prev U + b)``; state ``[h]``, ``(batch, units)``."""

    def __init__(self, units: int, activation="tanh", use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self._check_arguments(units, dropout, recurrent_dropout)
        self._hold(SimpleRNN(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name=self.name))


class LSTMCell(_BuiltinCell):
    """One step of LSTM (gates input, forget, cell, output); states ``[h, c]``, each ``(batch, units)``."""

    config_omitted = ("implementation",)  # as Keras: a run-time choice, not part of the config

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias: bool = True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, **kwargs):
        kwargs.pop("implementation", None)  # Keras' choice of how to split the gate products; one kernel here
        super().__init__(**kwargs)
        self._check_arguments(units, dropout, recurrent_dropout)
        self._hold(LSTM(
            units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name=self.name))

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]


class GRUCell(_BuiltinCell):
    """One step of GRU (Keras' gate order update, reset, candidate); state ``[h]``, ``(batch, units)``.
    ``reset_after=True`` (default) has a ``(2, 3 units)`` bias; False one ``(3 units,)`` bias."""

    config_omitted = ("implementation",)  # as Keras: a run-time choice, not part of the config

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, reset_after: bool = True,
                 seed: int | None = None, **kwargs):
        kwargs.pop("implementation", None)  # Keras' choice of how to split the gate products; one kernel here
        super().__init__(**kwargs)
        self._check_arguments(units, dropout, recurrent_dropout)
        self._hold(GRU(
            units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            reset_after=reset_after, seed=seed, name=self.name))

    @property
    def reset_after(self) -> bool:
        return self.sequence.reset_after


class StackedRNNCells(Layer):
    """Cells run one after the other within each step: cell ``i + 1`` takes cell ``i``'s output. Its states
    are the cells' states, one entry per cell (a tensor, or a list for cells with several states)."""

    input_ndim = 2

    def __init__(self, cells: list, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells takes a non-empty list of cells, got {cells!r}.")
        for cell in cells:
            check_cell(cell, "StackedRNNCells")
        self.cells = nn.ModuleList(cells) if all(isinstance(c, nn.Module) for c in cells) else list(cells)

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return cell_output_size(self.cells[-1])

    def build(self, input_shape: Shape) -> None:
        for cell in self.cells:
            build_cell(cell, input_shape)
            input_shape = (input_shape[0], cell_output_size(cell))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.output_size)

    def weight_views(self) -> list[WeightView]:
        """The cells' weights in order, named ``cell_<i>_<name>`` so that every cell's ``kernel`` has its own."""
        return [WeightView(f"cell_{i}_{v.name}", v.tensor, v.trainable, v.to_keras, v.from_keras,
                           path_tail=f"{cell.name}/{v.path_tail}")
                for i, cell in enumerate(self.cells) if isinstance(cell, Layer) for v in cell.weight_views()]

    def get_initial_state(self, batch_size: int) -> list:
        """One entry per cell, as Keras: the cell's own ``get_initial_state(batch_size=...)`` when it has one (a
        built-in cell's is a list of zeros), else zeros ``(batch_size, size)``: a tensor for an int
        ``state_size``, a list for a list of sizes."""
        states = []
        for cell in self.cells:
            own = getattr(cell, "get_initial_state", None)
            if own is not None:
                states.append(own(batch_size=batch_size))
                continue
            zeros = [torch.zeros(batch_size, size) for size in flat_state_sizes(cell.state_size)]
            states.append(zeros if isinstance(cell.state_size, (list, tuple)) else zeros[0])
        return states

    def forward(self, inputs: torch.Tensor, states: list):
        """``(batch, features)`` and one state entry per cell -> (last cell's output, new states)."""
        if len(states) != len(self.cells):
            raise ValueError(f"StackedRNNCells '{self.name}' has {len(self.cells)} cells and takes one state entry "
                             f"per cell, got {len(states)}.")
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            listed = isinstance(cell_states, (list, tuple))
            inputs, cell_states = call_cell(cell, inputs, list(cell_states) if listed else [cell_states])
            if isinstance(cell_states, torch.Tensor):
                cell_states = [cell_states]
            new_states.append(list(cell_states) if listed or len(cell_states) > 1 else cell_states[0])
        return inputs, (new_states[0] if len(new_states) == 1 else new_states)

    def get_config(self) -> dict:
        return {**self._base_config(), "cells": [_serialize(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config: dict) -> "StackedRNNCells":
        return cls(**{**config, "cells": [_deserialize(spec) for spec in config["cells"]]})


_CELLS = ((LSTM, LSTMCell), (GRU, GRUCell), (SimpleRNN, SimpleRNNCell))


def cell_of(layer: Recurrent) -> _BuiltinCell:
    """Keras' ``layer.cell`` of a SimpleRNN, LSTM or GRU: a cell of its kind whose sequence layer is ``layer``
    itself, so that it holds the very same weights (no copy: the layer keeps its fused kernels and weight layout).
    Made once and kept as a plain attribute, not a submodule: the cell holds the layer, not the other way round."""
    cell = layer.__dict__.get("_cell")
    if cell is None or cell.sequence is not layer:  # (a shallow copy of the layer makes its own)
        cls = next(cell_cls for layer_cls, cell_cls in _CELLS if isinstance(layer, layer_cls))
        takes = inspect.signature(cls.__init__).parameters
        config = {k: v for k, v in layer.get_config().items() if k in takes or k == "dtype"}
        # Keras' name; the cell makes an unbuilt layer of its own, replaced by `layer` at once
        cell = cls(**{**config, "name": to_snake_case(cls.__name__), "trainable": layer.trainable})
        cell.sequence = layer
        object.__setattr__(layer, "_cell", cell)
    return cell
