"""plot_model / model_to_dot: the graph's boxes and arrows against Keras 3's, and the missing-tool errors."""
from __future__ import annotations

import shutil

import pytest

import layerwise as lw
from layerwise.utils import model_visualization

pydot = pytest.importorskip("pydot", reason="pydot is in the test extra: pip install -e '.[test]'")


def branching_model(lib):
    inputs = lib.Input((8, 8, 1), name="pixels")
    x = lib.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = lib.layers.Flatten(name="flat")(x)
    a = lib.layers.Dense(3, activation="relu", name="left")(x)
    b = lib.layers.Dense(3, name="right")(x)
    outputs = lib.layers.Dense(2, activation="softmax", name="head")(lib.layers.concatenate([a, b], name="join"))
    return lib.Model(inputs, outputs)


def chain_model(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="hidden"), lib.layers.Dense(1, name="out")])


def boxes_and_arrows(dot, model) -> tuple[set, set]:
    """The layer names of the nodes and the (source, destination) names of the edges."""
    names = {str(id(layer)): layer.name for layer in getattr(model, "operations", model.layers)}
    nodes = {names[n.get_name()] for n in dot.get_nodes() if n.get_name() in names}
    edges = {(names[e.get_source()], names[e.get_destination()]) for e in dot.get_edges()}
    return nodes, edges


@pytest.mark.parametrize("make", [branching_model, chain_model])
def test_boxes_and_arrows_match_keras(keras, make):
    ours, theirs = make(lw), make(keras)
    assert boxes_and_arrows(lw.utils.model_to_dot(ours), ours) == \
        boxes_and_arrows(keras.utils.model_to_dot(theirs), theirs)


def test_labels_show_names_shapes_activations_and_trainability():
    model = branching_model(lw)
    model.get_layer("right").trainable = False
    dot = lw.utils.model_to_dot(model, show_shapes=True, show_layer_activations=True, show_trainable=True)
    labels = {n.get_name(): n.get("label") for n in dot.get_nodes()}
    conv = labels[str(id(model.get_layer("conv")))]
    assert "<b>conv</b> (Conv2D)" in conv and "Activation: <b>relu</b>" in conv
    assert "Input shape: <b>(None, 8, 8, 1)</b>" in conv and "Output shape: <b>(None, 6, 6, 4)</b>" in conv
    assert "Input shape: <b>(None, 3), (None, 3)</b>" in labels[str(id(model.get_layer("join")))]
    assert "<b>Non-trainable</b>" in labels[str(id(model.get_layer("right")))]
    assert "Input shape" not in labels[str(id(model.get_layer("pixels")))]  # an input box has no input
    plain = lw.utils.model_to_dot(model, show_layer_names=False)
    assert all("conv" not in n.get("label") for n in plain.get_nodes() if n.get("label"))


def test_missing_pydot_or_graphviz_is_named(monkeypatch, tmp_path):
    model = chain_model(lw)
    monkeypatch.setattr(model_visualization, "_has_graphviz", lambda: False)
    with pytest.raises(ImportError, match="install graphviz"):
        lw.utils.plot_model(model, to_file=tmp_path / "m.png")
    monkeypatch.setattr(model_visualization, "pydot", None)
    for function in (lw.utils.plot_model, lw.utils.model_to_dot):
        with pytest.raises(ImportError, match=r"install pydot \(`pip install pydot`\)"):
            function(model)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="unrecognized keyword arguments"):
        lw.utils.model_to_dot(model, layer_range=["a", "b"])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed (apt install "
                    "graphviz); the error that says so is tested above")
def test_plot_model_writes_the_picture(tmp_path):
    for name in ("model.png", "model.svg"):
        lw.utils.plot_model(branching_model(lw), to_file=tmp_path / name, show_shapes=True)
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "head" in (tmp_path / "model.svg").read_text()
