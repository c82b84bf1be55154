"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: LSTMs whose input and recurrent transforms are convolutions.

Inputs are ``(batch, time, *spatial, channels)``; the output is ``(batch, *new_spatial, filters)`` (the last
step), or ``(batch, time, *new_spatial, filters)`` with ``return_sequences``; the states ``[h, c]`` have the
last step's shape. With ``data_format='channels_first'`` the channels come before the spatial axes:
``(batch, time, channels, *spatial)`` and ``(batch, filters, *new_spatial)``. Keras' weights are ``kernel
(*kernel_size, channels, 4 filters)``, ``recurrent_kernel (*kernel_size, filters, 4 filters)`` and ``bias
(4 filters,)``, gates in the order (input, forget, cell, output); they are stored in PyTorch's convolution
layout ``(4 filters, in, *kernel_size)``.

PyTorch has no fused ConvLSTM kernel, so the steps run in a loop (``rnn_base.step_loop``, which also applies
masks), but the input convolution runs once for every step (time folded into the batch axis) and each step
does one recurrent convolution giving all four gates. Tensors run channels-last (channels-first inputs and
states are viewed so), which is PyTorch's channels_last memory format once viewed channels-first: what
oneDNN's convolutions use without a copy.
"""
from __future__ import annotations

import torch

from layerwise.layers._padding import (DataFormat, as_tuple, channels_first, channels_last, check_padding,
                                       conv_output_length, torch_padding)
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import LayerWeight, new_parameter, WeightView
from layerwise.layers.convolutional import CONV, kernel_to_keras, kernel_to_torch
from layerwise.layers.rnn_base import Recurrent, States, forget_gate_bias, step_loop

_AXES = {1: "(batch, time, rows, channels)", 2: "(batch, time, rows, cols, channels)",
         3: "(batch, time, depth, rows, cols, channels)"}


class _ZeroStates(list):
    """Initial states known to be zeros, so that the first step skips its recurrent convolution (of zeros)."""


class _ConvLSTM(DataFormat, Recurrent):
    """The ConvLSTM of ``rank`` spatial axes; running, state and masks come from ``Recurrent``."""

    rank = 2
    gates = 4
    cell_scope = "conv_lstm_cell"  # Keras' cell name, whatever the rank

    resolved_config = (*Recurrent.resolved_config, "kernel_size", "strides", "dilation_rate")

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias: bool = True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: int | None = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, **kwargs):
        layer = type(self).__name__
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{layer} filters must be a positive integer, got {filters!r}.")
        super().__init__(filters, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, dropout, recurrent_dropout, return_sequences,
                         return_state, go_backwards, stateful, seed=seed, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, activity_regularizer=activity_regularizer, **kwargs)
        self.filters, self.unit_forget_bias = filters, unit_forget_bias
        self.set_data_format(data_format)
        self.kernel_size = as_tuple(kernel_size, self.rank, f"{layer} kernel_size")
        self.strides = as_tuple(strides, self.rank, f"{layer} strides")
        self.dilation_rate = as_tuple(dilation_rate, self.rank, f"{layer} dilation_rate")
        self.padding = check_padding(padding, False, f"{layer} padding")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{layer} does not take strides > 1 together with dilation_rate > 1, as Keras does "
                             f"not; got strides={self.strides}, dilation_rate={self.dilation_rate}.")
        self.state_shape: Shape | None = None  # (None, *spatial, filters) or channels first, fixed at build

    @property
    def input_ndim(self) -> int:
        return self.rank + 3

    @property
    def state_count(self) -> int:
        return 2

    # ---- shapes and weights --------------------------------------------------------------------
    def initial_bias(self) -> torch.Tensor:
        """As LSTM's: with ``unit_forget_bias`` the forget gate's block starts at 1."""
        if self.unit_forget_bias:
            return forget_gate_bias(self.bias_initializer, self.filters)
        return super().initial_bias()

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.input_ndim:
            raise ValueError(self._shape_message(f"a {self.input_ndim}-D input {_AXES[self.rank]}", input_shape))
        if input_shape[1] == 0:
            raise ValueError(self._shape_message("at least one time step", input_shape))
        if any(n is None for n in input_shape[2:]):
            raise ValueError(self._shape_message("known spatial sizes and channel count (Keras' ConvLSTM "
                                                 "needs static spatial sizes)", input_shape))
        if self.built and self.input_shape_built is not None and \
                tuple(input_shape[2:]) != tuple(self.input_shape_built[2:]):
            expected = (None, None, *self.input_shape_built[2:])
            raise ValueError(self._shape_message(f"input shape {expected} (spatial sizes and channels are fixed "
                                                 "when the layer builds)", input_shape))
        Layer.check_input_shape(self, input_shape)
        self._step_shape(input_shape)  # raises where a 'valid' window does not fit

    @property
    def channel_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else -1

    def _step_shape(self, input_shape: Shape) -> Shape:
        """``(batch, *new_spatial, filters)`` (or channels first), the shape of one step's output and of each
        state."""
        frames = input_shape[3:] if self.data_format == "channels_first" else input_shape[2:-1]
        spatial = [conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
                   zip(frames, self.kernel_size, self.strides, self.dilation_rate)]
        if any(n <= 0 for n in spatial):
            raise ValueError(self._shape_message(
                f"spatial sizes of at least the dilated kernel {self.kernel_size} (dilation_rate "
                f"{self.dilation_rate}) with padding='valid'", input_shape))
        return self.shape_from(input_shape[0], spatial, self.filters)

    def build(self, input_shape: Shape) -> None:
        self._fix_batch_size_at_build(input_shape)
        g, f, k = self.gates, self.filters, self.kernel_size
        to_torch = kernel_to_torch(self.rank)
        self.weight_ih = new_parameter(self.kernel_initializer, (*k, input_shape[self.channel_axis], g * f), to_torch)
        self.weight_hh = new_parameter(self.recurrent_initializer, (*k, f, g * f), to_torch)
        self.bias = LayerWeight(self.initial_bias().contiguous()) if self.use_bias else None
        self.state_shape = (None, *self._step_shape(input_shape)[1:])

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        kernel = dict(to_keras=kernel_to_keras(self.rank), from_keras=kernel_to_torch(self.rank))
        views = [WeightView("kernel", self.weight_ih, **kernel),
                 WeightView("recurrent_kernel", self.weight_hh, **kernel)]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return self.in_cell_scope(views)

    def compute_output_shape(self, input_shape: Shape):
        step = self._step_shape(input_shape)
        out = (step[0], input_shape[1], *step[1:]) if self.return_sequences else step
        return [out, step, step] if self.return_state else out

    # ---- running --------------------------------------------------------------------------------
    def _state_shape(self, batch: int) -> tuple:
        return (batch, *self.state_shape[1:])

    def _initial_states(self, batch: int, initial_state: list | None) -> States:
        if initial_state is None and not (self.stateful and self._carried is not None):
            zeros = torch.zeros(self._state_shape(batch), dtype=self.weight_hh.dtype, device=self.weight_hh.device)
            return _ZeroStates([zeros, zeros])
        return super()._initial_states(batch, initial_state)

    def run(self, x: torch.Tensor, mask: torch.Tensor | None, states: States):
        """The input convolution over every step at once, then the recurrence over ``x`` ``(batch, time,
        *spatial, channels)`` (or channels first) whose steps are already in running order. Returns (outputs or
        None, last output, final states), in the layer's data format."""
        first = self.data_format == "channels_first"
        if first:  # run channels-last: free views of the input and the states
            x = x.movedim(2, -1)
            states = type(states)(s.movedim(1, -1) for s in states)
        outputs, last, states = self._run_channels_last(x, mask, states)
        if first:
            outputs = None if outputs is None else outputs.movedim(-1, 2)
            last, states = last.movedim(-1, 1), [s.movedim(-1, 1) for s in states]
        return outputs, last, states

    def _gate_keep(self, like: torch.Tensor, rate: float) -> torch.Tensor:
        """Keras' four independent dropout masks of ``like`` ``(batch, ..., channels)`` as ``(batch, ..., gates,
        channels)``: multiplied with ``x[..., None, :]`` and flattened, they give the channels of a convolution
        with ``groups=gates``."""
        return self._dropout_keep(like, (*like.shape[:-1], self.gates, like.shape[-1]), rate)

    def _run_channels_last(self, x: torch.Tensor, mask: torch.Tensor | None, states: States):
        groups = 1
        if self.training and self.dropout:
            # Keras draws one mask per gate, shared by every step: a grouped convolution applies all four.
            keep = self._gate_keep(x[:, 0], self.dropout).unsqueeze(1)
            x, groups = (x.unsqueeze(-2) * keep).flatten(-2), self.gates
        batch, steps = x.shape[:2]
        folded = channels_first(x.reshape(batch * steps, *x.shape[2:]))
        folded, pad = torch_padding(folded, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        gates_in = CONV[self.rank](folded, self.weight_ih, self.bias, self.strides, pad, self.dilation_rate, groups)
        gates_in = channels_last(gates_in)
        gates_in = gates_in.reshape(batch, steps, *gates_in.shape[1:])

        rec_keep, rec_groups = None, 1
        if self.training and self.recurrent_dropout:
            rec_keep, rec_groups = self._gate_keep(states[0], self.recurrent_dropout), self.gates
        ones = (1,) * self.rank
        act, gate = self.activation, self.recurrent_activation
        zero_h = states[0] if isinstance(states, _ZeroStates) else None  # only the first step sees it

        def step(x_t: torch.Tensor, states: States):
            h, c = states
            z = x_t
            if h is not zero_h:
                if rec_keep is not None:
                    h = (h.unsqueeze(-2) * rec_keep).flatten(-2)
                h, pad = torch_padding(channels_first(h), self.kernel_size, ones, ones, "same")
                z = channels_last(CONV[self.rank](h, self.weight_hh, None, 1, pad, 1, rec_groups)) + x_t
            i, f, g, o = z.chunk(4, dim=-1)
            c = gate(f) * c + gate(i) * act(g)
            h = gate(o) * act(c)
            return h, [h, c]

        return step_loop(step, gates_in, mask, states, self.return_sequences, self.zero_output_for_mask)


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM: ``(batch, time, rows, channels) -> (batch, new_rows, filters)``, or
    ``(batch, time, new_rows, filters)`` with ``return_sequences``."""
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM: ``(batch, time, rows, cols, channels) -> (batch, new_rows, new_cols,
    filters)``, or ``(batch, time, new_rows, new_cols, filters)`` with ``return_sequences``."""
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM: ``(batch, time, depth, rows, cols, channels) -> (batch, new_depth, new_rows,
    new_cols, filters)``, or with the time axis kept with ``return_sequences``."""
    rank = 3
