"""Keras 3's layer and model API where layerwise differed: the ``*_variables`` lists, the ValueError for a
misspelt constructor keyword, ``count_params`` before a build, and a Sequential's fixed batch size."""
from __future__ import annotations

import re

import numpy as np
import pytest

import layerwise

L = layerwise.layers


def _summary_lines(model) -> list[str]:
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    return lines


def _sizes(tensors) -> list[int]:
    """How many numbers each holds (layerwise's tensors are in PyTorch's layout: a Dense kernel is (units, in))."""
    return [int(np.prod(tuple(t.shape))) for t in tensors]


def _stateful(variables) -> list:
    """Keras' variables without its SeedGenerators' states (Dropout's ``seed_generator_state``), which layerwise's
    layers do not have: they draw from torch's generator."""
    return [v for v in variables if "seed_generator" not in v.path]


# ---- variables, trainable_variables, non_trainable_variables -------------------------------------------------------

def test_layer_variables_are_its_weights_as_in_keras(keras):
    for lib in (keras, layerwise):
        dense, norm = lib.layers.Dense(4), lib.layers.BatchNormalization()
        # Keras 3: [] for an unbuilt layer
        assert dense.variables == dense.trainable_variables == dense.non_trainable_variables == []
        dense.build((None, 3))
        norm.build((None, 3))
        # Keras 3: Dense [(3, 4), (4,)] all trainable; BatchNormalization gamma, beta trainable, the moving mean
        # and variance not
        assert _sizes(dense.variables) == _sizes(dense.trainable_variables) == [12, 4]
        assert [id(v) for v in dense.variables] == [id(v) for v in dense.weights]
        assert dense.non_trainable_variables == []
        assert _sizes(norm.variables) == [3] * 4
        assert [id(v) for v in norm.variables] == [id(v) for v in norm.weights]
        assert [id(v) for v in norm.trainable_variables] == [id(v) for v in norm.weights[:2]]
        assert [id(v) for v in norm.non_trainable_variables] == [id(v) for v in norm.weights[2:]]
        norm.trainable = False  # Keras 3: a frozen layer has no trainable variables; all are non-trainable
        assert norm.trainable_variables == []
        assert [id(v) for v in norm.non_trainable_variables] == [id(v) for v in norm.weights]
    # Keras 3: Dropout(0.5).variables == [<seed_generator_state>], weights == []; layerwise has no such state
    assert L.Dropout(0.5).variables == []


def test_model_variables_leave_out_optimizer_state_as_in_keras(keras):
    x, y = np.random.default_rng(0).random((8, 3), dtype=np.float32), np.zeros((8, 4), "float32")
    found = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4), lib.layers.BatchNormalization(),
                                lib.layers.Dropout(0.2)])
        model.compile("adam", "mse", metrics=["mae"])
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        model.layers[0].trainable = False
        variables, trainable, frozen = (
            _stateful(v) if lib is keras else v
            for v in (model.variables, model.trainable_variables, model.non_trainable_variables))
        assert [id(v) for v in variables] == [id(w) for w in model.weights]  # no optimizer or metric state
        assert [id(v) for v in trainable] == [id(w) for w in model.trainable_weights]
        assert [id(v) for v in frozen] == [id(w) for w in model.non_trainable_weights]
        found.append((_sizes(variables), _sizes(trainable), _sizes(frozen)))
    # Keras 3: variables = kernel, bias, gamma, beta, moving mean and variance (and seed_generator_state);
    # with the Dense frozen, trainable = gamma, beta; non-trainable = kernel, bias, moving mean, moving variance
    assert found[0] == found[1] == ([12, 4, 4, 4, 4, 4], [4, 4], [12, 4, 4, 4])


# ---- a misspelt keyword argument -----------------------------------------------------------------------------------

MISSPELT = [
    ("Dense", (4,), {"activaton": "relu"}),
    ("LSTM", (4,), {"retrun_sequences": True}),
    ("Conv2D", (3, 3), {"activaton": "relu"}),
    ("BatchNormalization", (), {"momentun": 0.9}),
    ("Dropout", (0.5,), {"foo": 1, "bar": 2}),
    ("Add", (), {"foo": 1}),
]


@pytest.mark.parametrize("name, args, kwargs", MISSPELT, ids=[case[0] for case in MISSPELT])
def test_misspelt_keyword_is_keras_value_error(keras, name, args, kwargs):
    # Keras 3: ValueError "Unrecognized keyword arguments passed to Dense: {'activaton': 'relu'}"
    message = f"Unrecognized keyword arguments passed to {name}: {kwargs}"
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(keras.layers, name)(*args, **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(L, name)(*args, **kwargs)


def test_misspelt_keyword_names_the_likely_argument():
    # Keras 3 gives no suggestion; layerwise adds the closest constructor argument
    with pytest.raises(ValueError, match=re.escape("(did you mean 'activation' for 'activaton'?)")):
        L.Dense(4, activaton="relu")
    with pytest.raises(ValueError, match=re.escape("'return_sequences' for 'retrun_sequences'")):
        L.LSTM(4, retrun_sequences=True)
    with pytest.raises(ValueError, match=r"Dropout: \{'foo': 1\}$"):  # nothing close: no suggestion
        L.Dropout(0.5, foo=1)


def _wrapper_and_subclass_misspellings_and_argument_counts(lib) -> None:
    class Scaled(lib.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

    class Fixed(lib.layers.Layer):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

    class Net(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    assert Scaled(2, name="scaled", trainable=False, dtype="float32").name == "scaled"
    assert Net(name="net").name == "net"
    # Keras 3: ValueError "Unrecognized keyword arguments passed to Scaled: {'nmae': 'x'}", also for a wrapper and
    # a subclassed model that pass their keywords on
    for make, owner in ((lambda: Scaled(2, nmae="x"), "Scaled"), (lambda: Net(nmae="x"), "Net"),
                        (lambda: lib.layers.Bidirectional(lib.layers.LSTM(2), nmae="x"), "Bidirectional")):
        with pytest.raises(ValueError, match=re.escape(f"passed to {owner}: {{'nmae': 'x'}}")):
            make()
    # Keras 3: Python's TypeErrors for a constructor that takes no such keyword, and for a missing argument
    with pytest.raises(TypeError, match=r"Fixed.__init__\(\) got an unexpected keyword argument 'name'"):
        Fixed(2, name="fixed")
    with pytest.raises(TypeError, match=r"Dense.__init__\(\) missing .*'units'"):
        lib.layers.Dense()


def test_wrapper_and_subclass_misspellings_and_argument_counts_as_keras(keras):
    for lib in (keras, layerwise):
        _wrapper_and_subclass_misspellings_and_argument_counts(lib)


# ---- count_params before a build -----------------------------------------------------------------------------------

def _unbuilt_message(name: str) -> str:
    # Keras 3's words
    return re.escape(f"You tried to call `count_params` on layer '{name}', but the layer isn't built. You can "
                     "build it manually via: `layer.build(input_shape)`.")


def _count_params_of_an_unbuilt_layer_raises(lib) -> None:
    dense = lib.layers.Dense(4, name="dense_unbuilt")
    with pytest.raises(ValueError, match=_unbuilt_message("dense_unbuilt")):
        dense.count_params()
    with pytest.raises(ValueError, match=_unbuilt_message("flat")):
        lib.layers.Flatten(name="flat").count_params()
    dense.build((None, 3))
    assert dense.count_params() == 16
    # Keras 3: Dropout, pooling and activation layers are built when made (no weights): 0, no error
    assert lib.layers.Dropout(0.5).count_params() == lib.layers.MaxPooling2D().count_params() == \
        lib.layers.ReLU().count_params() == 0


def test_count_params_of_an_unbuilt_layer_raises_as_keras(keras):
    for lib in (keras, layerwise):
        _count_params_of_an_unbuilt_layer_raises(lib)


def _count_params_of_an_unbuilt_model_raises(lib) -> None:
    class Net(lib.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = lib.layers.Dense(3)
            self.unused = lib.layers.Dense(5)

        def call(self, x):
            return self.dense(x)

    for model, name in ((lib.Sequential([lib.layers.Dense(4)], name="seq"), "seq"),
                        (lib.Sequential(name="empty"), "empty"), (Net(), "net")):
        with pytest.raises(ValueError, match=_unbuilt_message(name)):
            model.count_params()
    net = Net()
    net(np.zeros((2, 4), "float32"))
    # Keras 3: 15 (the used Dense's weights); the never-called one is unbuilt, and the summary shows "0 (unbuilt)"
    assert net.count_params() == 15
    with pytest.raises(ValueError, match=_unbuilt_message(net.unused.name)):
        net.unused.count_params()
    lines = _summary_lines(net)
    assert any("0 (unbuilt)" in line for line in lines) and " Total params: 15 (60.00 B)" in lines


def test_count_params_of_an_unbuilt_model_raises_as_keras(keras):
    for lib in (keras, layerwise):
        _count_params_of_an_unbuilt_model_raises(lib)


# ---- a Sequential's fixed batch size -------------------------------------------------------------------------------

def _summary_shapes(model) -> list[str]:
    """The summary's "Output Shape" cells."""
    return [line.split("│")[2].strip() for line in _summary_lines(model) if line.startswith("│")]


def test_sequential_keeps_the_batch_size_of_its_input_as_keras(keras):
    found = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((5, 3), batch_size=4), lib.layers.LSTM(2, return_sequences=True),
                                lib.layers.Dense(3)])
        added = lib.Sequential()
        added.add(lib.Input((3,), batch_size=2))
        added.add(lib.layers.Dense(2))
        built = lib.Sequential([lib.layers.Dense(2)])
        built.build((8, 3))
        clone = lib.models.clone_model(model)
        rebuilt = lib.Sequential.from_config(model.get_config())
        inputs = lib.Input((5, 3), batch_size=4)
        functional = lib.Model(inputs, lib.layers.LSTM(2)(inputs))
        found.append((
            model.input_shape, model.output_shape, tuple(model.inputs[0].shape), tuple(model.outputs[0].shape),
            [tuple(layer.output.shape) for layer in model.layers], _summary_shapes(model),
            (added.input_shape, added.output_shape), (built.input_shape, built.output_shape),
            (clone.input_shape, clone.output_shape), (rebuilt.input_shape, rebuilt.output_shape),
            (functional.input_shape, functional.output_shape), _summary_shapes(functional),
            model.predict(np.zeros((8, 5, 3), "float32"), verbose=0).shape))  # other batch sizes still run
    # Keras 3: (4, 5, 3) -> (4, 5, 3); layers' outputs (4, 5, 2), (4, 5, 3); Input(batch_size=2) -> (2, 3), (2, 2);
    # build((8, 3)) -> (8, 3), (8, 2); clone and from_config keep the batch size; functional (4, 5, 3) -> (4, 2)
    assert found[0] == found[1]
    assert found[1][:6] == ((4, 5, 3), (4, 5, 3), (4, 5, 3), (4, 5, 3), [(4, 5, 2), (4, 5, 3)],
                            ["(4, 5, 2)", "(4, 5, 3)"])
    assert found[1][6:9] == (((2, 3), (2, 2)), ((8, 3), (8, 2)), ((4, 5, 3), (4, 5, 3)))
    # Keras 3 keeps the first batch's size when data builds the model: (8, 3) after model(x) on 8 rows, (4, 3) after
    # fit with batch_size=4
    shapes = []
    for lib in (keras, layerwise):
        called, fitted = lib.Sequential([lib.layers.Dense(2)]), lib.Sequential([lib.layers.Dense(2)])
        called(np.zeros((8, 3), "float32"))
        fitted.compile("sgd", "mse")
        fitted.fit(np.zeros((10, 3), "float32"), np.zeros((10, 2), "float32"), batch_size=4, verbose=0)
        shapes.append((called.input_shape, called.output_shape, fitted.input_shape, fitted.output_shape,
                       fitted.predict(np.zeros((3, 3), "float32"), verbose=0).shape))
    assert shapes[0] == shapes[1] == ((8, 3), (8, 2), (4, 3), (4, 2), (3, 2))
