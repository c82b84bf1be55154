"""``layerwise.ops.image``, the Fourier ops and the control-flow / core ops against ``keras.ops`` (torch
backend): the same values and dtypes on the same inputs, Keras' nodes in functional models (summary names,
predict, save/load), and clear errors for bad arguments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import ops

_rng = np.random.default_rng(0)
IMG = _rng.uniform(0, 1, (2, 7, 9, 3)).astype("float32")
IMG_CF = np.ascontiguousarray(IMG.transpose(0, 3, 1, 2))
U8 = _rng.integers(0, 256, (2, 7, 9, 3)).astype("uint8")
VOL = _rng.normal(size=(2, 5, 6, 7, 2)).astype("float32")
GRID = _rng.normal(size=(5, 6)).astype("float32")
# Coordinates reaching past every edge, so the fill modes matter; halves to check nearest's rounding.
COORDS = np.stack(np.meshgrid(np.linspace(-2.3, 6.7, 7), np.linspace(-1.5, 7.5, 5), indexing="ij")).astype("float32")
SHEAR = np.array([1.0, 0.4, -2.0, 0.3, 1.1, -1.5, 0.0, 0.0], "float32")
ZOOM = np.array([[1.3, 0.0, -1.0, 0.0, 1.3, -1.0, 0, 0], [0.8, -0.2, 1.5, 0.2, 0.8, 0.5, 0, 0]], "float32")
START = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], "float32")
END = np.array([[[1, 0.5], [7, 1], [0, 5], [8.5, 6]], [[0.5, 0], [8, 1], [1, 6], [7, 5]]], "float32")
SIGNAL = _rng.normal(size=(2, 3, 40)).astype("float32")
RE, IM = _rng.normal(size=(2, 4, 6)).astype("float32"), _rng.normal(size=(2, 4, 6)).astype("float32")
DATA = _rng.normal(size=(6, 2)).astype("float32")
IDS = np.array([0, 0, 2, 1, 2, 2], "int32")

IMAGE_CASES = [
    ("rgb_to_grayscale", (IMG,), {}), ("rgb_to_grayscale", (IMG[0],), {}), ("rgb_to_grayscale", (U8,), {}),
    ("rgb_to_grayscale", (IMG_CF,), {"data_format": "channels_first"}), ("rgb_to_grayscale", (IMG[..., :1],), {}),
    ("rgb_to_hsv", (IMG,), {}), ("rgb_to_hsv", (IMG_CF.astype("float64"),), {"data_format": "channels_first"}),
    ("rgb_to_hsv", (np.array([[[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.2]]], "float32"),), {}),
    ("hsv_to_rgb", (IMG,), {}), ("hsv_to_rgb", (IMG[0],), {}),
    ("resize", (IMG, (4, 5)), {}), ("resize", (IMG, (11, 13)), {"interpolation": "bicubic"}),
    ("resize", (IMG, (3, 4)), {"interpolation": "nearest"}), ("resize", (IMG, (3, 4)), {"antialias": True}),
    ("resize", (IMG, (4, 4)), {"crop_to_aspect_ratio": True}),
    ("resize", (IMG, (5, 3)), {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ("resize", (U8, (10, 5)), {}), ("resize", (IMG[0], (4, 6)), {}),
    ("resize", (IMG_CF, (5, 4)), {"data_format": "channels_first", "interpolation": "bicubic"}),
    *[("affine_transform", (IMG, np.stack([SHEAR, ZOOM[1]])), {"fill_mode": mode, "interpolation": interpolation})
      for mode in ("constant", "nearest", "wrap", "mirror", "reflect") for interpolation in ("bilinear", "nearest")],
    ("affine_transform", (IMG, ZOOM), {"fill_value": 0.25}), ("affine_transform", (IMG[0], SHEAR), {}),
    ("affine_transform", (IMG_CF, ZOOM), {"data_format": "channels_first", "fill_mode": "reflect"}),
    ("affine_transform", (U8[0], SHEAR), {}),
    ("extract_patches", (IMG, 3), {}), ("extract_patches", (IMG, (2, 3)), {"strides": (1, 2)}),
    ("extract_patches", (IMG, (3, 4)), {"strides": 2, "padding": "same"}),
    ("extract_patches", (IMG, 2), {"strides": 1, "dilation_rate": 2}), ("extract_patches", (IMG[0], (3, 3)), {}),
    ("extract_patches", (IMG_CF, 2), {"data_format": "channels_first", "padding": "same"}),
    ("extract_patches", (VOL, (2, 3, 3)), {}), ("extract_patches_3d", (VOL, 2), {"strides": 1, "padding": "same"}),
    ("extract_patches_3d", (VOL[0], (3, 2, 4)), {"strides": (1, 2, 3)}),
    *[("map_coordinates", (GRID, COORDS, order), {"fill_mode": mode, "fill_value": 0.5})
      for mode in ("constant", "nearest", "wrap", "mirror", "reflect") for order in (0, 1)],
    ("map_coordinates", (VOL[0, :, :, :, 0], np.stack([COORDS[0][None] * 0.6, COORDS[1][None], COORDS[0][None]]), 1),
     {"fill_mode": "mirror"}),
    ("map_coordinates", (np.arange(30, dtype="int32").reshape(5, 6), COORDS, 1), {}),
    ("crop_images", (IMG, 1, 2), {"target_height": 4, "target_width": 5}),
    ("crop_images", (IMG[0],), {"bottom_cropping": 2, "right_cropping": 3, "target_height": 3, "target_width": 4}),
    ("crop_images", (IMG_CF, 0, 1, 2, 3), {"data_format": "channels_first"}),
    ("pad_images", (IMG, 1, 2), {"target_height": 10, "target_width": 12}),
    ("pad_images", (U8[0],), {"bottom_padding": 2, "right_padding": 0, "target_height": 11, "target_width": 9}),
    ("pad_images", (IMG_CF, 2, 1, 0, 3), {"data_format": "channels_first"}),
    ("perspective_transform", (IMG, START, END[0]), {}),
    ("perspective_transform", (IMG, np.stack([START, START]), END), {"interpolation": "nearest", "fill_value": 0.3}),
    ("perspective_transform", (IMG_CF, START, END[1]), {"data_format": "channels_first"}),
    ("gaussian_blur", (IMG,), {"data_format": "channels_last"}),
    ("gaussian_blur", (IMG,), {"kernel_size": (5, 5), "sigma": (0.7, 2.0), "data_format": "channels_last"}),
    ("gaussian_blur", (IMG_CF,), {"sigma": (1.5, 1.5), "data_format": "channels_first"}),
    ("scale_and_translate", (GRID, (9, 4), [1.8, 0.7], [0.5, -0.3], (0, 1), "linear"), {}),
    ("scale_and_translate", (IMG, (2, 5, 14, 3), [0.6, 1.6], [0.2, 1.0], (1, 2), "bicubic"), {}),
    ("scale_and_translate", (IMG, (2, 4, 4, 3), [0.5, 0.5], [0.0, 0.0], (1, 2), "lanczos3"), {"antialias": False}),
    ("scale_and_translate", (IMG, (2, 7, 5, 3), [1.0, 0.6], [0.0, 0.0], (-3, -2), "lanczos5"), {}),
    ("scale_and_translate", (U8, (2, 9, 9, 3), [1.3, 1.0], [0.0, 0.0], (1, 2), "cubic"), {}),
    ("sobel_edges", (IMG,), {}), ("sobel_edges", (IMG_CF,), {"data_format": "channels_first"}),
    ("ssim", (IMG, np.clip(IMG + _rng.normal(0, 0.1, IMG.shape), 0, 1).astype("float32")), {"filter_size": 5}),
    ("ssim", (IMG[0] * 255, IMG[0, ::-1] * 255), {"max_val": 255.0, "filter_size": 3, "filter_sigma": 0.8}),
    ("ssim", (IMG_CF, IMG_CF ** 2), {"filter_size": 3, "data_format": "channels_first", "k1": 0.02}),
]

FFT_CASES = [
    ("fft", ((RE, IM),), {}), ("fft2", ((RE, IM),), {}), ("ifft2", ((RE.astype("float64"), IM.astype("float64")),), {}),
    ("rfft", (RE,), {}), ("rfft", (RE,), {"fft_length": 4}), ("rfft", (RE,), {"fft_length": 9}),
    ("irfft", ((RE, IM),), {}), ("irfft", ((RE, IM),), {"fft_length": 11}),
    ("stft", (SIGNAL, 8, 4, 8), {}), ("stft", (SIGNAL[0], 6, 3, 16), {"window": "hamming", "center": False}),
    ("stft", (SIGNAL.astype("float64"), 5, 2, 8), {"window": None}),
    ("stft", (SIGNAL, 4, 2, 4), {"window": np.arange(1, 5, dtype="float32")}),
    ("view_as_complex", (np.stack([RE, IM], -1),), {}), ("view_as_real", (RE + 1j * IM,), {}),
]
ISTFT_ARGS = [(8, 4, 8, {}), (6, 3, 8, {}), (8, 2, 8, {"window": "hamming", "length": 37}),
              (5, 2, 8, {"center": False}), (8, 4, 8, {"window": None, "center": False, "length": 30})]


def _numpy(value):
    if isinstance(value, (list, tuple)):
        return [_numpy(v) for v in value]
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _assert_same(got, expected, rtol=1e-5, atol=1e-5):
    if isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected)
        got, expected = [got[k] for k in sorted(got)], [expected[k] for k in sorted(expected)]
    if isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_same(g, e, rtol, atol)
        return
    assert isinstance(got, torch.Tensor)
    assert str(got.dtype) == str(expected.dtype)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name, args, kwargs", IMAGE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(IMAGE_CASES)])
def test_image_op_matches_keras(keras, name, args, kwargs):
    _assert_same(getattr(ops.image, name)(*args, **kwargs), getattr(keras.ops.image, name)(*args, **kwargs))


@pytest.mark.parametrize("name, args, kwargs", FFT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FFT_CASES)])
def test_fft_op_matches_keras(keras, name, args, kwargs):
    _assert_same(getattr(ops, name)(*args, **kwargs), getattr(keras.ops, name)(*args, **kwargs))


@pytest.mark.parametrize("length, stride, fft_length, kwargs", ISTFT_ARGS)
def test_istft_inverts_stft_as_keras(keras, length, stride, fft_length, kwargs):
    window = kwargs.get("window", "hann")
    spectrum = keras.ops.stft(SIGNAL, length, stride, fft_length, window=window, center=kwargs.get("center", True))
    expected = keras.ops.istft(spectrum, length, stride, fft_length, **kwargs)
    _assert_same(ops.istft(spectrum, length, stride, fft_length, **kwargs), expected)


def test_elastic_transform_matches_keras_under_the_same_global_seed(keras):
    for kwargs in ({}, {"alpha": 3.0, "sigma": 1.0, "fill_mode": "constant", "fill_value": 0.5},
                   {"interpolation": "nearest", "fill_mode": "wrap", "alpha": 2.0, "sigma": 0.6}):
        torch.manual_seed(7)
        expected = keras.ops.image.elastic_transform(IMG, **kwargs)
        torch.manual_seed(7)
        _assert_same(ops.image.elastic_transform(IMG, **kwargs), expected)
    first, again = (ops.image.elastic_transform(IMG, 4.0, 1.0, seed=3) for _ in range(2))
    assert torch.equal(first, again) and not torch.equal(first, ops.image.elastic_transform(IMG, 4.0, 1.0, seed=4))


SEGMENT_CASES = [(DATA, IDS, {}), (DATA, IDS, {"num_segments": 5}), (DATA[:, 0], IDS, {"num_segments": 2}),
                 ((DATA * 10).astype("int32"), IDS, {"sorted": True}), (DATA, np.array([0, 3, -1, 1, 1, 0]), {})]


@pytest.mark.parametrize("name", ["segment_sum", "segment_max", "segment_min", "segment_prod"])
@pytest.mark.parametrize("data, ids, kwargs", SEGMENT_CASES)
def test_segment_reductions_match_keras(keras, name, data, ids, kwargs):
    _assert_same(getattr(ops, name)(data, ids, **kwargs), getattr(keras.ops, name)(data, ids, **kwargs))


CORE_CASES = [
    ("saturate_cast", (np.array([-300.0, -1.7, 0.4, 255.6, 1e10, np.inf, -np.inf], "float32"), "uint8"), {}),
    ("saturate_cast", (np.array([-3e9, -129.0, 5.5, 3e9], "float64"), "int8"), {}),
    ("saturate_cast", (np.array([-5e9, 2.5, -3e9], "float32"), "int32"), {}),
    ("saturate_cast", (np.array([-70000, 3, 70000], "int32"), "int16"), {}),
    ("saturate_cast", (np.array([1e39, -1.5], "float64"), "float32"), {}),
    ("saturate_cast", (np.array([True, False]), "float32"), {}),
    ("slice_update", (np.zeros((4, 5), "float32"), (1, 2), np.ones((2, 3), "float32")), {}),
    ("slice_update", (np.arange(24).reshape(2, 3, 4), np.array([0, 1, 1]), -np.ones((2, 2, 3), "int64")), {}),
    ("scatter_update", (np.zeros((4, 3), "float32"), [[1], [3]], np.ones((2, 3), "float32")), {}),
    ("scatter_update", (np.ones((3, 4), "float32"), [[0, 1], [2, 3], [0, 1]], [2.0, 3.0, 4.0]),
     {"reduction": "add"}),
    *[("scatter_update", (DATA.reshape(3, 4), [[1, 2], [0, 0], [1, 2]], [5.0, -3.0, 0.5]), {"reduction": r})
      for r in ("max", "min", "mul", "MUL")],
    ("scatter_update", (np.arange(12, dtype="int32").reshape(3, 4), [[2], [0]], [[1, 1, 1, 1], [9, 9, 9, 9]]),
     {"reduction": "max"}),
]


@pytest.mark.parametrize("name, args, kwargs", CORE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CORE_CASES)])
def test_core_op_matches_keras(keras, name, args, kwargs):
    _assert_same(getattr(ops, name)(*args, **kwargs), getattr(keras.ops, name)(*args, **kwargs), rtol=0, atol=0)


def test_where_keras_breaks_layerwise_does_the_documented_thing():
    # Keras' saturate_cast overflows here (float32 cannot hold int32's max); layerwise saturates.
    big = ops.saturate_cast(np.array([5e9, np.inf], "float32"), "int32")
    assert big.tolist() == [2147483520, 2147483520]
    # One transform for a batch of images; a real tensor viewed as complex pairs with zero imaginary parts.
    batch = ops.image.affine_transform(IMG, SHEAR)
    torch.testing.assert_close(batch[1], ops.image.affine_transform(IMG[1], SHEAR))
    assert ops.view_as_real(RE).tolist() == np.stack([RE, np.zeros_like(RE)], -1).tolist()
    # The default data_format is channels_last (Keras' eager torch gaussian_blur reads None as channels_first).
    torch.testing.assert_close(ops.image.gaussian_blur(IMG), ops.image.gaussian_blur(IMG, data_format="channels_last"))
    # vectorize passes the `excluded` arguments through (Keras' ignores `excluded`).
    scaled = ops.vectorize(lambda a, mode: a * 2 if mode == "double" else a, excluded={1})(RE, "double")
    torch.testing.assert_close(scaled, torch.as_tensor(RE) * 2)
    # The op and the layer share their kernel.
    layer = layerwise.layers.Resizing(4, 5, pad_to_aspect_ratio=True, fill_value=0.5)
    torch.testing.assert_close(ops.image.resize(IMG, (4, 5), pad_to_aspect_ratio=True, fill_value=0.5), layer(IMG))


def _cumulative(a, b):
    return {"sum": a["sum"] + b["sum"], "max": torch.maximum(a["max"], b["max"])}


def test_control_flow_matches_keras(keras):
    x, k = torch.as_tensor(SIGNAL[0]), keras.ops
    cases = [
        (lambda o: o.map(lambda row: row ** 2 + row.sum(), x)),
        (lambda o: o.map(lambda pair: pair[0] * pair[1], (x, x + 1.0))),
        (lambda o: o.scan(lambda c, row: (c + row, c * row), torch.zeros(40), x)),
        (lambda o: o.scan(lambda c, row: (c * 0.5 + row[:2], None), torch.ones(2), x, reverse=True)),
        (lambda o: o.scan(lambda c, _: ((c[0] + 1, c[1] * 2), c[0]), (torch.tensor(0), torch.tensor(1.0)), length=4)),
        (lambda o: o.associative_scan(lambda a, b: a + b, x, axis=1)),
        (lambda o: o.associative_scan(lambda a, b: a * b, x[:, :7] * 0.5 + 1, reverse=True, axis=1)),
        (lambda o: o.associative_scan(_cumulative, {"sum": x.T, "max": x.T})),
        (lambda o: o.switch(torch.tensor(5), [lambda v: v + 1, lambda v: v * 2], x)),
        (lambda o: o.switch(-1, [lambda v, w: v - w, lambda v, w: v * w], x, 2.0)),
        (lambda o: o.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, v * 1.5), (0, x))),
        (lambda o: o.while_loop(lambda v: v.sum() < 100, lambda v: v + 1, torch.zeros(3), maximum_iterations=7)),
        (lambda o: o.fori_loop(2, 6, lambda i, v: v + i * x[0], torch.zeros(40))),
        (lambda o: o.vectorized_map(lambda row: row.max() - row, x)),
        (lambda o: o.vectorize(lambda a, b: a * 2 + b)(x, torch.arange(40.0))),
        (lambda o: o.vectorize(lambda m, v: m @ v, signature="(m,n),(n)->(m)")(torch.ones(2, 4, 3, 5),
                                                                                torch.arange(5.0))),
        (lambda o: o.jvp(lambda a: torch.sin(a) * a, (x,), (torch.ones_like(x),))),
        (lambda o: o.jvp(lambda a, b: (a * b, a.sum()), (x, x), (x, -x), has_aux=True)),
    ]
    for case in cases:
        _assert_same(case(ops), case(k))
    assert ops.dtype(IMG) == ops.dtype(torch.ones(2)) == k.dtype(IMG) == "float32"
    assert ops.dtype(U8) == "uint8" and ops.dtype(torch.ones(1, dtype=torch.int64)) == k.dtype(torch.ones(1).long())
    assert ops.is_tensor(x) and not ops.is_tensor(IMG) and not ops.is_tensor(layerwise.Input((3,)))
    assert k.is_tensor(x) and not k.is_tensor(IMG)


def test_custom_gradient_uses_the_given_gradient(keras):
    def log1pexp(lib):
        @lib.ops.custom_gradient
        def fn(v):
            e = torch.exp(v)

            def grad(*args, upstream=None):
                return upstream * (1.0 - 1.0 / (1.0 + e)) * 10.0  # scaled, so the custom rule shows
            return torch.log1p(e), grad
        return fn
    grads = []
    for lib in (keras, layerwise):
        v = torch.tensor([-2.0, 0.5, 80.0], requires_grad=True)
        log1pexp(lib)(v).sum().backward()
        grads.append(v.grad)
    torch.testing.assert_close(grads[0], grads[1])
    torch.testing.assert_close(grads[1], 10.0 * torch.sigmoid(torch.tensor([-2.0, 0.5, 80.0])))


# Functional models built from ops on one input (None, 8, 8, 3): the nodes, shapes and outputs must be Keras'.
GRAPHS = {
    "colour": lambda o, x: o.image.hsv_to_rgb(o.image.rgb_to_hsv(x)) + o.image.rgb_to_grayscale(x),
    "resize_patches": lambda o, x: o.image.extract_patches(o.image.resize(x, (6, 6), interpolation="nearest"), 3),
    "crop_pad_blur": lambda o, x: o.image.gaussian_blur(
        o.image.pad_images(o.image.crop_images(x, 1, 1, 2, 2), 1, 0, 1, 2), data_format="channels_last"),
    "warp": lambda o, x: o.image.perspective_transform(x, START[None] * 0.8, END[:1] * 0.8, fill_value=0.5),
    "sobel_ssim": lambda o, x: o.mean(o.image.sobel_edges(x), axis=(1, 2, 3)) + o.expand_dims(
        o.image.ssim(x, o.square(x), filter_size=3), -1),
    "fourier": lambda o, x: o.irfft(o.rfft(o.reshape(x, (-1, 192))), 192) + o.fft(
        (o.reshape(x, (-1, 192)), o.reshape(x, (-1, 192)) * 0.5))[1],
    "segments_cast": lambda o, x: o.saturate_cast(o.transpose(o.segment_sum(
        o.transpose(x[:, 0, 0, :]) * 300.0, np.array([0, 1, 1], "int32"), num_segments=2)), "uint8"),
}


def _graph_model(lib, build):
    x = lib.Input((8, 8, 3), name="x")
    return lib.Model(x, build(lib.ops, x))


@pytest.mark.parametrize("name", list(GRAPHS))
def test_ops_record_keras_nodes(keras, tmp_path, name):
    k_model, lw_model = _graph_model(keras, GRAPHS[name]), _graph_model(layerwise, GRAPHS[name])
    k_types = [type(op).__name__ for op in k_model.operations if type(op).__name__ != "InputLayer"]
    assert k_types == [op.type_name for op in lw_model.operations if op not in lw_model.layers]
    assert lw_model.output_shape == k_model.output_shape
    data = torch.as_tensor(_rng.uniform(0, 1, (2, 8, 8, 3)).astype("float32"))
    expected = _numpy(k_model(data))
    np.testing.assert_allclose(_numpy(lw_model(data)), expected, rtol=1e-4, atol=1e-5)
    lw_model.save(tmp_path / f"{name}.lw")
    loaded = layerwise.models.load_model(tmp_path / f"{name}.lw")
    np.testing.assert_allclose(_numpy(loaded.predict(data.numpy(), verbose=0)), expected, rtol=1e-4, atol=1e-5)


def test_function_taking_ops_refuse_symbolic_tensors():
    x = layerwise.Input((4,))
    for call in (lambda: ops.map(lambda v: v, x), lambda: ops.scan(lambda c, v: (c, v), x, x),
                 lambda: ops.while_loop(lambda v: True, lambda v: v, x), lambda: ops.vectorized_map(lambda v: v, x)):
        with pytest.raises(TypeError, match="inside a layer's call"):
            call()


@pytest.mark.parametrize("call, message", [
    (lambda: ops.image.resize(IMG, (4,)), r"size must be \(height, width\)"),
    (lambda: ops.image.resize(IMG, (4, 4), interpolation="lanczos3"), r"Lanczos is not supported"),
    (lambda: ops.image.resize(IMG, (4, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "only one of"),
    (lambda: ops.image.resize(IMG[0, 0], (4, 4)), r"rank 3 or 4 .*images\.shape=\(9, 3\)"),
    (lambda: ops.image.rgb_to_hsv(U8), r"must be floating point"),
    (lambda: ops.image.rgb_to_grayscale(IMG[..., :2]), r"1 or 3 channels"),
    (lambda: ops.image.affine_transform(IMG, SHEAR[:6]), r"transform must be \(8,\) or \(batch, 8\)"),
    (lambda: ops.image.affine_transform(IMG, SHEAR, fill_mode="edge"), r"fill_mode must be one of"),
    (lambda: ops.image.affine_transform(IMG, SHEAR, interpolation="bicubic"), r"interpolation must be one of"),
    (lambda: ops.image.extract_patches(IMG, (2, 2, 2, 2)), r"size must be an int or a tuple of 2"),
    (lambda: ops.image.extract_patches(IMG, 2, padding="full"), r"padding must be one of"),
    (lambda: ops.image.extract_patches_3d(VOL, (2, 2)), r"size and strides must be ints or tuples of 3"),
    (lambda: ops.image.map_coordinates(GRID, COORDS[:1], 1), r"coordinates must be \(inputs\.ndim, \.\.\.\)"),
    (lambda: ops.image.map_coordinates(GRID, COORDS, 3), r"order must be 0 \(nearest\) or 1"),
    (lambda: ops.image.crop_images(IMG, 1, 1), r"give exactly two of top_cropping"),
    (lambda: ops.image.crop_images(IMG, 5, 0, target_height=4, target_width=9), r"bottom_cropping would be -2"),
    (lambda: ops.image.pad_images(IMG, -1, 0, 1, 1), r"top_padding must be >= 0"),
    (lambda: ops.image.perspective_transform(IMG, START[:3], END[0]), r"start_points must be \(4, 2\)"),
    (lambda: ops.image.gaussian_blur(IMG, kernel_size=3), r"kernel_size must be two positive integers"),
    (lambda: ops.image.sobel_edges(IMG[0]), r"rank 4"),
    (lambda: ops.image.ssim(IMG, IMG[:1]), r"same shape"),
    (lambda: ops.image.scale_and_translate(GRID, (4, 4), [1.0], [0.0], (0, 1), "linear"), r"one value per spatial"),
    (lambda: ops.image.scale_and_translate(GRID, (4, 4), [1, 1], [0, 0], (0, 1), "area"), r"method must be one of"),
    (lambda: ops.image.resize(IMG, (4, 4), data_format="NHWC"), r"data_format must be"),
    (lambda: ops.fft(RE), r"tuple \(real, imag\)"),
    (lambda: ops.fft((RE, IM[:1])), r"same shape"),
    (lambda: ops.fft2((RE[0, 0], IM[0, 0])), r"rank >= 2"),
    (lambda: ops.irfft((RE.astype("int32"), IM)), r"floating"),
    (lambda: ops.stft(SIGNAL, 8, 0, 8), r"sequence_stride must be a positive integer"),
    (lambda: ops.stft(SIGNAL, 8, 4, 4), r"fft_length must be at least sequence_length"),
    (lambda: ops.stft(SIGNAL, 8, 4, 8, window="blackman"), r"must be one of \['hamming', 'hann'\]"),
    (lambda: ops.stft(SIGNAL, 8, 4, 8, window=np.ones(5)), r"window must have shape \(8,\)"),
    (lambda: ops.view_as_complex(RE), r"last axis of x must have size 2"),
    (lambda: ops.segment_sum(DATA, IDS[:4]), r"one id per row"),
    (lambda: ops.segment_max(DATA, IDS.reshape(2, 3)), r"segment_ids must be 1-D"),
    (lambda: ops.slice_update(np.zeros((3, 3)), (2, 2), np.ones((2, 2))), r"must fit inside inputs"),
    (lambda: ops.scatter_update(np.zeros((3, 3)), [[0]], np.ones((1, 3)), reduction="avg"), r"reduction must be"),
    (lambda: ops.scan(lambda c, v: (c, v), 0.0), r"give xs to scan over, or length"),
    (lambda: ops.scan(lambda c, v: (c, v), 0.0, length=2, unroll=0), r"unroll must be a positive integer"),
    (lambda: ops.associative_scan(lambda a, b: a + b, (RE, IM[:1])), r"same length along axis 0"),
    (lambda: ops.vectorize(3), r"pyfunc must be callable"),
    (lambda: ops.vectorize(lambda a: a, signature="(n)")(RE), r"signature must look like"),
    (lambda: ops.custom_gradient(lambda v: v)(torch.ones(2)), r"must return \(output, grad_fn\)"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kernel_size", [(4, 4), (2, 6), (5, 3)])
def test_gaussian_blur_keeps_the_size_with_even_kernels_as_jax(kernel_size):
    # JAX's "SAME" zero padding, one more after than before for an even kernel (layerwise shrank the image, Keras'
    # torch backend grows it); compared with that computation written out in NumPy
    image = np.random.default_rng(0).random((7, 9, 3))

    def kernel(size, sigma):
        offsets = np.arange(size) - (size - 1) / 2
        weights = np.exp(-offsets ** 2 / (2 * sigma ** 2))
        return weights / weights.sum()

    width, height = kernel_size
    window = np.outer(kernel(height, 0.8), kernel(width, 1.3))
    padded = np.pad(image, (((height - 1) // 2, height // 2), ((width - 1) // 2, width // 2), (0, 0)))
    expected = np.stack([np.einsum("hw,hwc->c", window, padded[i:i + height, j:j + width])
                         for i in range(7) for j in range(9)]).reshape(7, 9, 3)
    got = ops.image.gaussian_blur(torch.tensor(image), kernel_size=kernel_size, sigma=(1.3, 0.8),
                                  data_format="channels_last")
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-7)
