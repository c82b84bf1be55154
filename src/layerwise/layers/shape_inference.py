"""Output shapes of layers written as in Keras' guides (a ``call`` and no ``compute_output_shape``): found by
calling the layer once on zeros, as Keras traces ``call`` symbolically."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from layerwise.backend import float_dtype, get_device
from layerwise.layers.calling import is_shape_list, takes_argument, zeros_for
from layerwise.layers.penalties import forget_added_losses
from layerwise.layers.symbolic import KerasTensor
from layerwise import variables
from layerwise.variables import Variable


@contextlib.contextmanager
def stateless(module: torch.nn.Module) -> Iterator[None]:
    """Put back, on leaving, the state a call may change: buffers (moving statistics), ``add_weight``
    variables and non-trainable parameters. Keras traces ``call`` in a stateless scope, so a call on zeros
    that only finds shapes must not move a counter's ``assign_add`` or a BatchNormalization's statistics."""
    state = list(module.buffers()) + [p for p in module.parameters() if isinstance(p, Variable) or not p.requires_grad]
    saved = [(t, t.detach().clone()) for t in state]
    created: list = []  # variables the call makes (a layer built at its first call), with their first values
    variables._scopes.append(created)
    try:
        yield
    finally:
        variables._scopes.remove(created)
        with torch.no_grad():
            for tensor, value in saved + created:
                tensor.copy_(value)


def _keyword_zeros(value, size: int, device):
    """``value`` (a keyword argument) with each symbolic tensor in it replaced by zeros of its shape and dtype
    (a boolean mask stays boolean), its unknown axes ``size`` long as the first input's."""
    if isinstance(value, KerasTensor):
        dtype = getattr(torch, value.dtype, None)
        dtype = dtype if isinstance(dtype, torch.dtype) and not dtype.is_floating_point else float_dtype()
        return torch.zeros((1, *(size if d is None else d for d in value.shape[1:])), dtype=dtype, device=device)
    if isinstance(value, (list, tuple)):
        return type(value)(_keyword_zeros(v, size, device) for v in value)
    return value


def _output_shapes_for(layer, shapes, size: int, named: bool, several: bool, input_shape, more, device,
                       more_kwargs: dict):
    """(output shapes with batch None, whether call returned a list) of ``call`` on zeros of ``shapes``,
    their unknown axes ``size`` long."""
    zeros = [torch.zeros((1, *(size if d is None else d for d in s[1:])), dtype=float_dtype(), device=device)
             for s in shapes]
    extra = {k: _keyword_zeros(v, size, device) for k, v in more_kwargs.items()}
    if not several and zeros[0].dim() >= 2 and takes_argument(type(layer).call, "mask") and "mask" not in extra:
        # A call that reads its mask may need one to run at all (Keras traces it with the mask);
        # one that marks every step as real gives the output shape of any other.
        extra["mask"] = torch.ones(zeros[0].shape[:2], dtype=torch.bool, device=device)
    inputs = dict(zip(input_shape, zeros)) if named else zeros if several else zeros[0]
    with torch.no_grad(), stateless(layer):
        out = layer.forward(inputs, *more, **extra)
    forget_added_losses(layer)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [(None, *t.shape[1:]) if t.dim() else () for t in outs], isinstance(out, (list, tuple))

def output_shape_by_calling(layer, input_shape, device: torch.device | None = None, more_args: tuple = (),
                            more_kwargs: dict | None = None):
    """The output shape of ``call`` on zeros of ``input_shape`` (a shape, or a list or dict of shapes for a
    layer called on a list or dict) and of the tensors in ``more_args`` (positional arguments after the
    first) and ``more_kwargs`` (keyword arguments, as Keras traces ``call`` with them all), computed once per
    shape without gradients; losses it adds are discarded."""
    more_kwargs = more_kwargs or {}
    named = isinstance(input_shape, dict)
    several = named or is_shape_list(input_shape)
    shapes = [tuple(s) for s in (input_shape.values() if named else input_shape)] if several \
        else [tuple(input_shape)]
    device = device or get_device()
    more = zeros_for(tuple(more_args), device)
    key = (tuple(input_shape) if named else ()) + tuple((None, *s[1:]) for s in shapes) + tuple(
        tuple(v.shape[1:]) for v in more if isinstance(v, torch.Tensor)) + tuple(
        (k, tuple(v.shape[1:]) if isinstance(v, KerasTensor) else repr(v)) for k, v in sorted(more_kwargs.items()))
    if key not in layer._inferred_shapes:
        # Axes of unknown size (sequence lengths) get two sizes in turn: output axes that follow them are
        # unknown too, as Keras' symbolic trace leaves them.
        unknown = any(d is None for s in shapes for d in s[1:])
        runs = [_output_shapes_for(layer, shapes, size, named, several, input_shape, more, device, more_kwargs)
                for size in ((2, 3) if unknown else (1,))]
        out_shapes = [tuple(None if any(run[0][i][a] != d for run in runs) else d for a, d in enumerate(shape))
                      for i, shape in enumerate(runs[0][0])]
        layer._inferred_shapes[key] = (out_shapes, runs[0][1])
    out_shapes, listed = layer._inferred_shapes[key]
    batch = shapes[0][0]
    out_shapes = [(batch, *s[1:]) if s else s for s in out_shapes]  # a scalar (a running total) has no batch axis
    return out_shapes if listed else out_shapes[0]
