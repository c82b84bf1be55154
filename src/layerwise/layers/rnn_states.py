"""A recurrent layer's states: their structure, the checks of states a user gives, and what a stateful layer
carries from one batch to the next (``StateCarrier``). They travel flat inside layerwise (the fused kernels take a
flat list); Keras hands a stack of cells' states out nested per cell, so they are nested at the edges."""
from __future__ import annotations

import torch

from layerwise.layers.base import Shape

States = list  # [h] or [h, c], each (batch, units)


def flat_state_sizes(state_size) -> list[int]:
    """``state_size`` (an int, or lists of them for cells with several states or stacks) as a flat list."""
    if isinstance(state_size, (list, tuple)):
        return [size for item in state_size for size in flat_state_sizes(item)]
    return [int(state_size)]


def flatten_states(states) -> list:
    """The tensors (or arrays) in ``states``, however nested in lists and tuples, in order."""
    if isinstance(states, (list, tuple)):
        return [s for item in states for s in flatten_states(item)]
    return [states]


def nest_states(states: list, stack_state_size=None) -> list:
    """Flat ``states`` as Keras hands them out: nested per cell for a stack of cells (``stack_state_size``, one entry
    per cell: a list for a cell whose ``state_size`` is a list, the tensor for an int), else flat."""
    if stack_state_size is None:
        return list(states)
    nested, start = [], 0
    for size in stack_state_size:
        count = len(flat_state_sizes(size))
        nested.append(list(states[start:start + count]) if isinstance(size, (list, tuple)) else states[start])
        start += count
    return nested


def outputs_with_nested_states(leading: int, layers_states: tuple, outputs: list) -> tuple:
    """A call's flat outputs (``leading`` outputs, then each recurrent layer's states, ``layers_states`` giving each
    layer's ``(state_count, stack_state_size)``) as the tuple Keras returns, each layer's states nested by
    ``nest_states``. The container of symbolic calls whose eager call returns nested states."""
    result, start = list(outputs[:leading]), leading
    for count, stack_state_size in layers_states:
        result.extend(nest_states(outputs[start:start + count], stack_state_size))
        start += count
    return tuple(result)


def given_states(layer, states: list, shapes: list[tuple], like: torch.Tensor,
                 what: str = "initial state") -> list[torch.Tensor]:
    """A user's initial states (tensors or arrays) as tensors like ``like``, each checked against its shape:
    the fused kernels would read past a state of the wrong batch size instead of failing."""
    out = []
    for i, (state, shape) in enumerate(zip(states, shapes)):
        state = torch.as_tensor(state, dtype=like.dtype, device=like.device)
        if tuple(state.shape) != tuple(shape):
            raise ValueError(f"{type(layer).__name__} '{layer.name}' needs {what} {i} of shape "
                             f"{tuple(shape)} (the batch's size first); got {tuple(state.shape)}.")
        out.append(state)
    return out


class StateCarrier:
    """Keras' rules for the states a stateful recurrent layer carries from one batch to the next, shared by
    ``Recurrent`` and ``RNN`` (which define ``state_count`` and ``get_initial_state(batch_size)``). The batch size
    is fixed by the first one known: at build (Keras needs it there) or else the first batch's. Also the masks
    of their outputs."""

    _carried: States | None = None  # the last batch's final states; None: zeros
    _batch_size: int | None = None  # a stateful layer's fixed batch size, once known
    stack_state_size = None  # an RNN over a stack of cells: its state_size, by which its states nest per cell

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None):
        """The input's mask ``(batch, timesteps)`` for a sequence output, else None; with ``return_state`` one
        entry per output (None for each state), as Keras, so the sequence output keeps its mask eagerly too."""
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self.state_count if self.return_state else output_mask

    @property
    def states(self) -> States | None:
        """A stateful layer's states, ``(batch, ...)`` each (a stack's nested per cell): what the last batch left,
        or zeros before any batch and after ``reset_states()`` once the batch size is known, as Keras. None for a
        layer that is not stateful (as Keras) or whose batch size is not known yet (Keras refuses to build a stateful
        layer without one)."""
        carried = self._carried
        if carried is None and self.stateful and self._batch_size is not None:
            carried = flatten_states(self.get_initial_state(self._batch_size))
        return None if carried is None else nest_states(carried, self.stack_state_size)

    @states.setter
    def states(self, states: States | None) -> None:
        self._carried = states

    def reset_states(self, states: list | None = None) -> None:
        """Zero the states a stateful layer carries (Keras' ``reset_state()``; its batch size stays fixed), or set
        them to ``states`` (Keras 2's ``reset_states(states)``), a list of ``(batch, ...)`` tensors or arrays."""
        if states is None:
            self._carried = None
            return
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} '{self.name}' is not stateful: it carries no states to set.")
        states = self._flat_states(states)
        if len(states) != self.state_count:
            raise ValueError(f"{type(self).__name__} '{self.name}' carries {self.state_count} state tensor(s), "
                             f"got {len(states)}.")
        batch = self._batch_size if self._batch_size is not None else len(states[0])
        zeros = flatten_states(self.get_initial_state(batch))
        self._carried = given_states(self, states, [z.shape for z in zeros], zeros[0], what="state")
        self._batch_size = batch

    reset_state = reset_states

    def _flat_states(self, states) -> list:
        return list(states) if isinstance(states, (list, tuple)) else [states]

    def _fix_batch_size(self, batch: int | None) -> None:
        """A stateful layer's batch size: fixed by the first one known, any other refused (as Keras). The
        message keeps Keras' 'Expected/Received batch size' and says what to do."""
        if not self.stateful or batch is None:
            return
        if self._batch_size is None:
            self._batch_size = batch
        elif batch != self._batch_size:
            expected = self._batch_size
            raise ValueError(
                f"Layer '{self.name}' is stateful and carries state for batches of {expected} sequences, but "
                f"received a batch of {batch} (expected batch size: {expected}, received batch size: {batch}). "
                f"A stateful layer's batch size is fixed: use a number of samples divisible by the batch size "
                f"(drop the last len(x) % {expected} samples); for another batch size, build a new layer or "
                "model and give it these weights with set_weights().")

    def _fix_batch_size_at_build(self, input_shape: Shape) -> None:
        """The batch size a stateful layer is built for: the input's, or Keras 2's ``batch_input_shape=``."""
        own = (self.batch_input_shape or (None,))[0]
        self._fix_batch_size(input_shape[0] if input_shape[0] is not None else own)
