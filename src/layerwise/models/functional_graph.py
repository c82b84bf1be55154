"""The graph of a functional model, walked from its symbolic tensors (``layers/symbolic.py``): which nodes lead
from the inputs to the outputs and in which order they run (Keras' order: deepest first, then the order of a
depth-first walk), whether every output is computed from the inputs, and the graph recorded again from
intermediate tensors (``clone_graph``, Keras' ``clone_graph_nodes``) for a model that starts at them.
"""
from __future__ import annotations

from layerwise.layers.core import InputLayer
from layerwise.layers.symbolic import KerasTensor, Node, flatten_tensors, substitute


def is_input(tensor: KerasTensor) -> bool:
    """Whether ``tensor`` is an ``Input`` (an InputLayer's), not a layer's output."""
    return isinstance(tensor.node.layer, InputLayer)


def output_paths(outputs) -> list[str]:
    """Keras' path of each flat output (``""`` for one tensor, ``"1"`` in a list, ``"key"`` in a dict), for errors."""
    def paths(value, prefix: tuple) -> list[str]:
        if isinstance(value, KerasTensor):
            return [".".join(prefix)]
        if isinstance(value, dict):
            return [p for key in sorted(value) for p in paths(value[key], prefix + (str(key),))]
        if isinstance(value, (list, tuple)):
            return [p for i, item in enumerate(value) for p in paths(item, prefix + (str(i),))]
        return []

    return paths(outputs, ())


def sorted_dicts(value):
    """``value`` with every dict, nested ones too, in the order of its sorted keys: the order in which Keras
    flattens dicts (``flatten_tensors``), so that a dict's values are the model's outputs in order."""
    if isinstance(value, dict):
        return {key: sorted_dicts(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(sorted_dicts(item) for item in value)
    return value


def check_connected(inputs: list[KerasTensor], outputs: list[KerasTensor], paths: list[str]) -> None:
    """Raise Keras' error, with the Input that is missing, for the first output the inputs do not determine."""
    input_ids = {id(t) for t in inputs}
    missing: dict[int, KerasTensor | None] = {}  # node -> an Input it needs that is not given (None: none)

    def given_or_known(tensor: KerasTensor) -> bool:
        return id(tensor) in input_ids or id(tensor.node) in missing

    def needs(tensor: KerasTensor) -> KerasTensor | None:
        stack = [tensor]  # a loop, not recursion: a model may be a thousand layers deep
        while stack:
            top = stack[-1]
            if given_or_known(top):
                stack.pop()
            elif is_input(top):
                missing[id(top.node)] = top
                stack.pop()
            elif pending := [t for t in top.node.inputs if not given_or_known(t)]:
                stack.extend(pending)
            else:
                parents = (missing[id(t.node)] for t in top.node.inputs if id(t) not in input_ids)
                missing[id(top.node)] = next((m for m in parents if m is not None), None)
                stack.pop()
        return None if id(tensor) in input_ids else missing[id(tensor.node)]

    for tensor, path in zip(outputs, paths):
        lacking = needs(tensor)
        if lacking is not None:
            raise ValueError(f"Output with path `{path}` is not connected to `inputs`. Graph disconnected: the "
                             f"outputs need {lacking!r}, which is not among the model's inputs "
                             f"{[t.name for t in inputs]} nor computed from them. Pass every Input the outputs "
                             "depend on, or an intermediate tensor they are computed from.")


def clone_graph(inputs, outputs):
    """Keras' ``clone_graph_nodes``: ``(inputs, outputs)`` where each input that is not an Input is a new
    Input of its shape and dtype (``<name>CLONE``), and the outputs are the same calls recorded again from
    those inputs (new nodes of the same layers, which keep their weights). Inputs that are Inputs stay."""
    flat_inputs = flatten_tensors(inputs)
    mapping: dict[int, KerasTensor] = {}  # id(tensor) -> the tensor that stands for it in the new graph
    cut: set[int] = set()
    used_names: set[str] = set()
    for tensor in flat_inputs:
        if id(tensor) in mapping:  # given twice
            continue
        if is_input(tensor):
            mapping[id(tensor)] = tensor
            continue
        name, k = f"{tensor.name}CLONE", 0
        while name in used_names:  # Keras' tensor names are unique; layerwise's are their layers'
            k += 1
            name = f"{tensor.name}CLONE_{k}"
        used_names.add(name)
        mapping[id(tensor)] = InputLayer(tensor.shape[1:], batch_size=tensor.shape[0], name=name,
                                         dtype=tensor.dtype).output
        cut.add(id(tensor))
    # The nodes between the inputs and the outputs, parents first.
    post_order: list[Node] = []
    seen: set[int] = set()

    def visit(tensor: KerasTensor) -> None:
        if id(tensor) in cut or id(tensor.node) in seen:
            return
        seen.add(id(tensor.node))
        for parent in tensor.node.inputs:
            visit(parent)
        post_order.append(tensor.node)

    for tensor in flatten_tensors(outputs):
        visit(tensor)
    for node in post_order:
        if isinstance(node.layer, InputLayer):
            # Keras records a kept Input again too, so the summary's "Connected to" reads "x[1][0]" from now on
            # (in every model on x, as in Keras); the tensor itself stays.
            again = Node(node.layer, None, {}, [])
            again.outputs = list(node.outputs)
            for tensor in node.outputs:
                tensor.history_node = again
            continue
        again = Node(node.layer, substitute(node.args, mapping), substitute(node.kwargs, mapping),
                     [t.shape for t in node.outputs], node.multiple_outputs, substitute(node.more_args, mapping),
                     node.container, node.first_keyword)
        for old, new in zip(node.outputs, again.outputs):
            mapping.setdefault(id(old), new)  # a cut output (an input of the model) stays its Input
    return substitute(inputs, mapping), substitute(outputs, mapping)


def ordered_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
    """The nodes that lead from ``inputs`` (all Inputs) to ``outputs``, in Keras' order (see the module
    docstring)."""
    input_ids = {id(t) for t in inputs}
    post_order: list[Node] = []
    seen: set[int] = set()

    def visit(tensor: KerasTensor) -> None:
        node = tensor.node
        if id(node) in seen:
            return
        if id(tensor) not in input_ids:
            for parent in node.inputs:
                visit(parent)
        seen.add(id(node))
        post_order.append(node)

    for tensor in outputs:
        visit(tensor)
    for tensor in inputs:  # an input no output uses is still an input of the model
        visit(tensor)
    # Depth: 0 at the outputs, one more than any consumer; a shared layer takes its deepest call's depth.
    depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(post_order):
        d = max(depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = layer_depth[id(node.layer)] = d
        if not isinstance(node.layer, InputLayer):
            for parent in node.inputs:
                depth[id(parent.node)] = max(depth.get(id(parent.node), 0), d + 1)
    index = {id(node): i for i, node in enumerate(post_order)}
    return sorted(post_order, key=lambda node: (-depth[id(node)], index[id(node)]))


def history_node(tensor: KerasTensor) -> Node:
    """The call Keras' ``_keras_history`` names for ``tensor``: its node, or the later record of an Input that
    a model from intermediate tensors made (see ``clone_graph``)."""
    return getattr(tensor, "history_node", tensor.node)
