"""Built-in layers' weights with Keras' variable methods (``path``, ``name``, ``numpy()``, ``assign``, ``value``),
against Keras: the layer stores PyTorch's layout, the methods speak Keras'."""
import copy
import pickle

import numpy as np
import pytest
import torch

from layerwise import layers, models
from layerwise.backend import clear_session
from layerwise.layers.weights import LayerWeight


@pytest.fixture(autouse=True)
def _names_in_step(keras):
    """Both libraries' automatic names start again after each test: tests later in this process that compare
    them with Keras' (summaries) find the two counters in step."""
    yield
    clear_session()
    keras.utils.clear_session()


def _stack(lib, functional: bool):
    """Dense, Conv2D, Embedding, LSTM and BatchNormalization, named alike in Keras and layerwise."""
    L = lib.layers
    image, ids = L.Input((6, 6, 2)), L.Input((5,))
    x = L.Conv2D(3, 3, name="conv")(image)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(4, name="dense")(x)
    e = L.LSTM(3, name="lstm")(L.Embedding(10, 4, name="emb")(ids))
    out = L.Concatenate(name="cat")([x, e])
    if functional:
        return lib.Model([image, ids], out, name="model")
    return lib.Sequential([L.Input((5,)), L.Embedding(10, 4, name="emb"), L.LSTM(3, name="lstm"),
                           L.Dense(4, name="dense"), L.Reshape((2, 2, 1), name="shape"),
                           L.Conv2D(3, 1, name="conv"), L.BatchNormalization(name="bn")], name="seq")


class _Lib:  # layerwise under Keras' module names
    layers, Model, Sequential = layers, models.Model, models.Sequential


def _pair(keras, functional: bool):
    theirs, ours = _stack(keras, functional), _stack(_Lib, functional)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


@pytest.mark.parametrize("functional", [False, True])
def test_paths_names_and_numpy_match_keras(keras, functional):
    theirs, ours = _pair(keras, functional)
    trainable = [w for w in ours.trainable_weights]
    assert all(type(w) is LayerWeight for w in trainable)
    assert [w.path for w in trainable] == [w.path for w in theirs.trainable_weights]
    assert [w.name for w in trainable] == [w.name for w in theirs.trainable_weights]
    for mine, keras_weight in zip(trainable, theirs.trainable_weights):
        np.testing.assert_allclose(mine.numpy(), keras_weight.numpy(), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(mine), keras_weight.numpy(), rtol=1e-6)
    assert [w.trainable for w in trainable] == [w.trainable for w in theirs.trainable_weights]




def test_assign_takes_keras_layout(keras):
    theirs, ours = _pair(keras, functional=False)
    rng = np.random.default_rng(0)
    for mine, keras_weight in zip(ours.trainable_weights, theirs.trainable_weights):
        value = rng.normal(size=keras_weight.shape).astype("float32")
        mine.assign(value)
        keras_weight.assign(value)
        mine.assign_add(np.ones(keras_weight.shape, "float32"))
        keras_weight.assign_add(np.ones(keras_weight.shape, "float32"))
        mine.assign_sub(0.5)
        keras_weight.assign_sub(0.5)
    for mine, keras_array in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_array, rtol=1e-6)
    x = np.random.default_rng(1).integers(0, 10, (2, 5))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_assign_of_the_wrong_shape_names_layer_weight_and_shapes():
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    assert tuple(dense.kernel.shape) == (3, 4)  # the tensor keeps PyTorch's layout
    with pytest.raises(ValueError, match=r"Layer 'd' weight 'kernel' has shape \(4, 3\); received \(3, 4\)"):
        dense.kernel.assign(np.zeros((3, 4)))


def test_value_grad_is_the_gradient(keras):
    _, ours = _pair(keras, functional=True)
    x = [torch.randn(2, 6, 6, 2), torch.randint(0, 10, (2, 5))]
    ours(x).sum().backward()
    grads = [v.value.grad for v in ours.trainable_weights]
    assert all(g is v.grad and g is not None for g, v in zip(grads, ours.trainable_weights))


def test_dlwp_ch14_embedding_assign(keras):
    theirs, ours = _pair(keras, functional=False)
    other_theirs, other_ours = keras.layers.Embedding(10, 4), layers.Embedding(10, 4)
    other_theirs.build((None,))
    other_ours.build((None,))
    other_ours.embeddings.assign(other_theirs.embeddings.numpy())
    ours.layers[0].embeddings.assign(other_ours.embeddings)
    theirs.layers[0].embeddings.assign(other_theirs.embeddings)
    np.testing.assert_allclose(ours.layers[0].embeddings.numpy(), theirs.layers[0].embeddings.numpy())


def test_copies_keep_the_class_and_paths():
    model = _stack(_Lib, functional=False)
    paths = [w.path for w in model.trainable_weights]
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert all(type(w) is LayerWeight for w in copied.trainable_weights)
        assert [w.path for w in copied.trainable_weights] == paths
        for a, b in zip(copied.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    clone = models.clone_model(model)
    assert all(type(w) is LayerWeight for w in clone.trainable_weights)
    model.load_state_dict(copy.deepcopy(model).state_dict())
    assert all(type(w) is LayerWeight for w in model.trainable_weights)


def _recurrent_stack(lib):
    """Recurrent layers, wrappers and cells: the layers whose weights Keras keeps in a cell's or sublayer's scope."""
    L = lib.layers
    return lib.Sequential([
        L.Input((5, 3)), L.TimeDistributed(L.Dense(2, name="dense"), name="td"),
        L.Bidirectional(L.LSTM(2, return_sequences=True, name="lstm"),
                        backward_layer=L.LSTM(2, go_backwards=True, return_sequences=True, name="bw"), name="bi"),
        L.GRU(2, return_sequences=True, name="gru"),
        L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2, name="c1"), L.LSTMCell(2, name="c2")], name="stack"),
              return_sequences=True, name="rnn"),
        L.RNN(L.GRUCell(2, name="c3"), return_sequences=True, name="rnn2"),
        L.SimpleRNN(2, return_sequences=True, name="srnn"),
        L.SpectralNormalization(L.Dense(2, name="d2"), name="sn")], name="seq")


def test_recurrent_and_wrapped_weights_have_keras_paths_and_names(keras):
    theirs, ours = _recurrent_stack(keras), _recurrent_stack(_Lib)
    trainable = ours.trainable_weights
    assert [w.path for w in trainable] == [w.path for w in theirs.trainable_weights]
    assert "seq/bi/forward_lstm/lstm_cell/kernel" in [w.path for w in trainable]
    assert [w.name for w in trainable] == [w.name for w in theirs.trainable_weights]
    # A layer's `cell` is a view of the layer, not a holder: asking for it changes no path.
    assert [w.path for w in ours.layers[2].cell.trainable_weights] == ["seq/gru/gru_cell/kernel",
                                                                       "seq/gru/gru_cell/recurrent_kernel",
                                                                       "seq/gru/gru_cell/bias"]
    assert [w.path for w in trainable] == [w.path for w in theirs.trainable_weights]


@pytest.mark.parametrize("rank", [1, 3])
def test_conv_lstm_weights_are_in_keras_cell_scope(keras, rank):
    shape = (2, 4, *[5] * rank, 1)
    theirs, ours = (getattr(lib.layers, f"ConvLSTM{rank}D")(2, 3, name="conv") for lib in (keras, _Lib))
    theirs(np.zeros(shape, "float32"))
    ours(np.zeros(shape, "float32"))
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights] == \
        ["conv/conv_lstm_cell/kernel", "conv/conv_lstm_cell/recurrent_kernel", "conv/conv_lstm_cell/bias"]


def _statistics_stack(lib):
    L = lib.layers
    return lib.Sequential([L.Input((4,)), L.Dense(3, name="dense"), L.BatchNormalization(name="bn"),
                           L.SpectralNormalization(L.Dense(2, name="inner"), name="sn")], name="seq")


def test_statistics_are_keras_non_trainable_variables(keras):
    theirs, ours = _statistics_stack(keras), _statistics_stack(_Lib)
    ours.set_weights(theirs.get_weights())
    for attribute in ("path", "name", "trainable"):
        assert [getattr(w, attribute) for w in ours.weights] == [getattr(w, attribute) for w in theirs.weights]
        assert [getattr(w, attribute) for w in ours.non_trainable_weights] == \
            [getattr(w, attribute) for w in theirs.non_trainable_weights]
    assert [w.path for w in ours.non_trainable_weights] == ["seq/bn/moving_mean", "seq/bn/moving_variance",
                                                            "seq/sn/vector_u"]
    for mine, keras_weight in zip(ours.non_trainable_weights, theirs.non_trainable_weights):
        np.testing.assert_array_equal(mine.numpy(), keras_weight.numpy())
    for bn in (ours.layers[1], theirs.layers[1]):
        bn.moving_mean.assign(np.array([1.0, 2.0, 3.0], "float32"))
        bn.moving_variance.assign_add(np.full(3, 0.5, "float32"))
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # A buffer, as PyTorch's BatchNorm keeps its statistics: not among the parameters, in the state_dict.
    assert not any(p is ours.layers[1].moving_mean for p in ours.parameters())
    assert "_layers.1.moving_mean" in ours.state_dict() and ours.layers[1].moving_mean.requires_grad is False


def test_statistics_keep_their_methods_through_moves_copies_and_compile():
    model = _statistics_stack(_Lib)
    model.double()
    assert model.layers[1].moving_mean.dtype == torch.float64 and model.layers[1].moving_mean.path == \
        "seq/bn/moving_mean"
    model.float()
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert [w.path for w in copied.non_trainable_weights] == [w.path for w in model.non_trainable_weights]
        assert copied.layers[1].moving_mean is not model.layers[1].moving_mean
    model.train()
    before = model.layers[1].moving_mean.numpy()
    compiled = torch.compile(model, backend="aot_eager")  # in-place statistics updates traced as a parameter's
    compiled(torch.randn(8, 4)).sum().backward()
    assert not np.array_equal(model.layers[1].moving_mean.numpy(), before)
    assert type(model.layers[1].moving_mean + 1) is torch.Tensor  # arithmetic gives plain tensors
