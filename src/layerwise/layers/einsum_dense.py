"""Keras' EinsumDense: a dense layer whose contraction is any einsum equation, ``einsum(eq, x, kernel) + bias``.

The equation is ``"ab,bc->ac"`` (every axis named), ``"...ab,bc->...ac"`` (leading axes carried through) or
``"ab...,bc->ac..."`` (trailing axes carried through). ``output_shape`` gives the output's sizes without the
batch axis and the carried axes (``None`` where the input gives it). The kernel and bias are stored in Keras'
layout, which ``torch.einsum`` takes as is. Keras' quantization modes (int8, int4, float8, GPTQ, AWQ) and its
LoRA adapters are not supported.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import torch

from layerwise import activations, initializers
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import WeightView, new_parameter

# Keras' three equation forms, with "..." written as "0": full, left-elided and right-elided.
_FORMS = ((re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
          (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
          (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False))


class EinsumShapes(NamedTuple):
    """What an equation implies for inputs of one shape: the weights' shapes, the output shape, and which
    kernel axes count as inputs and as outputs (for the initializer's fans)."""
    kernel: tuple
    bias: tuple | None
    output: tuple
    input_axes: tuple
    output_axes: tuple


def parse_equation(equation: str, bias_axes: str | None = None) -> tuple[str, str, str, bool]:
    """``(input spec, weight spec, output spec, left-elided?)`` of ``equation``; a ValueError if it is not one
    of Keras' three forms, or if an output, weight or bias axis has no source."""
    if not isinstance(equation, str):
        raise ValueError(f"EinsumDense: equation must be a string such as 'ab,bc->ac', got {equation!r}.")
    dotted = equation.replace("...", "0")
    for pattern, left_elided in _FORMS:
        match = pattern.fullmatch(dotted)
        if match:
            break
    else:
        raise ValueError(f"EinsumDense: invalid equation {equation!r}. Equations must be in the form "
                         "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
    input_spec, weight_spec, output_spec = match.groups()
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(f"EinsumDense: output dimension {dim!r} of {equation!r} is in neither the input spec "
                             f"{input_spec!r} nor the weight spec {weight_spec!r}.")
    for dim in weight_spec:
        if dim not in input_spec and dim not in output_spec:
            raise ValueError(f"EinsumDense: weight dimension {dim!r} of {equation!r} has no match in the input "
                             f"spec {input_spec!r} or the output spec {output_spec!r}; the weight must be fully "
                             "specified.")
    for char in bias_axes or "":
        if char not in output_spec:
            raise ValueError(f"EinsumDense: bias dimension {char!r} was requested (bias_axes={bias_axes!r}), but "
                             f"is not part of the output spec {output_spec!r}.")
    return input_spec, weight_spec, output_spec, left_elided


def analyze_equation(equation: str, bias_axes: str | None, input_shape: Shape, output_shape) -> EinsumShapes:
    """The kernel and bias shapes and the output shape of ``equation`` for inputs of ``input_shape`` (batch
    first), given the partial ``output_shape``; a ValueError naming the mismatch otherwise."""
    input_spec, weight_spec, output_spec, left_elided = parse_equation(equation, bias_axes)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    ellipsis = "..." in equation
    if elided < 0 or (elided > 0 and not ellipsis):
        raise ValueError(f"EinsumDense: equation {equation!r} needs inputs of rank {len(input_spec)}"
                         f"{' or more' if ellipsis else ''}, but received input shape {input_shape}.")
    partial = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    # The output: batch, then (left-elided) the carried axes, the given sizes, then (right-elided) the carried
    # ones. Left-elided, the batch axis is one of the carried axes unless the ellipsis stands for nothing.
    given = len(output_spec) - (0 if left_elided and elided else 1)
    if len(partial) != given:
        raise ValueError(f"EinsumDense: output_shape {tuple(partial)} has {len(partial)} sizes, but equation "
                         f"{equation!r} on input shape {input_shape} needs {given} (one per output axis, without "
                         "the batch axis and the axes '...' stands for).")
    if left_elided:
        full = [input_shape[0], *input_shape[1:elided], *partial]
        in_axis = {dim: i + elided for i, dim in enumerate(input_spec)}
        out_axis = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        full = [input_shape[0], *partial, *input_shape[len(input_shape) - elided:]]
        in_axis = {dim: i for i, dim in enumerate(input_spec)}
        out_axis = {dim: i for i, dim in enumerate(output_spec)}
    for dim in input_spec:
        size, stated = input_shape[in_axis[dim]], full[out_axis[dim]] if dim in out_axis else None
        if stated is not None and size is not None and stated != size:
            raise ValueError(f"EinsumDense: input shape and output shape do not match at shared dimension "
                             f"{dim!r}: the input has {size}, output_shape gives {stated}.")
    kernel, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in out_axis:
            kernel.append(full[out_axis[dim]])
            output_axes.append(i)
        else:
            kernel.append(input_shape[in_axis[dim]])
            input_axes.append(i)
    if any(size is None for size in kernel):
        raise ValueError(f"EinsumDense: the kernel of {equation!r} would have shape {tuple(kernel)} for input shape "
                         f"{input_shape} and output_shape {tuple(partial)}; give every kernel axis a size.")
    bias = None
    if bias_axes is not None:
        first = min(output_spec.find(char) for char in bias_axes)
        # From the first biased axis on, as Keras: 1 on the axes between that carry no bias (and on carried ones).
        bias = [full[out_axis[c]] if c in bias_axes else 1 for c in output_spec[first:]]
        bias += [1] * (elided if not left_elided else 0)
        if any(size is None for size in bias):
            raise ValueError(f"EinsumDense: bias_axes {bias_axes!r} includes an output axis of unknown size "
                             f"(output shape {tuple(full)}); give it a size in output_shape.")
    return EinsumShapes(tuple(kernel), None if bias is None else tuple(bias), tuple(full), tuple(input_axes),
                        tuple(output_axes))


class EinsumDense(Layer):
    """``activation(einsum(equation, x, kernel) + bias)``, e.g. ``EinsumDense("abc,cd->abd", (None, 64),
    bias_axes="d")`` maps ``(batch, steps, 128)`` to ``(batch, steps, 64)``. Kernel and bias have Keras'
    shapes (see ``analyze_equation``); ``bias_axes`` names the output axes that get a bias."""

    config_activity_regularizer = True

    def __init__(self, equation: str, output_shape, activation=None, bias_axes: str | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, gptq_unpacked_column_size: int | None = None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        parse_equation(equation, bias_axes)
        if lora_rank or lora_alpha is not None:
            raise ValueError("EinsumDense: LoRA (lora_rank, lora_alpha) is not supported by layerwise.")
        if gptq_unpacked_column_size is not None or quantization_config is not None:
            raise ValueError("EinsumDense: quantization (quantization_config, GPTQ) is not supported by layerwise.")
        self.equation, self.bias_axes = equation, bias_axes
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.regularize_weights(kernel=kernel_regularizer, bias=bias_regularizer)
        self.constrain_weights(kernel=kernel_constraint, bias=bias_constraint)
        self.kernel = self.bias = None

    def build(self, input_shape: Shape) -> None:
        shapes = analyze_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        initializer = initializers.for_einsum_kernel(self.kernel_initializer, shapes.input_axes, shapes.output_axes)
        self.kernel = new_parameter(initializer, shapes.kernel)
        self.bias = None if shapes.bias is None else new_parameter(self.bias_initializer, shapes.bias)

    def check_input_shape(self, input_shape: Shape) -> None:
        """As Keras' input spec: the rank it was built for, and the sizes its kernel was built for."""
        if not self.built:
            analyze_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape)
            return
        built = self.input_shape_built
        expected = analyze_equation(self.equation, self.bias_axes, built, self.partial_output_shape).kernel
        if len(input_shape) != len(built) or \
                analyze_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape).kernel \
                != expected:
            raise ValueError(self._shape_message(f"input shape {built} (the kernel {expected} was built for it)",
                                                 (None, *input_shape[1:])))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return analyze_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape).output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.einsum(self.equation, x, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("kernel", self.kernel)]
        if self.bias is not None:
            views.append(WeightView("bias", self.bias))
        return views

    def get_config(self) -> dict:
        config = super().get_config()
        config["output_shape"] = self.partial_output_shape  # a tuple, as Keras writes it
        for key in ("lora_rank", "lora_alpha", "gptq_unpacked_column_size"):  # Keras lists them only when set
            config.pop(key, None)
        return config
