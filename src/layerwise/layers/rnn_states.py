"""A recurrent layer's states: their structure, and the checks of states a user gives. They travel flat inside
layerwise (the fused kernels take a flat list); Keras hands a stack of cells' states out nested per cell, so they
are nested at the edges."""
from __future__ import annotations

import torch


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
