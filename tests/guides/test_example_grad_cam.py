"""keras-io example "Grad-CAM class activation visualization" (examples/vision/grad_cam.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend). The example explains ImageNet's Xception from
``keras.applications.xception`` (``Xception``, ``preprocess_input``, ``decode_predictions``), which runs in both
libraries; ImageNet's weights cannot be downloaded, so ``model_builder(weights=None)`` gets the same random
weights in both libraries (``pretend_pretrained``), at 128 x 128 (the example: 299 x 299, 5 times the work): the
last conv layer ``block14_sepconv2_act`` is then a 4 x 4 grid. ``decode_predictions`` reads a made-up
class index (ImageNet's is a download). ``make_gradcam_heatmap`` runs as the example writes it (a Model from the
input to [the last conv layer's output, the predictions], the class score's gradient with respect to the conv
output, pooled per channel, the weighted feature map, ReLU and normalisation) with TensorFlow's GradientTape
replaced by ``torch.autograd.grad``, as Keras' torch backend allows, and ``tf`` ops by ``keras.ops``. The images
do not come from the network: random pictures are written to ``tmp_path`` and loaded with ``keras.utils.load_img``;
IPython's ``display`` and matplotlib (``plt.matshow``, the "jet" colour map) are left out, a fixed colour table
standing in for the colour map."""
from __future__ import annotations


import numpy as np
import PIL.Image
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

img_size = (128, 128)  # the example: (299, 299)
last_conv_layer_name = "block14_sepconv2_act"
grid = (4, 4)  # block14_sepconv2_act's height and width at img_size


def configurable_parameters(keras):
    """The example's ``model_builder``, ``preprocess_input`` and ``decode_predictions``."""
    return (keras.applications.xception.Xception, keras.applications.xception.preprocess_input,
            keras.applications.xception.decode_predictions)


def preprocess_input(x):
    """Xception's preprocessing, the same in both libraries (the first test): pixels to [-1, 1]."""
    return configurable_parameters(layerwise)[1](x)


def gradcam_functions(keras, ops):
    def get_img_array(img_path, size):
        img = keras.utils.load_img(img_path, target_size=size)  # a PIL image of the given size
        array = keras.utils.img_to_array(img)  # float32, (height, width, 3)
        array = np.expand_dims(array, axis=0)  # a batch of one
        return array

    def make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
        # A model from the image to the last conv layer's activations and the predictions.
        grad_model = keras.models.Model(model.input, [model.get_layer(last_conv_layer_name).output, model.output])
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = ops.argmax(preds[0])
        class_channel = preds[:, pred_index]
        # The class score's gradient with respect to the conv layer's output (tape.gradient in the example).
        (grads,) = torch.autograd.grad(ops.sum(class_channel), last_conv_layer_output)
        # Each channel's mean gradient: how much the channel matters to the class.
        pooled_grads = ops.mean(grads, axis=(0, 1, 2))
        # The feature maps weighted by those means and summed over channels.
        last_conv_layer_output = last_conv_layer_output[0]
        heatmap = last_conv_layer_output @ pooled_grads[..., None]
        heatmap = ops.squeeze(heatmap)
        # Between 0 and 1, for display.
        heatmap = ops.maximum(heatmap, 0) / ops.max(heatmap)
        return heatmap.detach().cpu().numpy()

    def save_and_display_gradcam(img_path, heatmap, cam_path, jet_colors, alpha=0.4):
        img = keras.utils.load_img(img_path)
        img = keras.utils.img_to_array(img)
        heatmap = np.uint8(255 * heatmap)  # 0-255
        jet_heatmap = jet_colors[heatmap]  # an RGB colour per heatmap value (matplotlib's jet in the example)
        jet_heatmap = keras.utils.array_to_img(jet_heatmap)
        jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]))
        jet_heatmap = keras.utils.img_to_array(jet_heatmap)
        superimposed_img = jet_heatmap * alpha + img
        superimposed_img = keras.utils.array_to_img(superimposed_img)
        superimposed_img.save(cam_path)  # the example then displays it with IPython
        return superimposed_img

    return get_img_array, make_gradcam_heatmap, save_and_display_gradcam


def jet_like_colors():
    """A 256 x 3 colour table in [0, 1], standing in for ``mpl.colormaps["jet"](np.arange(256))[:, :3]``."""
    t = np.linspace(0, 1, 256)
    return np.stack([np.clip(1.5 - abs(4 * t - 3), 0, 1), np.clip(1.5 - abs(4 * t - 2), 0, 1),
                     np.clip(1.5 - abs(4 * t - 1), 0, 1)], axis=1)


def write_picture(path, size, seed):
    """A smooth random RGB picture (in place of the example's downloaded photos), saved as a PNG."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (8, 8, 3))
    picture = np.kron(small, np.ones((size[0] // 8, size[1] // 8, 1)))
    PIL.Image.fromarray(picture.astype("uint8")).save(path)
    return path


def pretend_pretrained(model, rng):
    """Random weights that keep the features of order one through the depth (He-scaled kernels; Keras' own make
    them vanish) and vary over the picture, batch norm away from its initial state, and a classifier without bias
    whose logits stay of order ten: the best classes' scores, sums over the grid, are positive, and so are their
    heatmaps somewhere."""
    for layer in model.layers:
        shapes = [w.shape for w in layer.get_weights()]
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            new = [rng.uniform(0.8, 1.2, shapes[0]), rng.normal(0, 0.1, shapes[1]), rng.normal(0, 0.1, shapes[2]),
                   rng.uniform(0.8, 1.2, shapes[3])]
        elif kind == "SeparableConv2D":  # depthwise (3, 3, c, 1), pointwise (1, 1, c, filters)
            new = [rng.normal(0, np.sqrt(1 / 9), shapes[0]), rng.normal(0, np.sqrt(2 / shapes[1][2]), shapes[1])]
        elif kind == "Conv2D":
            new = [rng.normal(0, np.sqrt(2 / np.prod(shapes[0][:3])), shapes[0])]
        elif kind == "Dense":
            new = [rng.normal(0, 0.002, shapes[0]), np.zeros(shapes[1])]
        else:
            continue
        layer.set_weights([w.astype("float32") for w in new])


@pytest.fixture(scope="module")
def xceptions(real_keras):
    """``model_builder(weights=None)`` (the example: ``weights="imagenet"``) at img_size in both libraries, with
    the same pretend "pretrained" weights."""
    models = []
    for keras, _, _ in libraries(real_keras):
        fresh(keras)
        model_builder = configurable_parameters(keras)[0]
        models.append(model_builder(weights=None, input_shape=img_size + (3,)))
    ours, theirs = models
    pretend_pretrained(theirs, np.random.default_rng(0))
    ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.fixture
def models(xceptions, real_keras):
    """The module's ``(ours, theirs)``, the classifier's softmax given back after each test (the example removes
    it)."""
    yield xceptions
    for (keras, _, _), model in zip(libraries(real_keras), xceptions):
        model.layers[-1].activation = keras.activations.get("softmax")


def test_the_example_s_xception_preprocessing(real_keras):
    x = np.random.default_rng(1).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    results = [as_numpy(configurable_parameters(keras)[1](x.copy())) for keras, _, _ in libraries(real_keras)]
    assert_close(results[0], results[1])
    assert_close(results[1], x / 127.5 - 1.0)


def test_the_example_s_xception_matches_keras(models):
    ours, theirs = models
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params() == 22_910_480
    assert tuple(ours.get_layer(last_conv_layer_name).output.shape) == (None,) + grid + (2048,)
    x = preprocess_input(np.random.default_rng(2).uniform(0, 255, (3,) + img_size + (3,)).astype("float32"))
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_without_the_softmax_the_predictions_are_keras_logits(models):
    ours, theirs = models
    x = preprocess_input(np.random.default_rng(4).uniform(0, 255, (2,) + img_size + (3,)).astype("float32"))
    probabilities = ours.predict(x, verbose=0)
    for model in (ours, theirs):
        model.layers[-1].activation = None  # the example's "remove last layer's softmax"
    logits = [m.predict(x, verbose=0) for m in (ours, theirs)]
    assert_close(logits[0], logits[1], rtol=1e-4, atol=1e-4)  # float32 sums through the depth, logits up to ~30
    softmax = np.exp(logits[0]) / np.exp(logits[0]).sum(axis=1, keepdims=True)
    assert_close(softmax, probabilities, rtol=1e-4, atol=1e-6)


def test_grad_cam_heatmaps_match_keras(real_keras, models, tmp_path, class_index):
    ours, theirs = models
    img_path = write_picture(tmp_path / "african_elephant.png", (96, 128), seed=5)
    heatmaps, predicted = [], []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        _, preprocess_input, decode_predictions = configurable_parameters(keras)
        get_img_array, make_gradcam_heatmap, _ = gradcam_functions(keras, ops)
        img_array = preprocess_input(get_img_array(img_path, size=img_size))
        assert img_array.shape == (1,) + img_size + (3,) and img_array.dtype == np.float32
        model.layers[-1].activation = None
        preds = model.predict(img_array, verbose=0)
        predicted.append(decode_predictions(preds, top=2)[0])  # the example prints top=1, then top=2
        top, second = np.argsort(preds[0])[::-1][:2].tolist()
        assert predicted[-1][0][:2] == tuple(class_index[str(top)])
        heatmaps.append([make_gradcam_heatmap(img_array, model, last_conv_layer_name),  # the top class
                         make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=top),
                         make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=second)])
    assert [p[:2] for p in predicted[0]] == [p[:2] for p in predicted[1]]
    assert_close([p[2] for p in predicted[0]], [p[2] for p in predicted[1]], rtol=1e-4, atol=1e-5)
    for got, expected in zip(*heatmaps):
        assert got.shape == expected.shape == grid  # the last conv layer's grid
        assert_close(got, expected, rtol=1e-4, atol=1e-5)
        assert got.min() >= 0 and got.max() == pytest.approx(1.0)
    assert_close(heatmaps[0][0], heatmaps[0][1])  # pred_index=None explains the top class
    assert not np.allclose(heatmaps[0][1], heatmaps[0][2])


def test_the_heatmap_is_the_gradient_weighted_feature_map(real_keras, models):
    # The heatmap computed again by hand in numpy, from the conv output and the dense layer's weights: the
    # class score is a linear function of the pooled features, so its gradient is kernel[:, c] / (4 * 4).
    ours, _ = models
    keras, _, ops = libraries(real_keras)[0]
    ours.layers[-1].activation = None
    x = preprocess_input(np.random.default_rng(6).uniform(0, 255, (1,) + img_size + (3,)).astype("float32"))
    top = int(np.argmax(ours.predict(x, verbose=0)[0]))
    heatmap = gradcam_functions(keras, ops)[1](x, ours, last_conv_layer_name, pred_index=top)
    feature_model = keras.Model(ours.input, ours.get_layer(last_conv_layer_name).output)
    features = as_numpy(feature_model(x))[0]
    kernel = ours.layers[-1].get_weights()[0]  # Keras' layout (2048, 1000)
    expected = features @ (kernel[:, top] / np.prod(grid))
    expected = np.maximum(expected, 0) / expected.max()
    assert_close(heatmap, expected, rtol=1e-4, atol=1e-5)
    assert heatmap.max() == pytest.approx(1.0)  # the class shows somewhere


def test_the_superimposed_pictures_match_keras(real_keras, models, tmp_path):
    img_path = write_picture(tmp_path / "cat_and_dog.png", (80, 112), seed=7)
    pictures, heatmaps = [], []
    for (keras, _, ops), model in zip(libraries(real_keras), models):
        get_img_array, make_gradcam_heatmap, save_and_display_gradcam = gradcam_functions(keras, ops)
        preprocess_input = configurable_parameters(keras)[1]
        model.layers[-1].activation = None
        img_array = preprocess_input(get_img_array(img_path, size=img_size))
        # The example explains its two top classes ("chow" 260, "egyptian cat" 285 with ImageNet's weights).
        best_two = np.argsort(model.predict(img_array, verbose=0)[0])[::-1][:2].tolist()
        for pred_index in best_two:
            heatmap = make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=pred_index)
            assert heatmap.max() == pytest.approx(1.0)
            heatmaps.append(heatmap)
            cam_path = tmp_path / f"cam_{keras.__name__}_{pred_index}.jpg"
            superimposed = save_and_display_gradcam(img_path, heatmap, cam_path, jet_like_colors())
            assert superimposed.size == (112, 80) and cam_path.exists()
            pictures.append(np.asarray(superimposed, dtype="float32"))
    # uint8 pixels: a heatmap value that rounds the other way moves a pixel by one or two levels.
    assert np.abs(pictures[0] - pictures[2]).max() <= 2 and np.abs(pictures[1] - pictures[3]).max() <= 2
    assert not np.allclose(heatmaps[0], heatmaps[1], atol=0.05)  # two classes, two heatmaps
