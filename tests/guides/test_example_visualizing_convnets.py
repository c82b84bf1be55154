"""keras-io example "Visualizing what convnets learn" (examples/vision/visualizing_what_convnets_learn.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend): a feature extractor from ``ResNet50V2`` to its layer
``conv3_block4_out`` (``keras.Model(inputs=model.inputs, outputs=layer.output)``), the loss (a filter's mean
activation away from the border), its gradient with respect to the input image, the L2-normalised gradient ascent
on the image, the gray noisy starting image, ``deprocess_image`` and the stitched grid of filter pictures.

What changed to run it here: ImageNet's weights cannot be downloaded, so ``ResNet50V2(weights=None,
include_top=False)`` gets the same random weights in both libraries (Keras' initial kernels, batch norm statistics
and biases moved away from their initial values); the images are 128 x 128 (the example: 180 x 180; the target
layer's grid is then 8 x 8, 4 x 4 once the border is left out), with a 25-pixel crop as in the example. The
example's ``tf.GradientTape`` becomes torch autograd as Keras' torch backend users write it (the image made a leaf
with ``requires_grad_``, then ``torch.autograd.grad``; ``loss.backward()`` gives the same gradient), without
``@tf.function``; ``tf.math.l2_normalize`` is ``ops.normalize(grads, axis=None)``, ``tf.reduce_mean`` ``ops.mean``,
``tf.random.uniform`` ``keras.random.uniform``, ``.numpy()`` ``ops.convert_to_numpy``. ``visualize_filter`` takes
the number of iterations (the example: 30; here 2 or 3) and may be handed the starting image, so that both
libraries start from the same one; the grid is 2 x 2 filters (the example: 8 x 8). IPython's ``display`` is left
out; the pictures are saved with ``keras.utils.save_img`` (the example: ``keras.preprocessing.image.save_img``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

import layerwise
from layerwise.backend import clear_session

# The dimensions of our input image (the example: 180 x 180).
img_width = 128
img_height = 128
# Our target layer: we will visualize the filters from this layer.
layer_name = "conv3_block4_out"
grid = (8, 8)  # conv3_block4_out's height and width at 128 x 128


def fresh(lib) -> None:
    """guide_helpers.fresh (layer names start again) without its garbage collection, over a second each here."""
    (clear_session if lib is layerwise else lib.utils.clear_session)(free_memory=False)


def feature_extraction_model(keras):
    """The example's feature extraction model (``weights=None`` in place of ``"imagenet"``)."""
    fresh(keras)
    # Build a ResNet50V2 model (the example loads ImageNet's weights)
    model = keras.applications.ResNet50V2(weights=None, include_top=False)

    # Set up a model that returns the activation values for our target layer
    layer = model.get_layer(name=layer_name)
    feature_extractor = keras.Model(inputs=model.inputs, outputs=layer.output)
    return model, feature_extractor


def gradient_ascent_listing(keras, ops, feature_extractor):
    """The example's ``compute_loss``, ``gradient_ascent_step``, ``initialize_image``, ``visualize_filter`` and
    ``deprocess_image``, the tape written with torch autograd."""

    def compute_loss(input_image, filter_index):
        activation = feature_extractor(input_image)
        # We avoid border artifacts by only involving non-border pixels in the loss.
        filter_activation = activation[:, 2:-2, 2:-2, filter_index]
        return ops.mean(filter_activation)

    def gradient_ascent_step(img, filter_index, learning_rate):
        img = ops.convert_to_tensor(img).detach().requires_grad_(True)  # tape.watch(img)
        loss = compute_loss(img, filter_index)
        # Compute gradients.
        (grads,) = torch.autograd.grad(loss, img)  # tape.gradient(loss, img)
        # Normalize gradients.
        grads = ops.normalize(grads, axis=None)  # tf.math.l2_normalize(grads)
        img = img.detach() + learning_rate * grads
        return loss.detach(), img

    def initialize_image():
        # We start from a gray image with some random noise
        img = keras.random.uniform((1, img_width, img_height, 3))
        # ResNet50V2 expects inputs in the range [-1, +1].
        # Here we scale our random inputs to [-0.125, +0.125]
        return (img - 0.5) * 0.25

    def visualize_filter(filter_index, iterations=30, img=None):
        # We run gradient ascent for `iterations` steps (the example: 30)
        learning_rate = 10.0
        img = initialize_image() if img is None else img
        for iteration in range(iterations):
            loss, img = gradient_ascent_step(img, filter_index, learning_rate)

        # Decode the resulting input image
        img = deprocess_image(ops.convert_to_numpy(img[0]))
        return loss, img

    def deprocess_image(img):
        # Normalize array: center on 0., ensure variance is 0.15
        img -= img.mean()
        img /= img.std() + 1e-5
        img *= 0.15

        # Center crop
        img = img[25:-25, 25:-25, :]

        # Clip to [0, 1]
        img += 0.5
        img = np.clip(img, 0, 1)

        # Convert to RGB array
        img *= 255
        img = np.clip(img, 0, 255).astype("uint8")
        return img

    return compute_loss, gradient_ascent_step, initialize_image, visualize_filter, deprocess_image


def pretend_pretrained(model, rng):
    """Keras' initial kernels, with the batch norm statistics and the biases moved away from their initial values
    (ones, zeros), so that every part of the layers' arithmetic shows in the comparison."""
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, moving mean, moving variance
            shape = weights[0].shape
            weights = [rng.uniform(0.8, 1.2, shape), rng.normal(0, 0.1, shape), rng.normal(0, 0.1, shape),
                       rng.uniform(0.8, 1.2, shape)]
        elif type(layer).__name__ == "Conv2D" and len(weights) == 2:
            weights = [weights[0], rng.normal(0, 0.05, weights[1].shape)]
        else:
            continue
        layer.set_weights([w.astype("float32") for w in weights])


@pytest.fixture(scope="module")
def extractors(real_keras):
    """``(model, feature_extractor)`` for layerwise and for Keras, with the same weights."""
    real_keras.utils.set_random_seed(0)  # the same initial kernels at each run
    (ours, ours_fe), (theirs, theirs_fe) = [feature_extraction_model(keras) for keras, _, _ in libraries(real_keras)]
    pretend_pretrained(theirs, np.random.default_rng(0))
    ours.set_weights(theirs.get_weights())
    return (ours, ours_fe), (theirs, theirs_fe)


def start_image(seed):
    """A starting image as ``initialize_image`` makes it, drawn with numpy so that both libraries share it."""
    img = np.random.default_rng(seed).uniform(size=(1, img_width, img_height, 3)).astype("float32")
    return (img - 0.5) * 0.25


def test_the_feature_extractor_matches_keras(extractors):
    (model, feature_extractor), (k_model, k_feature_extractor) = extractors
    assert [layer.name for layer in model.layers] == [layer.name for layer in k_model.layers]
    assert model.count_params() == k_model.count_params() == 23_564_800
    assert summary_rows(feature_extractor) == summary_rows(k_feature_extractor)
    assert tuple(feature_extractor.output.shape) == tuple(k_feature_extractor.output.shape) == (None, None, None, 512)
    x = start_image(1) * 8  # within ResNet50V2's [-1, 1]
    activation, k_activation = as_numpy(feature_extractor(x)), as_numpy(k_feature_extractor(x))
    assert activation.shape == (1,) + grid + (512,)
    assert_close(activation, k_activation, rtol=1e-4, atol=1e-5)
    assert activation.std() > 0.1  # not a dead network


def test_the_loss_and_its_gradient_match_keras(real_keras, extractors):
    img = start_image(2)
    for filter_index in (0, 5):
        results = []
        for (keras, _, ops), (_, feature_extractor) in zip(libraries(real_keras), extractors):
            compute_loss = gradient_ascent_listing(keras, ops, feature_extractor)[0]
            image = torch.tensor(img).requires_grad_(True)
            loss = compute_loss(image, filter_index)
            (grads,) = torch.autograd.grad(loss, image)
            # The same gradient with backward(), into image.grad.
            image = torch.tensor(img).requires_grad_(True)
            compute_loss(image, filter_index).backward()
            assert_close(image.grad, grads, what=keras.__name__)
            results.append((float(loss.detach()), grads.numpy()))
        (loss, grads), (k_loss, k_grads) = results
        assert loss == pytest.approx(k_loss, rel=1e-4, abs=1e-6)
        # float32 sums through the depth: an element that nearly cancels may differ by ~1e-7 of the largest.
        assert_close(grads, k_grads, rtol=1e-3, atol=1e-5 * np.abs(k_grads).max(), what=f"filter {filter_index}")
        assert grads.shape == img.shape and np.abs(grads).max() > 0


def test_the_gradient_is_the_loss_s_slope(real_keras, extractors):
    # Not in the example: the gradient checked against the loss itself, a central difference along it.
    keras, _, ops = libraries(real_keras)[0]
    compute_loss = gradient_ascent_listing(keras, ops, extractors[0][1])[0]
    img = torch.tensor(start_image(3)).requires_grad_(True)
    (grads,) = torch.autograd.grad(compute_loss(img, 1), img)
    norm = float(grads.norm())
    direction, eps = grads / norm, 0.005  # each pixel moves by about eps / 220
    with torch.no_grad():
        slope = (float(compute_loss(img + eps * direction, 1)) - float(compute_loss(img - eps * direction, 1))) / (
            2 * eps)
    assert slope == pytest.approx(norm, rel=0.01)  # within 0.1% here; relu kinks bend it further away


def test_the_gradient_normalisation_is_tensorflow_s_l2_normalize(real_keras):
    grads = np.random.default_rng(4).normal(0, 1e-3, (1, 6, 6, 3)).astype("float32")
    expected = grads / np.sqrt(max((grads.astype("float64") ** 2).sum(), 1e-12))  # tf.math.l2_normalize
    for _, _, ops in libraries(real_keras):
        normalized = as_numpy(ops.normalize(grads, axis=None))
        assert_close(normalized, expected, rtol=1e-5, atol=1e-7)
        assert np.linalg.norm(normalized) == pytest.approx(1.0, rel=1e-5)


def test_gradient_ascent_steps_match_keras(real_keras, extractors):
    runs = []
    for (keras, _, ops), (_, feature_extractor) in zip(libraries(real_keras), extractors):
        gradient_ascent_step = gradient_ascent_listing(keras, ops, feature_extractor)[1]
        img, losses, images = start_image(5), [], []
        for _ in range(3):
            loss, img = gradient_ascent_step(img, 3, 10.0)
            losses.append(float(loss))
            images.append(as_numpy(img))
        runs.append((losses, images))
    (losses, images), (k_losses, k_images) = runs
    assert_close(losses, k_losses, rtol=1e-4, atol=1e-6)
    for step, (image, k_image) in enumerate(zip(images, k_images)):
        assert_close(image, k_image, rtol=1e-4, atol=1e-5, what=f"step {step}")
    # Each step moves the image by the learning rate (a unit gradient), and the filter's activation grows.
    assert np.linalg.norm(images[0] - start_image(5)) == pytest.approx(10.0, rel=1e-4)
    assert np.linalg.norm(images[2] - images[1]) == pytest.approx(10.0, rel=1e-4)
    assert losses[0] < losses[1] < losses[2]


def test_initialize_image_as_in_keras(real_keras, extractors):
    for (keras, _, ops), (_, feature_extractor) in zip(libraries(real_keras), extractors):
        initialize_image = gradient_ascent_listing(keras, ops, feature_extractor)[2]
        first, second = as_numpy(initialize_image()), as_numpy(initialize_image())
        assert first.shape == (1, img_width, img_height, 3) and first.dtype == np.float32, keras.__name__
        assert -0.125 <= first.min() and first.max() <= 0.125
        assert abs(first.mean()) < 0.005 and first.std() == pytest.approx(0.25 / np.sqrt(12), rel=0.03)
        assert not np.allclose(first, second)  # fresh noise at each call


def test_visualize_filter_matches_keras(real_keras, extractors):
    results = []
    for (keras, _, ops), (_, feature_extractor) in zip(libraries(real_keras), extractors):
        visualize_filter = gradient_ascent_listing(keras, ops, feature_extractor)[3]
        results.append(visualize_filter(0, iterations=3, img=start_image(6)))
    (loss, img), (k_loss, k_img) = results
    assert float(loss) == pytest.approx(float(k_loss), rel=1e-4, abs=1e-6)
    assert img.dtype == k_img.dtype == np.uint8
    assert img.shape == k_img.shape == (img_width - 50, img_height - 50, 3)  # the 25-pixel crop
    # uint8 pixels: a value that rounds the other way moves a pixel by one level.
    assert np.abs(img.astype("int16") - k_img.astype("int16")).max() <= 1
    assert img.std() > 10  # a picture, not a flat gray


def test_deprocess_image_as_in_the_example(real_keras, extractors):
    keras, _, ops = libraries(real_keras)[0]
    deprocess_image = gradient_ascent_listing(keras, ops, extractors[0][1])[4]
    img = np.random.default_rng(7).normal(3.0, 2.0, (img_width, img_height, 3)).astype("float32")
    out = deprocess_image(img.copy())
    centred = (img - img.mean()) / (img.std() + 1e-5) * 0.15 + 0.5
    expected = (np.clip(centred[25:-25, 25:-25], 0, 1) * 255).astype("uint8")
    assert out.shape == (78, 78, 3) and out.dtype == np.uint8
    assert np.abs(out.astype("int16") - expected).max() <= 1
    assert abs(out.mean() - 127.5) < 2  # centred on gray


def test_the_stitched_filters_picture(real_keras, extractors, tmp_path):
    keras, _, ops = libraries(real_keras)[0]
    visualize_filter = gradient_ascent_listing(keras, ops, extractors[0][1])[3]
    # Compute image inputs that maximize per-filter activations for the first n * n filters (the example: 64).
    n = 2
    all_imgs = []
    for filter_index in range(n * n):
        loss, img = visualize_filter(filter_index, iterations=2)
        all_imgs.append(img)

    # Build a black picture with enough space for our n x n filters, with a 5px margin in between
    margin = 5
    cropped_width = img_width - 25 * 2
    cropped_height = img_height - 25 * 2
    width = n * cropped_width + (n - 1) * margin
    height = n * cropped_height + (n - 1) * margin
    stitched_filters = np.zeros((width, height, 3))

    # Fill the picture with our saved filters
    for i in range(n):
        for j in range(n):
            img = all_imgs[i * n + j]
            stitched_filters[
                (cropped_width + margin) * i : (cropped_width + margin) * i + cropped_width,
                (cropped_height + margin) * j : (cropped_height + margin) * j + cropped_height,
                :,
            ] = img
    assert stitched_filters.shape == (161, 161, 3)
    assert not np.array_equal(all_imgs[0], all_imgs[1])  # each filter its own picture
    saved = []
    for lib, _, _ in libraries(real_keras):
        path = tmp_path / f"stiched_filters_{lib.__name__}.png"
        lib.utils.save_img(path, stitched_filters)
        saved.append(np.asarray(lib.utils.load_img(path), dtype="float32"))
    assert saved[0].shape == (161, 161, 3)
    assert_close(saved[0], saved[1])
    assert_close(saved[0][:cropped_width, :cropped_height], all_imgs[0])
    assert not saved[0][cropped_width:cropped_width + margin].any()  # the black margin
