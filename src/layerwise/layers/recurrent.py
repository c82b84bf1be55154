"""SimpleRNN, LSTM and GRU with Keras' arguments, defaults and weight layout, on PyTorch's fused kernels.

All take ``(batch, timesteps, features)`` and give ``(batch, units)`` (the last output), or
``(batch, timesteps, units)`` with ``return_sequences=True``. Keras' weights are ``kernel
(features, gates * units)``, ``recurrent_kernel (units, gates * units)`` and one ``bias``; the shared
running machinery (masks, state, dropout, the fused and step-by-step paths) is in ``rnn_base``. As in Keras,
each has a ``cell`` (an ``LSTMCell``...) holding its weights: the very same tensors, not a copy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import _VF

from layerwise import activations, initializers
from layerwise.backend import float_dtype
from layerwise.layers.rnn_base import Recurrent, States, forget_gate_bias, recurrent_linear
from layerwise.layers.keras2_paths import any_layer


def _gated_kernel(layer: Recurrent, kernel, use_cudnn):
    """``kernel`` (PyTorch's fused LSTM or GRU) when it computes ``layer``'s gates (tanh and sigmoid, Keras' defaults)
    and ``use_cudnn`` is not False; else None, and the layer steps through time."""
    if use_cudnn not in ("auto", True, False):
        raise ValueError(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}.")
    default_gates = layer.activation is activations.tanh and layer.recurrent_activation is activations.sigmoid
    return kernel if default_gates and use_cudnn is not False else None


class _CellLayer(Recurrent):
    """What SimpleRNN, LSTM and GRU add to ``Recurrent``, as Keras' layers over a cell: ``state_size``, ``cell``."""

    @property
    def state_size(self) -> list[int]:
        """``[units]``, or ``[units, units]`` for LSTM (``h`` and ``c``), as Keras lists them."""
        return [self.units] * self.state_count

    @property
    def cell(self):
        """Keras' cell (SimpleRNNCell, LSTMCell or GRUCell) over this layer's own weights: the same tensors, so
        training either trains both; calling it runs one step ``(batch, features)``."""
        from layerwise.layers.cells import cell_of  # cells.py imports this module
        return cell_of(self)


class SimpleRNN(_CellLayer):
    """Fully connected recurrence ``h_t = activation(x_t W + h_{t-1} U + b)``; ``units (in + units + 1)``
    parameters. tanh and relu run fused; other activations step by step."""

    config_omitted = ("seed",)  # as Keras 3.15, whose SimpleRNN config has no seed

    def __init__(self, units: int, activation="tanh", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, seed: int | None = None, **kwargs):
        super().__init__(units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, dropout, recurrent_dropout, return_sequences, return_state,
                         go_backwards, stateful, unroll, seed=seed, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.kernel_fn = {activations.tanh: _VF.rnn_tanh, activations.relu: _VF.rnn_relu}.get(self.activation)

    def cell_step(self, x_proj: torch.Tensor, states: States, h_rec: torch.Tensor, b_rec):
        h = self.activation(x_proj + F.linear(h_rec, self.weight_hh))
        return h, [h]


class LSTM(_CellLayer):
    """Long short-term memory; gates in Keras' order (input, forget, cell, output), which is also
    PyTorch's; ``4 units (in + units + 1)`` parameters. ``unit_forget_bias`` starts the forget bias at 1.
    States are ``[h, c]``."""

    gates = 4
    cell_scope = "lstm_cell"
    config_omitted = ("use_cudnn", "implementation")  # as Keras: run-time choices, not part of the config

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias: bool = True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, use_cudnn="auto", **kwargs):
        kwargs.pop("implementation", None)  # Keras' choice of how to split the gate products; one kernel here
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                         return_sequences, return_state, go_backwards, stateful, unroll, seed=seed,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, **kwargs)
        self.unit_forget_bias, self.use_cudnn = unit_forget_bias, use_cudnn
        self.kernel_fn = _gated_kernel(self, _VF.lstm, use_cudnn)

    @property
    def state_count(self) -> int:
        return 2

    def initial_bias(self) -> torch.Tensor:
        return forget_gate_bias(self.bias_initializer, self.units) if self.unit_forget_bias else super().initial_bias()

    def cell_step(self, x_proj: torch.Tensor, states: States, h_rec: torch.Tensor, b_rec):
        i, f, g, o = (x_proj + recurrent_linear(h_rec, self.weight_hh)).chunk(4, dim=1)
        act, gate = self.activation, self.recurrent_activation
        c = gate(f) * states[1] + gate(i) * act(g)
        h = gate(o) * act(c)
        return h, [h, c]


class GRU(_CellLayer):
    """Gated recurrent unit. Keras orders the gates (update z, reset r, candidate h); PyTorch (r, z, n):
    the blocks are swapped at the ``get_weights`` edge. With ``reset_after=True`` (Keras' default and
    PyTorch's formula) the bias is ``(2, 3 units)``, input and recurrent, ``3 units (in + units + 2)``
    parameters, and it runs fused; ``reset_after=False`` (one bias, reset before the matmul) steps."""

    gates = 3
    cell_scope = "gru_cell"
    config_omitted = ("use_cudnn", "implementation")  # as Keras: run-time choices, not part of the config

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 reset_after: bool = True, use_cudnn="auto", **kwargs):
        kwargs.pop("implementation", None)  # Keras' choice of how to split the gate products; one kernel here
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                         return_sequences, return_state, go_backwards, stateful, unroll, seed=seed,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, **kwargs)
        self.reset_after, self.use_cudnn = reset_after, use_cudnn
        # reset_after=False resets before the recurrent product, which PyTorch's GRU kernel does not do.
        self.kernel_fn = _gated_kernel(self, _VF.gru if reset_after else None, use_cudnn)

    def gate_order(self) -> list[int]:
        u = self.units
        return [*range(u, 2 * u), *range(u), *range(2 * u, 3 * u)]

    def initial_bias(self) -> torch.Tensor:
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return initializers.weight_initializer(self.bias_initializer)(shape, float_dtype())

    def flat_weights(self) -> list[torch.Tensor]:
        if not self.use_bias:
            return [self.weight_ih, self.weight_hh]
        return [self.weight_ih, self.weight_hh, self.bias[0], self.bias[1]]

    def loop_biases(self):
        if self.use_bias and self.reset_after:
            return self.weight_ih, self.bias[0], self.bias[1]
        return self.weight_ih, self.bias, None

    def cell_step(self, x_proj: torch.Tensor, states: States, h_rec: torch.Tensor, b_rec):
        u, act, gate = self.units, self.activation, self.recurrent_activation
        x_r, x_z, x_n = x_proj.chunk(3, dim=1)
        if self.reset_after:
            h_r, h_z, h_n = recurrent_linear(h_rec, self.weight_hh, b_rec).chunk(3, dim=1)
            r, z = gate(x_r + h_r), gate(x_z + h_z)
            n = act(x_n + r * h_n)
        else:
            per_gate = h_rec.dim() == 3  # a recurrent dropout mask per gate
            h_r, h_z = recurrent_linear(h_rec[:, :2] if per_gate else h_rec, self.weight_hh[:2 * u]).chunk(2, dim=1)
            r, z = gate(x_r + h_r), gate(x_z + h_z)
            n = act(x_n + F.linear(r * (h_rec[:, 2] if per_gate else h_rec), self.weight_hh[2 * u:]))
        h = z * states[0] + (1 - z) * n
        return h, [h]


__getattr__ = any_layer(__name__)  # Keras 2's keras.layers.recurrent held other layers too
