"""keras-io example "Grad-CAM class activation visualization" (examples/vision/grad_cam.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend). The example explains ImageNet's Xception from
``keras.applications``, which layerwise lacks (the first test); a small classifier stands in for it, built like
Xception's top: a separable conv block ending in the activation layer named ``block14_sepconv2_act``, global
average pooling and a softmax ``predictions`` layer. Its ``make_gradcam_heatmap`` runs as the example writes it
(a Model from the input to [the last conv layer's output, the predictions], the class score's gradient with respect
to the conv output, pooled per channel, the weighted feature map, ReLU and normalisation) with TensorFlow's
GradientTape replaced by ``torch.autograd.grad``, as Keras' torch backend allows, and ``tf`` ops by ``keras.ops``.
The images do not come from the network: random pictures are written to ``tmp_path`` and loaded with
``keras.utils.load_img``; IPython's ``display`` and matplotlib (``plt.matshow``, the "jet" colour map) are left
out, a fixed colour table standing in for the colour map."""
from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

img_size = (64, 64)  # Xception takes 299 x 299 images
last_conv_layer_name = "block14_sepconv2_act"


def small_xception(keras, layers, ops):
    """The stand-in for ``keras.applications.xception.Xception(weights="imagenet")`` (10 classes, not 1000)."""
    fresh(keras)
    inputs = keras.Input(shape=img_size + (3,))
    x = layers.Conv2D(8, 3, strides=2, use_bias=False, name="block1_conv1")(inputs)
    x = layers.BatchNormalization(name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="block14_sepconv2")(x)
    x = layers.BatchNormalization(name="block14_sepconv2_bn")(x)
    x = layers.Activation("relu", name=last_conv_layer_name)(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="xception")


def preprocess_input(x):
    """Xception's preprocessing (keras.applications.xception.preprocess_input): pixels to [-1, 1]."""
    return x / 127.5 - 1.0


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


def same_models(real_keras):
    ours, theirs = [small_xception(*lib) for lib in libraries(real_keras)]
    # Random moving statistics and weights, so that the pretend "pretrained" model is not at its initial state.
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.3, w.shape).astype(w.dtype) if "variance" not in str(getattr(v, "path", ""))
               else np.abs(w + rng.normal(0, 0.3, w.shape)).astype(w.dtype)
               for w, v in zip(theirs.get_weights(), theirs.weights)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def remove_softmax(keras, model):
    # The example writes model.layers[-1].activation = None, which layerwise fails to run (the xfail below);
    # the linear activation is the same function.
    model.layers[-1].activation = keras.activations.linear


@pytest.mark.xfail(strict=True, reason="layerwise lacks: keras.applications (Xception, preprocess_input, "
                                       "decode_predictions)")
def test_the_example_s_xception_preprocessing(real_keras):
    x = np.random.default_rng(1).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    results = [as_numpy(keras.applications.xception.preprocess_input(x.copy())) for keras, _, _ in
               libraries(real_keras)]
    assert_close(results[0], results[1])
    assert_close(results[1], preprocess_input(x))


def test_the_stand_in_classifier_matches_keras(real_keras):
    ours, theirs = same_models(real_keras)
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.get_layer(last_conv_layer_name).name == theirs.get_layer(last_conv_layer_name).name
    x = preprocess_input(np.random.default_rng(2).uniform(0, 255, (3,) + img_size + (3,)).astype("float32"))
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_removing_the_softmax_as_the_example_does(real_keras):
    ours, theirs = same_models(real_keras)
    x = preprocess_input(np.random.default_rng(3).uniform(0, 255, (2,) + img_size + (3,)).astype("float32"))
    for model in (ours, theirs):
        model.layers[-1].activation = None
    preds = [m.predict(x, verbose=0) for m in (ours, theirs)]
    assert_close(preds[0], preds[1], rtol=1e-4, atol=1e-6)


def test_without_the_softmax_the_predictions_are_keras_logits(real_keras):
    ours, theirs = same_models(real_keras)
    x = preprocess_input(np.random.default_rng(4).uniform(0, 255, (2,) + img_size + (3,)).astype("float32"))
    probabilities = ours.predict(x, verbose=0)
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        remove_softmax(keras, model)
    logits = [m.predict(x, verbose=0) for m in (ours, theirs)]
    assert_close(logits[0], logits[1], rtol=1e-4, atol=1e-6)
    softmax = np.exp(logits[0]) / np.exp(logits[0]).sum(axis=1, keepdims=True)
    assert_close(softmax, probabilities, rtol=1e-4, atol=1e-6)


def test_grad_cam_heatmaps_match_keras(real_keras, tmp_path):
    ours, theirs = same_models(real_keras)
    img_path = write_picture(tmp_path / "african_elephant.png", (96, 128), seed=5)
    heatmaps = []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        get_img_array, make_gradcam_heatmap, _ = gradcam_functions(keras, ops)
        img_array = preprocess_input(get_img_array(img_path, size=img_size))
        assert img_array.shape == (1,) + img_size + (3,) and img_array.dtype == np.float32
        remove_softmax(keras, model)
        preds = model.predict(img_array, verbose=0)
        top = int(np.argmax(preds[0]))
        heatmaps.append([make_gradcam_heatmap(img_array, model, last_conv_layer_name),  # the top class
                         make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=top),
                         make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=(top + 1) % 10)])
    for got, expected in zip(*heatmaps):
        assert got.shape == expected.shape == (31, 31)  # the last conv layer's grid
        assert_close(got, expected, rtol=1e-4, atol=1e-5)
        assert got.min() >= 0 and got.max() == pytest.approx(1.0)
    assert_close(heatmaps[0][0], heatmaps[0][1])  # pred_index=None explains the top class
    assert not np.allclose(heatmaps[0][1], heatmaps[0][2])


def test_the_heatmap_is_the_gradient_weighted_feature_map(real_keras):
    # The heatmap computed again by hand in numpy, from the conv output and the dense layer's weights: the
    # class score is a linear function of the pooled features, so its gradient is kernel[:, c] / (31 * 31).
    ours, _ = same_models(real_keras)
    keras, _, ops = libraries(real_keras)[0]
    remove_softmax(keras, ours)
    x = preprocess_input(np.random.default_rng(6).uniform(0, 255, (1,) + img_size + (3,)).astype("float32"))
    heatmap = gradcam_functions(keras, ops)[1](x, ours, last_conv_layer_name, pred_index=4)
    feature_model = keras.Model(ours.input, ours.get_layer(last_conv_layer_name).output)
    features = as_numpy(feature_model(x))[0]
    kernel = ours.layers[-1].get_weights()[0]  # Keras' layout (16, 10)
    expected = features @ (kernel[:, 4] / (31 * 31))
    expected = np.maximum(expected, 0) / expected.max()
    assert_close(heatmap, expected, rtol=1e-4, atol=1e-5)


def test_the_superimposed_picture_matches_keras(real_keras, tmp_path):
    ours, theirs = same_models(real_keras)
    img_path = write_picture(tmp_path / "cat_and_dog.png", (80, 112), seed=7)
    pictures = []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        get_img_array, make_gradcam_heatmap, save_and_display_gradcam = gradcam_functions(keras, ops)
        remove_softmax(keras, model)
        img_array = preprocess_input(get_img_array(img_path, size=img_size))
        heatmap = make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=2)
        cam_path = tmp_path / f"cam_{keras.__name__}.jpg"
        superimposed = save_and_display_gradcam(img_path, heatmap, cam_path, jet_like_colors())
        assert superimposed.size == (112, 80) and cam_path.exists()
        pictures.append(np.asarray(superimposed, dtype="float32"))
    # uint8 pixels: a heatmap value that rounds the other way moves a pixel by one or two levels.
    assert np.abs(pictures[0] - pictures[1]).max() <= 2
