"""Layers written as in Keras' guides, called in a functional model with their tensors by keyword
(``Encoder()(source=x, source_mask=ids != 0)``, as Deep Learning with Python's Transformer does) or with an option
that changes their output (``embedding(x, reverse=True)``), and a shared layer's summary row: compared with Keras 3
from the same weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

import layerwise
from functional_pairs import both, fresh, summary_lines


def keyword_model(lib):
    """A layer reading a boolean mask given by keyword, then one called with every argument by keyword."""
    layers, ops = lib.layers, lib.ops

    class Masked(lib.Layer):
        def __init__(self):
            super().__init__()
            self.attention = layers.MultiHeadAttention(2, 4)

        def call(self, source, source_mask):
            return self.attention(query=source, key=source, value=source, attention_mask=source_mask[:, None, :])

    class Mixer(lib.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(8)

        def call(self, target, source, source_mask):
            pooled = ops.sum(source * ops.cast(source_mask, "float32")[:, :, None], axis=1, keepdims=True)
            return self.dense(target) + pooled

    source = lib.Input(shape=(None,), dtype="int32", name="source")
    x = layers.Embedding(20, 8)(source)
    encoded = Masked()(source=x, source_mask=source != 0)
    target = lib.Input(shape=(None,), dtype="int32", name="target")
    y = layers.Embedding(20, 8)(target)
    outputs = Mixer()(target=y, source=encoded, source_mask=source != 0)
    return lib.Model([source, target], outputs)


def tied_model(lib):
    """One embedding called twice: on ids, then with ``reverse=True`` to turn features into logits."""
    layers, ops = lib.layers, lib.ops

    class Tied(lib.Layer):
        def __init__(self):
            super().__init__()
            self.embedding = layers.Embedding(12, 6)

        def call(self, inputs, reverse=False):
            if reverse:
                return ops.matmul(inputs, ops.transpose(self.embedding.embeddings))
            return self.embedding(inputs)

    inputs = lib.Input(shape=(None,), dtype="int32")
    tied = Tied()
    x = layers.Dense(6)(tied(inputs))
    return lib.Model(inputs, tied(x, reverse=True))


def recorded_calls(model) -> list:
    """Each layer's calls as its config records them (args, kwargs but Keras' training=False), through JSON."""
    return json.loads(json.dumps([[node["args"], {k: v for k, v in node["kwargs"].items() if k != "training"}]
                                  for entry in model.get_config()["layers"] for node in entry["inbound_nodes"]]))


@pytest.mark.parametrize("build", [keyword_model, tied_model], ids=["keywords", "reverse"])
def test_keyword_calls_build_order_and_run_as_keras(keras, build):
    ours, theirs = both(keras, build)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert summary_lines(ours) == summary_lines(theirs)
    assert recorded_calls(ours) == recorded_calls(theirs)  # keyword calls saved as keywords, as Keras
    assert tuple(ours.output.shape) == tuple(theirs.output.shape)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 12, (3, 5)).astype("int32")
    ids[:, -2:] = 0
    x = [ids, rng.integers(1, 12, (3, 4)).astype("int32")] if build is keyword_model else ids
    np.testing.assert_allclose(ours(x).detach().numpy(), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5,
                               atol=1e-6)


def test_keyword_call_records_its_inputs_in_keras_order():
    fresh(layerwise)
    model = keyword_model(layerwise)
    mixer = model.layers[-1]
    node = mixer._inbound_nodes[0]
    assert node.first_keyword == "target"
    # source, source_mask, target: Keras flattens keyword arguments by sorted name
    assert [t.node.layer.name for t in node.inputs] == ["masked", "not_equal_1", "embedding_1"]


@pytest.mark.parametrize("form", ["positional", "value_and_key_by_name", "all_three_positional", "all_by_name"])
def test_multi_head_attention_calls_are_recorded_as_given_as_keras(keras, form, tmp_path):
    def build(lib):
        x = lib.Input((5, 4))
        y = lib.layers.Dense(4)(x)
        attention = lib.layers.MultiHeadAttention(2, 2)
        calls = {"positional": lambda: attention(x, y), "value_and_key_by_name": lambda: attention(x, value=y, key=x),
                 "all_three_positional": lambda: attention(x, y, x),
                 "all_by_name": lambda: attention(query=x, value=y)}
        return lib.Model(x, calls[form]())

    def recorded_call(model) -> dict:
        entry = next(e for e in model.get_config()["layers"] if e["class_name"] == "MultiHeadAttention")
        node = entry["inbound_nodes"][0]
        return {"args": [a["config"]["keras_history"] for a in node["args"]],
                "kwargs": {k: v["config"]["keras_history"] for k, v in node["kwargs"].items()}}

    ours, theirs = both(keras, build)
    assert recorded_call(ours) == recorded_call(theirs)  # value (and key) among the args when given by position
    assert summary_lines(ours) == summary_lines(theirs)  # "Connected to": args, then keywords sorted (key, value)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)


def test_multi_head_attention_refuses_a_tensor_given_twice():
    x = layerwise.Input((5, 4))
    with pytest.raises(TypeError, match=r"query, value and key once each.*2 positional.*\['value'\]"):
        layerwise.layers.MultiHeadAttention(2, 2, name="attn")(x, x, value=x)
