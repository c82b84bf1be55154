"""Every built-in layer family with weights or a non-trivial config, written by layerwise in Keras 3's formats and
read by Keras 3.15: one small model per case, built by the same code in both libraries (a function of ``lib``).

For each case the layerwise model gets random weights (every array perturbed, so zero biases and unit gammas are
tested too) and is saved to ``.keras``; Keras' ``load_model`` must predict the same and count the same parameters,
its own file of the same architecture must hold the same HDF5 datasets (paths and shapes), a ``.weights.h5`` from
layerwise must load into the Keras-built model with the same predictions, and layerwise's own ``load_model`` must
give identical predictions."""
from __future__ import annotations

import zipfile
import zlib

import numpy as np
import pytest
import torch

import layerwise
from keras_files import h5_datasets, h5_group_names


# ---- model builders -----------------------------------------------------------------------------------
def _seq(shape, make, dtype="float32"):
    """A Sequential ``Input(shape) -> make(lib.layers)...`` builder."""
    def build(lib):
        return lib.Sequential([lib.Input(shape, dtype=dtype)] + make(lib.layers))
    return build


def _two(shape_a, shape_b, make):
    """A functional builder of two inputs ``a``, ``b``: ``make(L, a, b)`` gives the output."""
    def build(lib):
        a, b = lib.Input(shape_a, name="a"), lib.Input(shape_b, name="b")
        return lib.Model([a, b], make(lib.layers, a, b))
    return build


# ---- helpers --------------------------------------------------------------------------------------------
def _perturbed(arrays, rng):
    """Every array changed: floats scaled and shifted (kept non-negative where they were, as variances must be),
    integers moved up."""
    out = []
    for w in arrays:
        if np.issubdtype(w.dtype, np.floating):
            new = w * rng.uniform(0.7, 1.3, w.shape) + rng.normal(0, 0.2, w.shape)
            out.append((np.abs(new) + 0.05 if np.all(w >= 0) else new).astype(w.dtype))
        elif np.issubdtype(w.dtype, np.integer):
            out.append(w + rng.integers(1, 4, w.shape).astype(w.dtype))
        else:
            out.append(w)
    return out


def _outputs(model, x) -> list[np.ndarray]:
    out = model(x, training=False)
    return [np.asarray(o.detach().cpu().numpy() if hasattr(o, "detach") else o)
            for o in (out if isinstance(out, (list, tuple)) else [out])]


def _assert_close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


# ---- inputs and cases -------------------------------------------------------------------------------------
_BATCH = 2


def _uniform(*shape):
    """Floats in [-1, 1) of ``(batch, *shape)``."""
    return lambda rng: rng.uniform(-1, 1, (_BATCH, *shape)).astype("float32")


def _ints(high, *shape):
    """Integers in ``[0, high)`` of ``(batch, *shape)``."""
    return lambda rng: rng.integers(0, high, (_BATCH, *shape)).astype("int32")


def _pair(shape_a, shape_b):
    return lambda rng: [_uniform(*shape_a)(rng), _uniform(*shape_b)(rng)]


def _masked(*shape):
    """Floats whose last time step is all zeros (masked by ``Masking(0.0)``)."""
    def make(rng):
        x = _uniform(*shape)(rng)
        x[:, -1] = 0.0
        return x
    return make


def _one(shape, make, dtype="float32"):
    """A functional builder of one input ``x``: ``make(L, x)`` gives the output(s)."""
    def build(lib):
        x = lib.Input(shape, dtype=dtype)
        return lib.Model(x, make(lib.layers, x))
    return build


def _adapted_normalization(L):
    layer = L.Normalization()
    layer.adapt(np.arange(12, dtype="float32").reshape(4, 3) ** 1.5)
    return [layer]


def _reversible(L, x):
    emb = L.ReversibleEmbedding(7, 4)
    return emb(emb(x), reverse=True)


def _merged(L, a, b):
    return L.Concatenate()([L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, b]),
                            L.Maximum()([a, b]), L.Minimum()([a, b])])


CASES = [
    # core
    pytest.param(_seq((4,), lambda L: [L.Dense(3)]), _uniform(4), id="dense"),
    pytest.param(_seq((4,), lambda L: [L.Dense(3, use_bias=False, activation="tanh")]), _uniform(4),
                 id="dense_no_bias"),
    pytest.param(_seq((5, 4), lambda L: [L.EinsumDense("abc,cd->abd", (5, 3), bias_axes="d")]), _uniform(5, 4),
                 id="einsum_dense"),
    pytest.param(_seq((5, 4), lambda L: [L.EinsumDense("abc,cde->abde", (5, 2, 3), bias_axes="de")]),
                 _uniform(5, 4), id="einsum_dense_2d_bias"),
    # convolutions
    pytest.param(_seq((7, 2), lambda L: [L.Conv1D(3, 3)]), _uniform(7, 2), id="conv1d"),
    pytest.param(_seq((5, 5, 2), lambda L: [L.Conv2D(3, 3, padding="same")]), _uniform(5, 5, 2), id="conv2d"),
    pytest.param(_seq((4, 4, 4, 2), lambda L: [L.Conv3D(3, 2)]), _uniform(4, 4, 4, 2), id="conv3d"),
    pytest.param(_seq((5, 5, 4), lambda L: [L.Conv2D(6, 3, groups=2)]), _uniform(5, 5, 4), id="conv2d_groups"),
    pytest.param(_seq((2, 5, 5), lambda L: [L.Conv2D(3, 3, data_format="channels_first")]), _uniform(2, 5, 5),
                 id="conv2d_channels_first"),
    pytest.param(_seq((5, 5, 2), lambda L: [L.Conv2D(3, 3, use_bias=False)]), _uniform(5, 5, 2), id="conv2d_no_bias"),
    pytest.param(_seq((7, 7, 2), lambda L: [L.Conv2D(3, 3, dilation_rate=2)]), _uniform(7, 7, 2),
                 id="conv2d_dilation"),
    pytest.param(_seq((7, 2), lambda L: [L.Conv1D(3, 3, padding="causal")]), _uniform(7, 2), id="conv1d_causal"),
    pytest.param(_seq((5, 2), lambda L: [L.Conv1DTranspose(3, 3, strides=2)]), _uniform(5, 2),
                 id="conv1d_transpose"),
    pytest.param(_seq((4, 4, 2), lambda L: [L.Conv2DTranspose(3, 3, strides=2, padding="same")]),
                 _uniform(4, 4, 2), id="conv2d_transpose"),
    pytest.param(_seq((3, 3, 3, 2), lambda L: [L.Conv3DTranspose(2, 2, strides=2)]), _uniform(3, 3, 3, 2),
                 id="conv3d_transpose"),
    pytest.param(_seq((7, 2), lambda L: [L.DepthwiseConv1D(3, depth_multiplier=2)]), _uniform(7, 2),
                 id="depthwise_conv1d"),
    pytest.param(_seq((5, 5, 2), lambda L: [L.DepthwiseConv2D(3, depth_multiplier=2)]), _uniform(5, 5, 2),
                 id="depthwise_conv2d"),
    pytest.param(_seq((7, 2), lambda L: [L.SeparableConv1D(3, 3, depth_multiplier=2)]), _uniform(7, 2),
                 id="separable_conv1d"),
    pytest.param(_seq((5, 5, 2), lambda L: [L.SeparableConv2D(3, 3)]), _uniform(5, 5, 2), id="separable_conv2d"),
    # recurrent
    pytest.param(_seq((4, 3), lambda L: [L.SimpleRNN(3)]), _uniform(4, 3), id="simple_rnn"),
    pytest.param(_seq((4, 3), lambda L: [L.LSTM(3, return_sequences=True)]), _uniform(4, 3), id="lstm"),
    pytest.param(_seq((4, 3), lambda L: [L.GRU(3)]), _uniform(4, 3), id="gru"),
    pytest.param(_seq((4, 3), lambda L: [L.GRU(3, reset_after=False)]), _uniform(4, 3), id="gru_reset_after_false"),
    pytest.param(_seq((4, 3), lambda L: [L.LSTM(3, use_bias=False)]), _uniform(4, 3), id="lstm_no_bias"),
    pytest.param(_seq((4, 3), lambda L: [L.GRU(3, use_bias=False)]), _uniform(4, 3), id="gru_no_bias"),
    pytest.param(_seq((4, 3), lambda L: [L.RNN(L.SimpleRNNCell(3))]), _uniform(4, 3), id="rnn_simple_rnn_cell"),
    pytest.param(_seq((4, 3), lambda L: [L.RNN(L.LSTMCell(3))]), _uniform(4, 3), id="rnn_lstm_cell"),
    pytest.param(_seq((4, 3), lambda L: [L.RNN(L.GRUCell(3))]), _uniform(4, 3), id="rnn_gru_cell"),
    pytest.param(_seq((4, 3), lambda L: [L.RNN([L.SimpleRNNCell(3), L.GRUCell(2)])]), _uniform(4, 3),
                 id="rnn_two_cells"),
    pytest.param(_seq((3, 5, 2), lambda L: [L.ConvLSTM1D(2, 3)]), _uniform(3, 5, 2), id="conv_lstm1d"),
    pytest.param(_seq((3, 4, 4, 2), lambda L: [L.ConvLSTM2D(2, 3, padding="same")]), _uniform(3, 4, 4, 2),
                 id="conv_lstm2d"),
    pytest.param(_seq((2, 3, 3, 3, 1), lambda L: [L.ConvLSTM3D(2, 2)]), _uniform(2, 3, 3, 3, 1), id="conv_lstm3d"),
    pytest.param(_seq((4, 3), lambda L: [L.Bidirectional(L.LSTM(3))]), _uniform(4, 3), id="bidirectional_concat"),
    pytest.param(_seq((4, 3), lambda L: [L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum")]),
                 _uniform(4, 3), id="bidirectional_sum"),
    pytest.param(_seq((4, 3), lambda L: [L.Bidirectional(L.SimpleRNN(3), merge_mode="ave")]), _uniform(4, 3),
                 id="bidirectional_ave"),
    pytest.param(_seq((4, 3), lambda L: [L.Bidirectional(L.LSTM(3), merge_mode="mul")]), _uniform(4, 3),
                 id="bidirectional_mul"),
    pytest.param(_seq((4, 3), lambda L: [L.Bidirectional(L.LSTM(3), backward_layer=L.GRU(3, go_backwards=True))]),
                 _uniform(4, 3), id="bidirectional_backward_layer"),
    pytest.param(_seq((3, 4), lambda L: [L.TimeDistributed(L.Dense(2))]), _uniform(3, 4),
                 id="time_distributed_dense"),
    pytest.param(_seq((2, 4, 4, 1), lambda L: [L.TimeDistributed(L.Conv2D(2, 3))]), _uniform(2, 4, 4, 1),
                 id="time_distributed_conv2d"),
    pytest.param(_seq((5,), lambda L: [L.Embedding(6, 4, mask_zero=True), L.LSTM(3)], dtype="int32"), _ints(6, 5),
                 id="embedding_mask_zero_lstm"),
    pytest.param(_seq((4, 3), lambda L: [L.Masking(0.0), L.GRU(3)]), _masked(4, 3), id="masking_gru"),
    pytest.param(_one((5,), _reversible, dtype="int32"), _ints(7, 5), id="reversible_embedding"),
    # normalization
    pytest.param(_seq((4,), lambda L: [L.BatchNormalization()]), _uniform(4), id="batch_normalization"),
    pytest.param(_seq((4,), lambda L: [L.BatchNormalization(center=False, scale=False)]), _uniform(4),
                 id="batch_normalization_no_center_scale"),
    pytest.param(_seq((3, 4), lambda L: [L.LayerNormalization()]), _uniform(3, 4), id="layer_normalization"),
    pytest.param(_seq((3, 4), lambda L: [L.LayerNormalization(axis=[-2, -1])]), _uniform(3, 4),
                 id="layer_normalization_two_axes"),
    pytest.param(_seq((3, 4), lambda L: [L.GroupNormalization(groups=2)]), _uniform(3, 4), id="group_normalization"),
    pytest.param(_seq((3, 4), lambda L: [L.RMSNormalization()]), _uniform(3, 4), id="rms_normalization"),
    pytest.param(_seq((3, 4), lambda L: [L.UnitNormalization()]), _uniform(3, 4), id="unit_normalization"),
    pytest.param(_seq((3,), _adapted_normalization), _uniform(3), id="normalization_adapted"),
    pytest.param(_seq((3,), lambda L: [L.Normalization(mean=[0.5, -1.0, 2.0], variance=[1.0, 4.0, 0.25])]),
                 _uniform(3), id="normalization_mean_variance"),
    pytest.param(_seq((3,), lambda L: [L.Normalization(mean=[0.5, -1.0, 2.0], variance=[1.0, 4.0, 0.25],
                                                       invert=True)]), _uniform(3), id="normalization_invert"),
    pytest.param(_seq((3, 4), lambda L: [L.PReLU()]), _uniform(3, 4), id="prelu"),
    pytest.param(_seq((4,), lambda L: [L.SpectralNormalization(L.Dense(3))]), _uniform(4),
                 id="spectral_normalization_dense"),
    # attention and merging
    pytest.param(_one((5, 4), lambda L, x: L.MultiHeadAttention(2, 3)(x, x)), _uniform(5, 4),
                 id="multi_head_attention"),
    pytest.param(_one((5, 4), lambda L, x: L.MultiHeadAttention(2, 3, use_bias=False)(x, x)), _uniform(5, 4),
                 id="multi_head_attention_no_bias"),
    pytest.param(_two((5, 4), (3, 4), lambda L, a, b: L.GroupQueryAttention(3, 4, 2)(a, b)), _pair((5, 4), (3, 4)),
                 id="grouped_query_attention"),
    pytest.param(_two((5, 4), (3, 4), lambda L, a, b: L.Attention(use_scale=True)([a, b])), _pair((5, 4), (3, 4)),
                 id="attention_scale"),
    pytest.param(_two((5, 4), (3, 4), lambda L, a, b: L.Attention(score_mode="concat")([a, b])),
                 _pair((5, 4), (3, 4)), id="attention_concat"),
    pytest.param(_two((5, 4), (3, 4), lambda L, a, b: L.AdditiveAttention()([a, b])), _pair((5, 4), (3, 4)),
                 id="additive_attention"),
    pytest.param(_two((5, 4), (3, 4), lambda L, a, b: L.Dot(axes=2)([a, b])), _pair((5, 4), (3, 4)), id="dot"),
    pytest.param(_two((5, 4), (5, 2), lambda L, a, b: L.Concatenate()([a, b])), _pair((5, 4), (5, 2)),
                 id="concatenate"),
    pytest.param(_two((3, 4), (3, 4), _merged), _pair((3, 4), (3, 4)), id="add_subtract_multiply_average_max_min"),
    # pooling and reshaping
    pytest.param(_seq((6, 6, 2), lambda L: [L.AdaptiveAveragePooling2D(3), L.AdaptiveMaxPooling2D(2)]),
                 _uniform(6, 6, 2), id="adaptive_pooling"),
    pytest.param(_seq((8, 2), lambda L: [L.MaxPooling1D(2), L.AveragePooling1D(3, padding="same")]),
                 _uniform(8, 2), id="pooling_1d"),
    pytest.param(_seq((6, 6, 2), lambda L: [L.MaxPooling2D(2), L.AveragePooling2D(2, strides=1)]),
                 _uniform(6, 6, 2), id="pooling_2d"),
    pytest.param(_seq((4, 4, 4, 1), lambda L: [L.MaxPooling3D(2, padding="same"), L.AveragePooling3D(2)]),
                 _uniform(4, 4, 4, 1), id="pooling_3d"),
    pytest.param(_one((3, 3, 2), lambda L, x: L.Concatenate()([L.GlobalAveragePooling2D()(x),
                                                               L.GlobalMaxPooling2D()(x),
                                                               L.GlobalAveragePooling1D()(L.Reshape((9, 2))(x))])),
                 _uniform(3, 3, 2), id="global_pooling"),
    pytest.param(_seq((3, 3, 2), lambda L: [L.ZeroPadding2D(1), L.Cropping2D(((1, 0), (0, 1))), L.UpSampling2D(2),
                                            L.Permute((3, 1, 2)), L.Reshape((16, 8)), L.Flatten(), L.Dense(3),
                                            L.RepeatVector(2)]),
                 _uniform(3, 3, 2), id="reshaping_2d"),
    pytest.param(_seq((5, 2), lambda L: [L.ZeroPadding1D(1), L.Cropping1D((1, 2)), L.UpSampling1D(2),
                                         L.Reshape((2, 2, 2, 2)), L.ZeroPadding3D(1), L.Cropping3D(1),
                                         L.UpSampling3D(2)]),
                 _uniform(5, 2), id="reshaping_1d_3d"),
    # regularization (identity at inference), preprocessing, audio
    pytest.param(_seq((5, 4), lambda L: [L.Dropout(0.3), L.SpatialDropout1D(0.3), L.GaussianNoise(0.2),
                                         L.GaussianDropout(0.2), L.AlphaDropout(0.2), L.Dense(3)]),
                 _uniform(5, 4), id="dropout_and_noise"),
    pytest.param(_seq((6, 6, 3), lambda L: [L.Rescaling(1 / 127.5, offset=-1.0), L.Resizing(4, 5)]),
                 lambda rng: rng.uniform(0, 255, (_BATCH, 6, 6, 3)).astype("float32"), id="rescaling_resizing"),
    pytest.param(_seq((3,), lambda L: [L.CategoryEncoding(6, output_mode="multi_hot")], dtype="int32"), _ints(6, 3),
                 id="category_encoding"),
    pytest.param(_seq((4,), lambda L: [L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])]), _uniform(4),
                 id="discretization"),
    pytest.param(_seq((8, 8, 3), lambda L: [L.RandomFlip(), L.RandomRotation(0.1), L.RandomZoom(0.1),
                                            L.RandomContrast(0.1)]),
                 _uniform(8, 8, 3), id="random_augmentation"),
    pytest.param(_seq((64, 1), lambda L: [L.STFTSpectrogram(frame_length=16, frame_step=8, fft_length=16)]),
                 _uniform(64, 1), id="stft_spectrogram"),
    pytest.param(_seq((128,), lambda L: [L.MelSpectrogram(fft_length=32, sequence_stride=16, num_mel_bins=8,
                                                          sampling_rate=8000)]),
                 _uniform(128), id="mel_spectrogram"),
    pytest.param(_seq((4,), lambda L: [L.TorchModuleWrapper(torch.nn.Linear(4, 3))]), _uniform(4),
                 id="torch_module_wrapper"),
]
UNSAFE = {"torch_module_wrapper"}  # Keras deserializes the wrapped module with torch.load: only with safe_mode=False


@pytest.mark.parametrize("build, make_x", CASES)
def test_keras_reads_what_layerwise_writes(keras, tmp_path, request, build, make_x):
    case = request.node.callspec.id
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    x = make_x(rng)
    ours = build(layerwise)
    ours.set_weights(_perturbed(ours.get_weights(), rng))
    expected = _outputs(ours, x)
    ours.save(tmp_path / "ours.keras")
    ours.save_weights(tmp_path / "ours.weights.h5")

    # The same HDF5 datasets (paths and shapes) as Keras' own file of the same architecture.
    theirs = build(keras)
    theirs.save(tmp_path / "theirs.keras")
    h5 = {name: zipfile.ZipFile(tmp_path / f"{name}.keras").read("model.weights.h5") for name in ("ours", "theirs")}
    assert h5_datasets(h5["ours"]) == h5_datasets(h5["theirs"])
    # Keras' name attributes (h5 viewers, KerasFileEditor) wherever layerwise has the part: Keras also names the empty
    # groups of weightless parts layerwise's layers do not hold (an attention's softmax, a ConvLSTM's cell).
    names = h5_group_names(h5["ours"])
    assert names.items() <= h5_group_names(h5["theirs"]).items()
    assert all(path in names for path in h5_group_names(h5["theirs"]) if path.count("/") <= 2)  # model and layers

    # Keras loads the archive: same predictions, same parameter count.
    loaded = keras.models.load_model(tmp_path / "ours.keras", safe_mode=case not in UNSAFE)
    _assert_close(_outputs(loaded, x), expected)
    assert loaded.count_params() == ours.count_params()

    # Keras loads the weights file into its own model of the same architecture.
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _assert_close(_outputs(theirs, x), expected)

    # layerwise reads its archive back exactly.
    again = layerwise.models.load_model(tmp_path / "ours.keras")
    for got, want in zip(_outputs(again, x), expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("functional", [False, True])
def test_keras_rebuilds_a_stateful_layer_with_its_fixed_batch_size(keras, tmp_path, functional):
    # Keras refuses a stateful RNN built for a dynamic batch: the file carries the model input's batch size
    x = np.random.default_rng(0).random((4, 7, 3)).astype("float32")
    if functional:
        inputs = layerwise.Input(batch_shape=(4, 7, 3))
        model = layerwise.Model(inputs, layerwise.layers.GRU(2, stateful=True)(inputs))
    else:
        model = layerwise.Sequential([layerwise.Input((7, 3), batch_size=4), layerwise.layers.LSTM(4, stateful=True)])
    model.save(tmp_path / "stateful.keras")  # before any call: no states yet, the Input's batch size is used
    theirs = keras.models.load_model(tmp_path / "stateful.keras")
    np.testing.assert_allclose(theirs.predict(x, batch_size=4, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_keras_loads_a_first_layer_given_keras2_batch_arguments(keras, tmp_path):
    stateful = layerwise.Sequential([layerwise.layers.LSTM(4, batch_input_shape=(2, 3, 1), stateful=True)])
    dense = layerwise.Sequential([layerwise.layers.Dense(2, input_shape=(3,), batch_size=4)])
    for name, model in (("stateful", stateful), ("dense", dense)):
        model.save(tmp_path / f"{name}.keras")
        assert keras.models.load_model(tmp_path / f"{name}.keras").count_params() == model.count_params()
