"""RNN: a recurrent cell run over sequences, as ``keras.layers.RNN``.

``RNN(cell)`` takes ``(batch, timesteps, features)``. The cell is a built-in cell (``layers/cells.py``),
a list of cells (stacked with ``StackedRNNCells``), or a layer written the Keras way: a ``state_size``
attribute and ``call(inputs, states)`` returning ``(output, new_states)``, weights from ``add_weight``.
Built-in cells, alone or stacked, run on their sequence layers' fused kernels (``rnn_base``), so
``RNN(LSTMCell(64))`` costs what ``LSTM(64)`` costs; other cells run step by step (``step_loop``) as in Keras.

States travel flat inside; at the edges they are nested per cell for a stack, as Keras nests them:
``return_state`` gives ``(output, [h1, c1], h2)`` for an LSTM cell and a GRU cell, ``states`` likewise, and
``initial_state`` takes the states flat or nested (``[[h1, c1], [h2, c2]]`` for two LSTM cells).
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import torch

from layerwise.backend import float_dtype, get_device
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import WeightView
from layerwise.layers.cells import StackedRNNCells, _BuiltinCell, build_cell, call_cell, cell_output_size, check_cell
from layerwise.layers.rnn_base import Recurrent, States, check_sequence_shape, sequence_input, step_loop
from layerwise.layers.rnn_states import (StateCarrier, flat_state_sizes, flatten_states, given_states, nest_states,
                                         outputs_with_nested_states)
from layerwise.layers.wrappers import _deserialize, _serialize


@contextmanager
def _flags_set(layer: Recurrent, flags: dict):
    """``layer``'s attributes set to ``flags`` for one run, then put back: a cell's sequence layer may be the
    user's own (``RNN(lstm.cell)`` shares that LSTM's weights, as in Keras), whose settings must not change."""
    saved = {name: getattr(layer, name) for name in flags}
    for name, value in flags.items():
        setattr(layer, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(layer, name, value)


class RNN(StateCarrier, Layer):
    """Runs ``cell`` over ``(batch, timesteps, features)``: ``(batch, output_size)``, or ``(batch, timesteps,
    output_size)`` with ``return_sequences``; ``(output, *states)`` (states ``(batch, size)``, a stack's nested per
    cell) with ``return_state``. ``mask`` ``(batch, timesteps)``: a masked step keeps the states and repeats the
    last output (zeros with ``zero_output_for_mask``). ``unroll`` is accepted; it changes nothing here."""

    supports_masking = True
    resolved_config = ("zero_output_for_mask",)  # Bidirectional sets it on its copies; Keras writes what they use

    def __init__(self, cell, return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, zero_output_for_mask: bool = False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        check_cell(cell, "RNN")
        super().__init__(**kwargs)
        self._config = {k: v for k, v in self._config.items() if k != "cell"}  # the cell is saved by get_config
        self.cell = cell
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll = go_backwards, stateful, unroll
        self.zero_output_for_mask = zero_output_for_mask

    @property
    def state_size(self) -> list:
        """One entry per state, as Keras lists them (an entry per cell for a stack)."""
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    @property
    def state_count(self) -> int:
        """How many state tensors the layer takes and returns (flat)."""
        return len(flat_state_sizes(self.cell.state_size))

    @property
    def stack_state_size(self) -> list | None:
        return self.cell.state_size if isinstance(self.cell, StackedRNNCells) else None

    @property
    def outputs_container(self):
        """How a symbolic call with ``return_state`` returns its outputs: as the eager call, a tuple."""
        if self.stack_state_size is None:
            return tuple
        return partial(outputs_with_nested_states, 1, ((self.state_count, self.stack_state_size),))

    def sequence_layers(self) -> list[Recurrent] | None:
        """The fused sequence layers that hold the built-in cells (one per cell of a stack), or None when
        some cell is not built-in and the cell must run step by step."""
        cells = list(self.cell.cells) if isinstance(self.cell, StackedRNNCells) else [self.cell]
        if not all(isinstance(cell, _BuiltinCell) for cell in cells):
            return None
        return [cell.sequence for cell in cells]

    # ---- shapes and weights --------------------------------------------------------------------
    def check_input_shape(self, input_shape: Shape) -> None:
        if self.sequence_layers() is not None:
            check_sequence_shape(self, input_shape)
        elif len(input_shape) < 3 or input_shape[1] == 0:
            raise ValueError(self._shape_message("an input (batch, timesteps, features...) with at least one "
                                                 "time step", input_shape))
        super().check_input_shape(input_shape)

    def build(self, input_shape: Shape) -> None:
        self._fix_batch_size_at_build(input_shape)
        build_cell(self.cell, (input_shape[0], *input_shape[2:]))

    def compute_output_shape(self, input_shape: Shape):
        batch, size = input_shape[0], cell_output_size(self.cell)
        out = (batch, input_shape[1], size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [out] + [(batch, s) for s in flat_state_sizes(self.cell.state_size)]
        return out

    def weight_views(self) -> list[WeightView]:
        if not isinstance(self.cell, Layer):
            return []
        return [v.held_by(self.cell, scope=self.cell.name) for v in self.cell.weight_views()]

    # ---- state ----------------------------------------------------------------------------------
    def _flat_states(self, states) -> list:
        return flatten_states(states)  # reset_states takes them flat or nested as initial_state

    def get_initial_state(self, batch_size: int) -> list:
        """The states a batch starts from (a stack's nested per cell, as Keras): the cell's own
        ``get_initial_state(batch_size)`` when a custom cell or a stack has one (a stack asks each of its cells),
        else zeros ``(batch_size, size)`` for each size in ``state_size``; on the weights' device and in their
        dtype."""
        like = next(self.parameters(), None)
        like = torch.zeros((), dtype=float_dtype(), device=get_device()) if like is None else like
        custom = getattr(self.cell, "get_initial_state", None)
        if custom is not None and not isinstance(self.cell, _BuiltinCell):
            # By keyword, as Keras calls it: Keras 2 cells take (inputs=None, batch_size=None, dtype=None).
            states = [torch.as_tensor(s, dtype=like.dtype, device=like.device)
                      for s in flatten_states(custom(batch_size=batch_size))]
        else:
            states = [like.new_zeros(batch_size, size) for size in flat_state_sizes(self.cell.state_size)]
        return nest_states(states, self.stack_state_size)

    def _initial_states(self, x: torch.Tensor, initial_state) -> States:
        sizes = flat_state_sizes(self.cell.state_size)
        if initial_state is not None:
            states = flatten_states(initial_state)
            if len(states) != len(sizes):
                raise ValueError(f"RNN '{self.name}' takes {len(sizes)} initial state tensor(s) (its cell's "
                                 f"state_size is {self.cell.state_size!r}), got {len(states)}.")
            return given_states(self, states, [(x.shape[0], size) for size in sizes], x)
        carried = self.stateful and self._carried is not None
        states = self._carried if carried else flatten_states(self.get_initial_state(x.shape[0]))
        return [s.to(device=x.device, dtype=x.dtype) for s in states]

    # ---- running --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, initial_state=None):
        """``(batch, timesteps, features)`` -> the output (and the final states with ``return_state``);
        ``mask`` ``(batch, timesteps)``, True where a step is real."""
        x, mask = sequence_input(self, x, mask, self.go_backwards)
        self._fix_batch_size(x.shape[0])  # as Keras, also when initial_state is given
        states = self._initial_states(x, initial_state)
        layers = self.sequence_layers()
        if layers is not None:
            outputs, last, states = self._run_layers(layers, x, mask, states)
        else:
            outputs, last, states = step_loop(self._step, x, mask, states, self.return_sequences,
                                              self.zero_output_for_mask)
        if self.stateful:
            self.states = [s.detach() for s in states]
        output = outputs if self.return_sequences else last
        return (output, *nest_states(states, self.stack_state_size)) if self.return_state else output

    def _run_layers(self, layers: list[Recurrent], x: torch.Tensor, mask: torch.Tensor | None, states: States):
        """A stack of built-in cells as their sequence layers, one after the other over the whole sequence.
        Exact: a masked step changes no cell's state, so what a lower cell outputs there is never used."""
        finals = []
        for i, layer in enumerate(layers):
            flags = {"return_sequences": self.return_sequences if i == len(layers) - 1 else True,
                     "zero_output_for_mask": self.zero_output_for_mask,
                     "_cell_state_used": self.return_state or self.stateful}  # else an LSTM may skip packing
            with _flags_set(layer, flags):
                x, last, layer_states = layer.run(x, mask, states[:layer.state_count])
            states = states[layer.state_count:]
            finals.extend(layer_states)
        return x, last, finals

    def _step(self, inputs: torch.Tensor, states: States):
        """One step of the cell on flat states, given to the cell nested as Keras nests them."""
        output, new_states = call_cell(self.cell, inputs, nest_states(states, self.stack_state_size))
        new_states = flatten_states(new_states)
        if len(new_states) != len(states):  # else the missing states would silently stay as they were
            raise ValueError(f"RNN '{self.name}': the cell {type(self.cell).__name__} returned {len(new_states)} "
                             f"state tensor(s), but its state_size {self.cell.state_size!r} holds {len(states)}.")
        return output, new_states

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {**super().get_config(), "cell": _serialize(self.cell)}

    @classmethod
    def from_config(cls, config: dict) -> "RNN":
        return cls(**{**config, "cell": _deserialize(config["cell"])})
