"""``plot_model`` and ``model_to_dot``: a model's layers as a graph drawn by Graphviz, through pydot, as in Keras.

Each layer is a box (its name and class; with ``show_shapes`` its input and output shapes) and each tensor
a layer feeds to another is an arrow. pydot (``pip install pydot``) builds the graph; Graphviz's ``dot``
program draws it, so ``plot_model`` needs both, and says which is missing, as Keras does.
"""
from __future__ import annotations

import os
from html import escape

try:
    import pydot
except ImportError:  # optional, as in Keras
    pydot = None


def _require_pydot(what: str) -> None:
    if pydot is None:
        raise ImportError(f"You must install pydot (`pip install pydot`) for `{what}` to work.")


def _has_graphviz() -> bool:
    try:
        pydot.Dot.create(pydot.Dot())  # draws an empty graph with Graphviz's dot program
        return True
    except (OSError, getattr(pydot, "PydotException", OSError)):  # no dot program, or it failed
        return False


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(str(tuple(s)) for s in shape)
    return str(tuple(shape))


def _dtype_text(tensors) -> str | None:
    """The dtype of a layer's output tensors (``"float32"``; a list for several), None when unknown."""
    dtypes = [str(t.dtype) for t in tensors if getattr(t, "dtype", None) is not None]
    if not dtypes:
        return None
    return dtypes[0] if len(dtypes) == 1 else "[" + ", ".join(dtypes) + "]"


def _layer_rows(model) -> list[tuple]:
    """(layer, input shape, output shape, the layers that feed it, output dtype) for each box of ``model``."""
    layers = list(getattr(model, "operations", model.layers))
    built = getattr(model, "built", True)
    outputs = list(model.output_shapes) if built else [None] * len(layers)
    nodes = getattr(model, "_nodes", None)
    if nodes is None:  # Sequential: a chain, each layer fed by the one before
        first_input = getattr(model, "input_shape", None) if built else None
        return [(layer, outputs[i - 1] if i else first_input, outputs[i], [layers[i - 1]] if i else [],
                 getattr(layer, "compute_dtype", None)) for i, layer in enumerate(layers)]
    rows = []
    for layer, output in zip(layers, outputs):
        calls = [node for node in nodes if node.layer is layer]
        tensors = [t for node in calls for t in node.inputs]
        inputs = [t.shape for t in calls[0].inputs] if calls and calls[0].inputs else None
        sources = []
        for t in tensors:
            if not any(t.node.layer is s for s in sources):
                sources.append(t.node.layer)
        dtype = _dtype_text(calls[0].outputs) if calls else None
        rows.append((layer, inputs[0] if inputs and len(inputs) == 1 else inputs, output, sources, dtype))
    return rows


def _label(layer, input_shape, output_shape, dtype, show_shapes: bool, show_dtype: bool, show_layer_names: bool,
           show_layer_activations: bool, show_trainable: bool) -> str:
    """The box of one layer, as a Graphviz HTML-like table."""
    kind = type(layer).__name__
    title = f"<b>{escape(layer.name)}</b> ({kind})" if show_layer_names else f"<b>{kind}</b>"
    cells = []
    if show_shapes:
        if kind != "InputLayer":
            cells.append(f"Input shape: <b>{escape(_shape_text(input_shape))}</b>")
        cells.append(f"Output shape: <b>{escape(_shape_text(output_shape))}</b>")
    if show_dtype:
        cells.append(f"Output dtype: <b>{escape(dtype or '?')}</b>")
    if show_trainable and getattr(layer, "weights", None):
        cells.append("<b>Trainable</b>" if layer.trainable else "<b>Non-trainable</b>")
    activation = getattr(layer, "activation", None) if show_layer_activations else None
    span = max(1, len(cells))
    rows = [f'<tr><td colspan="{span}" bgcolor="black"><font color="white">{title}</font></td></tr>']
    if activation is not None:
        name = getattr(activation, "__name__", type(activation).__name__)
        rows.append(f'<tr><td colspan="{span}">Activation: <b>{escape(name)}</b></td></tr>')
    if cells:
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return '<<table border="0" cellborder="1" cellpadding="8">' + "".join(rows) + "</table>>"


def model_to_dot(model, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False, splines: str = "ortho",
                 **kwargs):
    """A ``pydot.Dot`` graph of ``model``: one node per layer (named by ``id(layer)``), one edge per
    connection; ``show_dtype`` adds each layer's output dtype. A subclassed model is one node.
    ``expand_nested`` is accepted and draws nothing more; ``subgraph=True`` returns a ``pydot.Cluster``."""
    _require_pydot("model_to_dot")
    if kwargs:
        raise ValueError(f"model_to_dot: unrecognized keyword arguments {sorted(kwargs)}.")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
    else:
        dot = pydot.Dot()
        for key, value in (("rankdir", rankdir), ("concentrate", True), ("dpi", dpi), ("splines", splines)):
            dot.set(key, value)
        dot.set_node_defaults(shape="record")
    show = {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
            "show_layer_activations": show_layer_activations, "show_trainable": show_trainable}
    if not hasattr(model, "output_shapes"):  # a subclassed model: one box
        label = _label(model, None, None, None, **{**show, "show_shapes": False})
        dot.add_node(pydot.Node(str(id(model)), label=label))
        return dot
    rows = _layer_rows(model)
    for layer, input_shape, output_shape, _, dtype in rows:
        dot.add_node(pydot.Node(str(id(layer)), label=_label(layer, input_shape, output_shape, dtype, **show)))
    for layer, _, _, sources, _ in rows:
        for source in sources:
            dot.add_edge(pydot.Edge(str(id(source)), str(id(layer))))
    return dot


def plot_model(model, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = False, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False, splines: str = "ortho",
               **kwargs):
    """Draw ``model`` into ``to_file`` (its extension is the format: png, pdf, svg...; png without one). The
    boxes show each layer's class, with its name only when ``show_layer_names`` (off by default, as in Keras'
    ``plot_model``; on in ``model_to_dot``).
    Needs pydot and Graphviz; raises an ImportError that says which to install. In IPython it returns the
    image for display."""
    _require_pydot("plot_model")
    if not _has_graphviz():
        raise ImportError("You must install graphviz (see instructions at https://graphviz.gitlab.io/download/) "
                          "for `plot_model` to work.")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines, **kwargs)
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension != "pdf":
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
