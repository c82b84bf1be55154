"""Model.export as Keras 3 does it on its torch backend: format="torch" (a torch.export ExportedProgram in a .pt2
file) and format="onnx" (read back with onnxruntime), argument checks compared with Keras' own messages."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.layers import InputSpec

RNG = np.random.default_rng(0)
IMAGES = RNG.random((8, 6, 6, 3)).astype("float32")
A, B = RNG.random((6, 3)).astype("float32"), RNG.random((6, 4)).astype("float32")
SEQUENCES = RNG.random((8, 5, 4)).astype("float32")


def trained_convnet():
    """Conv2D, BatchNormalization (moving statistics away from 0 and 1 after a fit) and Dropout."""
    model = layerwise.Sequential([layerwise.Input((6, 6, 3)), L.Conv2D(4, 3, activation="relu"),
                                  L.BatchNormalization(), L.Flatten(), L.Dropout(0.5), L.Dense(3)])
    model.compile("adam", "mse")
    model.fit(IMAGES, RNG.random((8, 3)).astype("float32"), epochs=2, batch_size=4, verbose=0)
    return model


def two_input_model():
    a, b = layerwise.Input((3,), name="a"), layerwise.Input((4,), name="b")
    joined = L.Concatenate()([L.Dense(2)(a), L.Dense(2, activation="sigmoid")(b)])
    return layerwise.Model([a, b], L.Dense(2)(a) * L.Dense(2)(joined))


def reloaded(path):
    return torch.export.load(str(path)).module()


def run(module, *inputs):
    return module(*[torch.tensor(x) for x in inputs]).detach().numpy()


# ---- format="torch" -------------------------------------------------------------------------------
def test_sequential_exports_in_inference_mode_and_keeps_its_modes(tmp_path, capsys):
    model = trained_convnet()
    model.train()  # as inside fit: the export still traces inference, and training is on again afterwards
    path = tmp_path / "convnet.pt2"
    model.export(path, format="torch", dynamic_shapes={0: torch.export.Dim("batch")})
    assert capsys.readouterr().out == f"Saved PyTorch ExportedProgram at '{path}'.\n"
    assert all(module.training for module in model.modules())
    module = reloaded(path)
    for n in (3, 8):
        np.testing.assert_allclose(run(module, IMAGES[:n]), model.predict(IMAGES[:n], verbose=0), atol=1e-6)


def test_without_dynamic_shapes_the_batch_size_is_fixed_as_in_keras(tmp_path, capsys):
    model = trained_convnet()
    model.export(tmp_path / "m.pt2", format="torch", verbose=False)
    assert capsys.readouterr().out == ""
    module = reloaded(tmp_path / "m.pt2")
    np.testing.assert_allclose(run(module, IMAGES[:1]), model.predict(IMAGES[:1], verbose=0), atol=1e-6)
    with pytest.raises(Exception, match="size"):
        run(module, IMAGES[:2])


def test_functional_model_with_two_inputs_takes_them_as_a_list(tmp_path):
    model = two_input_model()
    model.predict([A, B], verbose=0)  # a batch of 6 seen before: the export must not depend on it
    batch = torch.export.Dim("batch")
    model.export(tmp_path / "f.pt2", format="torch", verbose=False, dynamic_shapes=[([{0: batch}, {0: batch}],)])
    module = reloaded(tmp_path / "f.pt2")
    for n in (2, 6):
        got = module([torch.tensor(A[:n]), torch.tensor(B[:n])]).detach().numpy()
        np.testing.assert_allclose(got, model.predict([A[:n], B[:n]], verbose=0), atol=1e-6)


def test_merge_layers_export_with_a_free_batch_axis(tmp_path):
    a, b = layerwise.Input((3,), name="a"), layerwise.Input((4,), name="b")
    model = layerwise.Model([a, b], L.Dense(2)(L.Add()([L.Dense(3)(L.Concatenate()([a, b])), a])))
    batch = torch.export.Dim("batch")
    model.export(tmp_path / "c.pt2", format="torch", verbose=False, dynamic_shapes=[([{0: batch}, {0: batch}],)])
    module = reloaded(tmp_path / "c.pt2")
    for n in (2, 5):
        x = [np.random.default_rng(n).random((n, 3), dtype=np.float32),
             np.random.default_rng(n + 1).random((n, 4), dtype=np.float32)]
        np.testing.assert_allclose(module([torch.from_numpy(v) for v in x]).detach().numpy(),
                                   model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_lstm_model(tmp_path):
    model = layerwise.Sequential([layerwise.Input((5, 4)), L.LSTM(6), L.Dense(1)])
    model.export(tmp_path / "r.pt2", format="torch", verbose=False, dynamic_shapes={0: torch.export.Dim("batch")})
    module = reloaded(tmp_path / "r.pt2")
    for n in (3, 8):
        np.testing.assert_allclose(run(module, SEQUENCES[:n]), model.predict(SEQUENCES[:n], verbose=0), atol=1e-6)


def test_subclassed_model_after_its_first_call(tmp_path):
    class Scaled(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense, self.dropout = L.Dense(3), L.Dropout(0.9)

        def call(self, x, training=False):
            return self.dense(self.dropout(x, training=training)) * 2.0

    model = Scaled()
    model(A)
    model.export(tmp_path / "s.pt2", format="torch", verbose=False)
    np.testing.assert_allclose(run(reloaded(tmp_path / "s.pt2"), A[:1]), model.predict(A[:1], verbose=0), atol=1e-6)


@pytest.mark.parametrize("signature", [
    [InputSpec(shape=(4, 3), dtype="float32"), InputSpec(shape=(4, 4), dtype="float32")],
    [torch.zeros(4, 3), torch.zeros(4, 4)],
    [InputSpec(shape=(4, 3)), InputSpec(shape=(4, 4))],  # no dtype: float32, as Keras takes it
])
def test_input_signature_sets_the_traced_shapes(tmp_path, signature):
    model = two_input_model()
    model.export(tmp_path / "f.pt2", format="torch", verbose=False, input_signature=[signature])
    module = reloaded(tmp_path / "f.pt2")
    got = module([torch.tensor(A[:4]), torch.tensor(B[:4])]).detach().numpy()
    np.testing.assert_allclose(got, model.predict([A[:4], B[:4]], verbose=0), atol=1e-6)


def test_input_signature_must_describe_each_input(tmp_path):
    with pytest.raises(ValueError, match="describes 1 input.*takes 2"):
        two_input_model().export(tmp_path / "f.pt2", format="torch", input_signature=[InputSpec(shape=(None, 3),
                                                                                                dtype="float32")])


def test_a_model_torch_cannot_trace_names_the_format_and_keeps_the_cause(tmp_path):
    class Branching(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x) if float(x.sum()) > 0 else -self.dense(x)  # depends on the values

    model = Branching()
    model(A)
    with pytest.raises(RuntimeError, match="Failed to export model .* to PyTorch format") as caught:
        model.export(tmp_path / "b.pt2", format="torch", verbose=False)
    assert caught.value.__cause__ is not None
    assert str(caught.value.__cause__) in str(caught.value)


# ---- errors, compared with Keras' ------------------------------------------------------------------
def keras_error(keras, tmp_path, **arguments):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError) as caught:
        model.export(arguments.pop("filepath", tmp_path / "k.pt2"), **arguments)
    return str(caught.value)


def layerwise_error(tmp_path, **arguments):
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(2)])
    with pytest.raises(ValueError) as caught:
        model.export(arguments.pop("filepath", tmp_path / "k.pt2"), **arguments)
    return str(caught.value)


@pytest.mark.parametrize("arguments", [
    {"format": "torch", "filepath": "model.pt"},
    {"format": "torch", "optimize": True},
    {"format": "tensorflow"},
], ids=["pt2-suffix", "unknown-kwarg", "unrecognized-format"])
def test_argument_errors_are_keras(keras, tmp_path, arguments):
    assert layerwise_error(tmp_path, **dict(arguments)) == keras_error(keras, tmp_path, **dict(arguments))


@pytest.mark.parametrize("format", ["tf_saved_model", "openvino", "litert"])
def test_formats_of_other_frameworks_say_which_work_here(tmp_path, format):
    message = layerwise_error(tmp_path, format=format, filepath=tmp_path / "out")
    assert f'format="{format}"' in message and 'format="torch"' in message and 'format="onnx"' in message
    assert "tf_saved_model" in layerwise_error(tmp_path, filepath=tmp_path / "out")  # Keras' default format


def test_onnx_takes_only_opset_version(tmp_path):
    assert "Supported arguments are: opset_version" in layerwise_error(tmp_path, format="onnx", strict=True)


@pytest.mark.parametrize("format", ["torch", "onnx"])
def test_an_unbuilt_model_says_to_call_or_build_it(tmp_path, format):
    class Plain(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    for model in (layerwise.Sequential([L.Dense(2)]), Plain()):
        with pytest.raises(ValueError, match="not been built.*call it on data.*build it"):
            model.export(tmp_path / "m.pt2", format=format)


# ---- format="onnx" --------------------------------------------------------------------------------
def onnx_session(path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the ONNX round trip needs onnxruntime "
                                                            "(pip install -e '.[test]')")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_round_trip_with_a_free_batch_axis(tmp_path, capsys):
    model = trained_convnet()
    model.train()
    path = tmp_path / "convnet.onnx"
    model.export(path, format="onnx", opset_version=18)
    assert capsys.readouterr().out.endswith(f"Saved artifact at '{path}'.\n")
    assert all(module.training for module in model.modules())
    session = onnx_session(path)
    (only,) = session.get_inputs()
    assert only.shape == ["batch", 6, 6, 3]
    for n in (1, 5):
        got = session.run(None, {only.name: IMAGES[:n]})[0]
        np.testing.assert_allclose(got, model.predict(IMAGES[:n], verbose=0), atol=1e-5)


def test_onnx_inputs_are_named_after_the_models(tmp_path):
    model = two_input_model()
    model.export(tmp_path / "f.onnx", format="onnx", verbose=False)
    session = onnx_session(tmp_path / "f.onnx")
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("a", ["batch", 3]), ("b", ["batch", 4])]
    for n in (1, 6):
        got = session.run(None, {"a": A[:n], "b": B[:n]})[0]
        np.testing.assert_allclose(got, model.predict([A[:n], B[:n]], verbose=0), atol=1e-5)


def test_onnx_dict_inputs_of_a_subclassed_model_keep_its_order(tmp_path):
    class TwoParts(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, inputs):
            return self.dense(inputs["z"]) - inputs["y"][:, :2]

    model = TwoParts()
    data = {"z": A, "y": A[:, ::-1].copy()}
    model(data)
    model.export(tmp_path / "d.onnx", format="onnx", verbose=False)
    session = onnx_session(tmp_path / "d.onnx")
    assert [i.name for i in session.get_inputs()] == ["z", "y"]
    np.testing.assert_allclose(session.run(None, data)[0], model.predict(data, verbose=0), atol=1e-5)


@pytest.mark.parametrize("recurrent", [L.LSTM, L.GRU, L.SimpleRNN])
def test_onnx_masked_recurrent_model(tmp_path, recurrent):
    # the fused masked run reads the sequence lengths on the host, which no traced graph can: it steps instead
    model = layerwise.Sequential([layerwise.Input((6,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
                                  recurrent(3), L.Dense(1)])
    tokens = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9], [1, 0, 0, 0, 0, 0], [0, 0, 2, 3, 0, 0]], "int32")
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    session = onnx_session(tmp_path / "m.onnx")
    (only,) = session.get_inputs()
    for n in (1, 4):
        got = session.run(None, {only.name: tokens[:n]})[0]
        np.testing.assert_allclose(got, model.predict(tokens[:n], verbose=0), atol=1e-5)


@pytest.mark.parametrize("format, name", [("torch", "m.pt2"), ("onnx", "m.onnx")])
def test_a_missing_directory_is_found_before_tracing(tmp_path, format, name):
    model = two_input_model()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.export(tmp_path / "nowhere" / name, format=format, verbose=False)
    (tmp_path / name).mkdir()
    with pytest.raises(IsADirectoryError):
        model.export(tmp_path / name, format=format, verbose=False)
    assert sorted(os.listdir(tmp_path)) == [name]
