"""``Model.export``: a built model written as an inference artifact, as Keras 3 writes it on its torch backend.

    model.export("model.pt2", format="torch")     # torch.export.load("model.pt2").module()(x)
    model.export("model.onnx", format="onnx")     # onnxruntime.InferenceSession("model.onnx").run(None, {...})

``format="torch"`` saves a ``torch.export`` ExportedProgram; its module is called as the model is (one tensor, or
the list or dict of tensors of a model with several inputs) and has a fixed batch size unless ``dynamic_shapes``
says otherwise. ``format="onnx"`` goes through ``torch.onnx.export`` with one named ONNX input per model input and
a free axis wherever the signature has ``None`` (the batch axis by default); an axis other than the batch stays
free only where no layer needs its size (recurrent layers and convolutions over it do: fix it in
``input_signature``). Both trace the model in inference mode
(Dropout off, BatchNormalization on its moving statistics) and leave every layer in its own mode afterwards.
The formats Keras writes with TensorFlow, OpenVINO or LiteRT are not available here.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import warnings

import torch
from torch import nn

from layerwise import tree
from layerwise.backend import float_dtype
from layerwise.layers.calling import keeps_modes
from layerwise.layers.input_spec import InputSpec
from layerwise.layers.penalties import outermost_call

FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
_NEEDS = {"tf_saved_model": "TensorFlow", "openvino": "OpenVINO", "litert": "LiteRT (TensorFlow Lite)"}


def export_model(model, filepath, format: str = "tf_saved_model", verbose: bool | None = None,
                 input_signature=None, **kwargs) -> None:
    """Write ``model`` for inference to ``filepath`` in ``format`` ("torch" or "onnx"; see the module docstring)."""
    if format not in FORMATS:
        raise ValueError(f"Unrecognized format={format}. Supported formats are: {list(FORMATS)}.")
    if format in _NEEDS:
        raise ValueError(f'format="{format}" is written by {_NEEDS[format]}, which layerwise (a PyTorch library) '
                         f'does not use. Export with format="torch" (a .pt2 torch.export ExportedProgram) or '
                         f'format="onnx" (an .onnx file for onnxruntime) instead.')
    path = os.fspath(filepath)
    if os.path.isdir(path):  # found before the model is traced, as Keras' writer finds it
        raise IsADirectoryError(f"export: {path!r} is a directory; give the file to write.")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise FileNotFoundError(f"export: the directory of {path!r} does not exist.")
    if format == "torch":
        _export_torch(model, filepath, verbose, input_signature, kwargs)
    else:
        _export_onnx(model, filepath, verbose, input_signature, kwargs)


# ---- what the model is traced on -------------------------------------------------------------------
def _default_signature(model) -> list:
    """One structure of ``InputSpec`` per positional argument of the model's call (a model takes one: a spec, or
    the list or dict of specs of its inputs), the batch axis ``None``, as Keras makes it."""
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    if isinstance(model, (Functional, Sequential)):
        structure = model._input_structure if isinstance(model, Functional) else model.inputs[0]
        return [tree.map_structure(lambda t: InputSpec(shape=(None, *t.shape[1:]), dtype=t.dtype, name=t.name),
                                   structure)]
    shapes = [InputSpec(shape=shape, dtype=float_dtype()) for shape in model._built_input_shapes]
    keys = model._input_keys
    if isinstance(keys, list):  # a dict of inputs: named by its keys
        return [{key: InputSpec(shape=s.shape, dtype=s.dtype, name=key) for key, s in zip(keys, shapes)}]
    return [shapes] if keys is not None else shapes


def _as_spec(x) -> InputSpec:
    """A leaf of ``input_signature`` (an InputSpec, a symbolic tensor, a tensor or array: anything with a shape
    and a dtype, layerwise's or Keras') as an InputSpec of the same shape, dtype and name."""
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None:
        raise ValueError(f"Each item of input_signature needs a shape (an InputSpec(shape=..., dtype=...), a "
                         f"symbolic tensor from Input, or a tensor); received {x!r}.")
    dtype = dtype or float_dtype()  # an InputSpec without one is float, as Keras takes it
    name = getattr(x, "name", None)
    return InputSpec(shape=tuple(shape), dtype=dtype, name=name if isinstance(name, str) else None)


def _signature(model, input_signature) -> list:
    """``input_signature`` (or the model's own) as a list of argument structures of InputSpec."""
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built yet, so there is nothing to export: call it on "
                         "data first (model(x), model.predict(x) or model.fit(...)) or build it "
                         "(model.build(input_shape), or start a Sequential with Input(shape)).")
    if input_signature is None:
        return _default_signature(model)
    if not isinstance(input_signature, (list, tuple)):
        input_signature = [input_signature]  # one spec for a model of one input
    signature = [tree.map_structure(_as_spec, arg) for arg in input_signature]
    given, expected = len(tree.flatten(signature)), _input_count(model)
    if given != expected:
        raise ValueError(f"input_signature describes {given} input(s) but model '{model.name}' takes {expected}: "
                         "give one spec per model input (a list or dict of them for several inputs, as the model "
                         "is called), e.g. [InputSpec(shape=(None, 4), dtype='float32')].")
    return signature


def _input_count(model) -> int:
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    if isinstance(model, Functional):
        return len(model.inputs)
    return 1 if isinstance(model, Sequential) else len(model._built_input_shapes)


def _sample(spec: InputSpec, free_size: int, device: torch.device) -> torch.Tensor:
    """Ones of ``spec``'s shape, ``free_size`` on each ``None`` axis (what torch traces the model on)."""
    shape = tuple(free_size if d is None else d for d in spec.shape)
    return torch.ones(shape, dtype=getattr(torch, spec.dtype), device=device)


@contextlib.contextmanager
def _traceable(model):
    """The model in inference mode, its layers' shape memo emptied for the trace and restored after it: a layer
    checks each new input shape once (``Layer.__call__``), and comparing a traced symbolic batch size with the
    last concrete one would record a guard (``batch != 32``) that torch.export refuses for a free batch axis."""
    memos = [(m, m.__dict__["_last_input_shape"]) for m in model.modules() if "_last_input_shape" in m.__dict__]
    model.eval()
    for module, _ in memos:
        module._last_input_shape = None
    try:
        yield
    finally:
        for module, shape in memos:
            module._last_input_shape = shape


class _Inference(nn.Module):
    """The model's forward on its inputs as the model is called (``packed``: a tensor, a list or a dict per
    argument) or as flat tensors in the model's input order; what torch traces."""

    def __init__(self, model, packed: bool):
        super().__init__()
        self.model = model
        self.packed = packed

    def forward(self, *args):
        flat = _flat_inputs(self.model, args) if self.packed else list(args)
        with outermost_call(self.model):
            return self.model.forward(*flat)


def _flat_inputs(model, args) -> list:
    """The leaves of ``args`` in the order the model's ``forward`` takes them."""
    keys = getattr(model, "_input_keys", None)
    if len(args) == 1 and isinstance(args[0], dict) and isinstance(keys, list):
        return [args[0][key] for key in keys]  # a subclassed model's dict inputs, in the order it learned them
    return tree.flatten(list(args))


# ---- format="torch" -----------------------------------------------------------------------------
def _export_kwargs(kwargs: dict) -> dict:
    """``kwargs`` checked against ``torch.export.export``'s own arguments; non-strict tracing by default."""
    supported = sorted(set(inspect.signature(torch.export.export).parameters) - {"mod", "args", "kwargs"})
    unknown = sorted(set(kwargs) - set(supported))
    if unknown:
        raise ValueError(f'Unsupported arguments for `format="torch"`: {", ".join(unknown)}. Supported arguments '
                         f'are: {", ".join(supported)}.')
    # Strict mode (TorchDynamo) traces Python-level layer code far less often than non-strict tracing does.
    return {"strict": False, **kwargs}


def _normalize_dynamic_shapes(dynamic_shapes, sample_args: tuple):
    """``dynamic_shapes`` as ``torch.export`` wants it for a ``forward(*args)``: one entry for the whole ``args``
    tuple. ``{0: Dim}`` for a model of one input, or a list with one spec per argument, is wrapped; a spec
    already wrapped (``[({0: Dim},)]``) or keyed by ``args``/``kwargs`` passes as it is."""
    if isinstance(dynamic_shapes, dict):
        if "args" in dynamic_shapes or "kwargs" in dynamic_shapes or len(sample_args) != 1:
            return dynamic_shapes
        return [(dynamic_shapes,)]
    if isinstance(dynamic_shapes, (list, tuple)):
        wrapped = len(dynamic_shapes) == 1 and isinstance(dynamic_shapes[0], (list, tuple))
        if not wrapped and len(dynamic_shapes) == len(sample_args):
            return [tuple(dynamic_shapes)]
    return dynamic_shapes


@keeps_modes
def _export_torch(model, filepath, verbose: bool | None, input_signature, kwargs: dict) -> None:
    filepath = os.fspath(filepath)
    if not filepath.endswith(".pt2"):
        raise ValueError(f"The PyTorch export requires the filepath to end with '.pt2'. Got: {filepath}")
    export_kwargs = _export_kwargs(kwargs)
    signature = _signature(model, input_signature)
    dynamic = export_kwargs.get("dynamic_shapes") is not None
    # torch.export makes an axis of size 1 a constant: a free axis is traced at 2 when it is to stay free.
    device = model.device()
    sample_args = tuple(tree.map_structure(lambda s: _sample(s, 2 if dynamic else 1, device), arg)
                        for arg in signature)
    if dynamic:
        export_kwargs["dynamic_shapes"] = _normalize_dynamic_shapes(export_kwargs["dynamic_shapes"], sample_args)
    try:
        with _traceable(model):
            program = torch.export.export(_Inference(model, packed=True), sample_args, **export_kwargs)
    except Exception as error:
        raise RuntimeError(f"Failed to export model '{model.name}' to PyTorch format (torch.export). Common causes: "
                           "operations torch cannot trace, control flow that depends on tensor values, or "
                           f"dynamic_shapes the model's shapes do not satisfy. Original error: {error}") from error
    torch.export.save(program, filepath)
    if verbose is None or verbose:
        print(f"Saved PyTorch ExportedProgram at '{filepath}'.")


# ---- format="onnx" -----------------------------------------------------------------------------
def _onnx_kwargs(kwargs: dict) -> int | None:
    unknown = sorted(set(kwargs) - {"opset_version"})
    if unknown:
        raise ValueError(f'Unsupported arguments for `format="onnx"`: {", ".join(unknown)}. Supported arguments '
                         "are: opset_version.")
    return kwargs.get("opset_version")


def _free_axes(specs: list[InputSpec]) -> list[dict]:
    """Per input, ``{axis: name}`` for its ``None`` axes: "batch" for the first (one size for all inputs, as the
    rows of a batch go together), ``dim_<input>_<axis>`` for the others, as Keras names them."""
    return [{axis: "batch" if axis == 0 else f"dim_{i}_{axis}" for axis, d in enumerate(spec.shape) if d is None}
            for i, spec in enumerate(specs)]


@keeps_modes
def _export_onnx(model, filepath, verbose: bool | None, input_signature, kwargs: dict) -> None:
    opset_version = _onnx_kwargs(kwargs)
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f'format="onnx" needs the {" and ".join(missing)} package(s): '
                          'pip install "layerwise[export]" (or pip install onnx onnxscript).')
    filepath = os.fspath(filepath)
    specs = _flat_inputs(model, _signature(model, input_signature))
    names = [spec.name or f"input_{i}" for i, spec in enumerate(specs)]
    free = _free_axes(specs)
    dims = {name: torch.export.Dim(name) for axes in free for name in axes.values()}
    device = model.device()
    sample_args = tuple(_sample(spec, 2, device) for spec in specs)  # 2: a free axis of size 1 would be fixed
    dynamic_shapes = [tuple({axis: dims[name] for axis, name in axes.items()} for axes in free)]
    try:
        with _traceable(model):
            program = torch.export.export(_Inference(model, packed=False), sample_args, strict=False,
                                          dynamic_shapes=dynamic_shapes)
        with warnings.catch_warnings():  # one "batch" name for all inputs is meant: it is one size
            warnings.filterwarnings("ignore", message=".*axis name: batch will not be used.*")
            onnx_program = torch.onnx.export(_plain_weights(program), input_names=names, opset_version=opset_version,
                                             dynamic_shapes=[tuple(free)], verbose=bool(verbose),
                                             dynamo=True)
        onnx_program.save(filepath)
    except Exception as error:
        raise RuntimeError(f"Failed to export model '{model.name}' to ONNX format (torch.export, then "
                           "torch.onnx.export). Common causes: operations torch cannot trace or ONNX has no "
                           "counterpart for, control flow that depends on tensor values, or an axis left free (None "
                           "in the signature) whose size the model's layers need fixed: give it in "
                           f"input_signature. Original error: {error}"
                           ) from error
    if verbose is None or verbose:
        print(f"Saved artifact at '{filepath}'.")


def _plain_weights(program):
    """``program`` with its weights as plain tensors: the ONNX exporter reads them with ``numpy()``, which
    layerwise's weights answer in Keras' layout (a Dense kernel transposed)."""
    for key, value in list(program.state_dict.items()):
        plain = value.detach().as_subclass(torch.Tensor)
        program.state_dict[key] = nn.Parameter(plain, value.requires_grad) if isinstance(value, nn.Parameter) \
            else plain
    for key, value in list(program.constants.items()):
        if isinstance(value, torch.Tensor):
            program.constants[key] = value.detach().as_subclass(torch.Tensor)
    return program

