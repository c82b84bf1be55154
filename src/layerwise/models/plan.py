"""The execution plan: the model's layers turned into a list of steps, with exact rewrites.

A rewrite changes how the work is done, never the result: each is a small function that
either claims a run of layers and returns one fused step, or declines (returns None).
``tests/models/test_plan.py`` proves each one gives the same outputs and gradients as
running the layers one by one. ``model.layers`` stays exactly what the user added.
"""
from __future__ import annotations

from typing import Callable

import torch

from layerwise import activations
from layerwise.dtype_policies.autocast import is_plain, policy_step
from layerwise.layers.base import Layer
from layerwise.layers.calling import takes_argument
from layerwise.layers.convolutional import _Conv
from layerwise.layers.core import Dense
from layerwise.layers.pooling import GlobalAveragePooling1D, _MaxPooling

Step = Callable[[torch.Tensor], torch.Tensor]
Rewrite = Callable[[list], "tuple[Step, int] | None"]


def _built_in(layer) -> bool:
    """Whether the layer computes with layerwise's own forward: a subclass that overrides ``call`` (or
    ``forward``) runs as written, never through a rewrite."""
    forward = type(layer).forward
    return forward.__module__.startswith("layerwise.") and forward is not Layer.forward


def activation_after_max_pool(layers: list) -> tuple[Step, int] | None:
    """Conv(activation=f) then MaxPooling -> pool(conv) then f, on the map 4x (or more) smaller.

    Exact because max-pooling commutes with any non-decreasing f, and so do their gradients
    (the pooled argmax is the same element either way). The activation runs in place:
    max-pooling's backward needs its input and indices, not its output.
    """
    if len(layers) < 2:
        return None
    conv, pool = layers[0], layers[1]
    if not (isinstance(conv, _Conv) and isinstance(pool, _MaxPooling) and _built_in(conv) and _built_in(pool)
            and conv.data_format == pool.data_format):
        return None
    act = conv.activation
    if act is activations.linear or act not in activations.NON_DECREASING:
        return None
    act = activations.INPLACE.get(act, act)

    def conv_pool_activation(x: torch.Tensor) -> torch.Tensor:
        return conv.from_channels_first(act(pool.pool(conv.linear_channels_first(conv.to_channels_first(x)))))

    return conv_pool_activation, 2


def inplace_activation(layers: list) -> tuple[Step, int] | None:
    """Dense/Conv with relu, sigmoid or tanh -> the activation in place on the fresh linear output.

    Safe because the backward of a matmul or convolution needs its input and weights, not its
    output, and these activations' own backward needs only their result.
    """
    layer = layers[0]
    if not isinstance(layer, (Dense, _Conv)) or not _built_in(layer) or layer.activation not in activations.INPLACE:
        return None
    act = activations.INPLACE[layer.activation]
    if isinstance(layer, _Conv):
        def conv_activation(x: torch.Tensor) -> torch.Tensor:
            return layer.from_channels_first(act(layer.linear_channels_first(layer.to_channels_first(x))))
        return conv_activation, 1

    def dense_activation(x: torch.Tensor) -> torch.Tensor:
        return act(layer.linear(x))
    return dense_activation, 1


def masked_run(layers: list) -> tuple[Step, int] | None:
    """A layer that makes a mask (Embedding(mask_zero=True), Masking) and the layers after it that use
    or keep that mask -> one step that hands the ``(batch, timesteps)`` mask along, as Keras does.

    Models without such a layer never reach past the first check, so their plan is unchanged. The run
    ends at the first layer that neither keeps nor uses a mask (Keras drops the mask there too), or
    after the layer that consumes it (a recurrent layer without return_sequences, a global average).
    """
    if not getattr(layers[0], "produces_mask", False):
        return None
    run = [layers[0]]
    for layer in layers[1:]:
        if not getattr(layer, "supports_masking", False):
            break
        run.append(layer)
        if isinstance(layer, GlobalAveragePooling1D) or getattr(layer, "return_sequences", True) is False:
            break
    uses_mask = [takes_argument(layer._call_function(), "mask") for layer in run]
    to_the_end = len(run) == len(layers)

    def masked_layers(x: torch.Tensor) -> torch.Tensor:
        mask = None
        for layer, uses in zip(run, uses_mask):
            x, mask = (layer.forward(x, mask=mask) if uses else layer.forward(x)), layer.compute_mask(x, mask)
            layer.record_activity(x)
        if to_the_end and mask is not None:
            x._keras_mask = mask  # the model's output carries it: losses and metrics skip masked steps, as Keras
        return x

    return masked_layers, len(run)


REWRITES: list[Rewrite] = [masked_run, activation_after_max_pool, inplace_activation]


def recorded(layer) -> Step:
    """``layer.forward`` that also keeps the activity penalty of its output (see ``Layer.losses``)."""
    def forward_and_record(x: torch.Tensor) -> torch.Tensor:
        out = layer.forward(x)
        layer.record_activity(out)
        return out
    return forward_and_record


def _mask_reaches_a_nested_model(layers: list) -> bool:
    """Whether a layer that makes a mask (Embedding(mask_zero=True), Masking) comes before a nested model."""
    from layerwise.models.model import Model

    made = False
    for layer in layers:
        if made and isinstance(layer, Model):
            return True
        made = made or getattr(layer, "produces_mask", False)
    return False


def build_plan(layers: list, rewrites: list[Rewrite] = REWRITES) -> list[Step]:
    """The steps that compute ``layers`` in order; ``rewrites=[]`` gives the plain layer-by-layer plan.

    A layer with an activity regularizer needs its own output, so no fused step other than a masked
    run (which records every layer's output) may swallow it. When a layer has a dtype policy other than
    float32 (``"mixed_bfloat16"``...), each step runs under its layers' policy and fuses only layers of one policy.
    """
    if _mask_reaches_a_nested_model(layers):
        # each layer's call hands the mask along on the tensors, into and out of the nested model, as Keras' run does
        return [layer.__call__ for layer in layers]
    penalised = [getattr(layer, "activity_regularizer", None) is not None for layer in layers]
    policies = [layer.dtype_policy if isinstance(layer, Layer) else None for layer in layers]
    with_policies = any(p is not None and not is_plain(p) for p in policies)
    steps: list[Step] = []
    i = 0
    while i < len(layers):
        end = next((j for j in range(i, len(layers)) if penalised[j]), len(layers))
        for rewrite in rewrites:
            span = layers[i:] if rewrite is masked_run else layers[i:end]
            claimed = rewrite(span) if span else None
            if claimed is not None and (not with_policies or len(set(policies[i:i + claimed[1]])) == 1):
                step, used = claimed
                break
        else:
            step, used = (recorded(layers[i]) if penalised[i] else layers[i].forward), 1
        # a nested model (no policy here) runs under its own, as its forward does
        steps.append(policy_step(step, policies[i]) if with_policies and policies[i] is not None else step)
        i += used
    return steps
