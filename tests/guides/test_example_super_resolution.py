"""keras-io example "Image Super-Resolution using an Efficient Sub-Pixel CNN" (examples/vision/
super_resolution_sub_pixel.py) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the ESPCN
model (four "same" convolutions with Orthogonal kernels, then the sub-pixel step, ``tf.nn.depth_to_space`` in the
example, as a ``DepthToSpace`` layer written with ``ops.reshape`` / ``ops.transpose`` and checked against
``ops.depth_to_space`` and TensorFlow's definition), its summary and outputs from the same weights at any image
size, the training with the example's callbacks (``ESPCNCallback``'s PSNR from each validation batch's loss,
``EarlyStopping``, ``ModelCheckpoint`` of the best weights), and the upscaling of a low-resolution picture (PIL's
bicubic resize, YCbCr, ``model.predict``) with its PSNR.

What changed to run it here: BSDS500 is not downloaded; scikit-learn's two bundled photographs (china.jpg,
flower.jpg) give the pictures, cut into 30 x 30 crops (the example: 300 x 300, so the model sees 10 x 10
low-resolution inputs) and small test pictures. The example's TensorFlow preprocessing is written with
``keras.ops``: ``tf.image.rgb_to_yuv`` as a matrix product with TensorFlow's YUV kernel and
``tf.image.resize(method="area")``, which Keras' torch backend does not offer, as the 3 x 3 average it is for an
integer factor (``ops.average_pool``); ``tf.image.psnr`` is ``ops.psnr``. ``image_dataset_from_directory`` returns
a ``tf.data.Dataset`` in Keras, and TensorFlow is not installed, so the example's folder pipeline (``map``,
``take(1)`` to look at a batch, ``prefetch``) runs in layerwise alone, on its own dataset with those tf.data methods,
and the comparisons with Keras feed both libraries the same arrays. matplotlib's ``plot_results`` and
IPython's ``display`` are left out; 3 epochs instead of 100, ``verbose=0`` for ``predict``."""
from __future__ import annotations

import math

import numpy as np
import PIL.Image
import pytest
import torch
from guide_helpers import as_numpy, assert_close, libraries, summary_rows
from sklearn.datasets import load_sample_images

import layerwise
from layerwise.backend import clear_session

crop_size = 30  # the example: 300
upscale_factor = 3
input_size = crop_size // upscale_factor
batch_size = 8

# TensorFlow's tf.image.rgb_to_yuv kernel (Y, U, V columns).
RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                       [0.587, -0.28886916, -0.51496512],
                       [0.114, 0.43601035, -0.10001026]], dtype="float32")


def espcn_listing(keras, layers, ops):
    """The example's preprocessing, ``DepthToSpace`` layer and ``get_model``, written against (keras, layers, ops)."""

    def scaling(input_image):
        input_image = input_image / 255.0
        return input_image

    def rgb_to_yuv(images):  # tf.image.rgb_to_yuv
        return ops.matmul(images, ops.convert_to_tensor(RGB_TO_YUV))

    def process_input(input, input_size, upscale_factor):
        input = rgb_to_yuv(input)
        last_dimension_axis = len(input.shape) - 1
        y, u, v = ops.split(input, 3, axis=last_dimension_axis)
        # tf.image.resize(y, [input_size, input_size], method="area"): the mean of each factor x factor block.
        factor = y.shape[1] // input_size
        return ops.average_pool(y, pool_size=factor, strides=factor, padding="valid")

    def process_target(input):
        input = rgb_to_yuv(input)
        last_dimension_axis = len(input.shape) - 1
        y, u, v = ops.split(input, 3, axis=last_dimension_axis)
        return y

    class DepthToSpace(layers.Layer):
        def __init__(self, block_size):
            super().__init__()
            self.block_size = block_size

        def call(self, input):
            batch, height, width, depth = ops.shape(input)
            depth = depth // (self.block_size**2)
            x = ops.reshape(input, [batch, height, width, self.block_size, self.block_size, depth])
            x = ops.transpose(x, [0, 1, 3, 2, 4, 5])
            x = ops.reshape(x, [batch, height * self.block_size, width * self.block_size, depth])
            return x

    def get_model(upscale_factor=3, channels=1):
        conv_args = {
            "activation": "relu",
            "kernel_initializer": "Orthogonal",
            "padding": "same",
        }
        inputs = keras.Input(shape=(None, None, channels))
        x = layers.Conv2D(64, 5, **conv_args)(inputs)
        x = layers.Conv2D(64, 3, **conv_args)(x)
        x = layers.Conv2D(32, 3, **conv_args)(x)
        x = layers.Conv2D(channels * (upscale_factor**2), 3, **conv_args)(x)
        outputs = DepthToSpace(upscale_factor)(x)
        return keras.Model(inputs, outputs)

    return scaling, process_input, process_target, DepthToSpace, get_model


def image_utilities(keras):
    """The example's ``get_lowres_image`` and ``upscale_image`` (PIL and the model), and its ``ESPCNCallback``
    with the picture it upscales given as an argument (the example loads BSDS500's first test picture) and the
    plot replaced by keeping the predictions."""

    def get_lowres_image(img, upscale_factor):
        """Return low-resolution image to use as model input."""
        return img.resize(
            (img.size[0] // upscale_factor, img.size[1] // upscale_factor),
            PIL.Image.BICUBIC,
        )

    def upscale_image(model, img):
        """Predict the result based on input image and restore the image as RGB."""
        ycbcr = img.convert("YCbCr")
        y, cb, cr = ycbcr.split()
        y = keras.utils.img_to_array(y)
        y = y.astype("float32") / 255.0

        input = np.expand_dims(y, axis=0)
        out = model.predict(input, verbose=0)

        out_img_y = out[0]
        out_img_y *= 255.0

        # Restore the image in RGB color space.
        out_img_y = out_img_y.clip(0, 255)
        out_img_y = out_img_y.reshape((np.shape(out_img_y)[0], np.shape(out_img_y)[1]))
        out_img_y = PIL.Image.fromarray(np.uint8(out_img_y), mode="L")
        out_img_cb = cb.resize(out_img_y.size, PIL.Image.BICUBIC)
        out_img_cr = cr.resize(out_img_y.size, PIL.Image.BICUBIC)
        out_img = PIL.Image.merge("YCbCr", (out_img_y, out_img_cb, out_img_cr)).convert("RGB")
        return out_img

    class ESPCNCallback(keras.callbacks.Callback):
        def __init__(self, test_img):
            super().__init__()
            self.test_img = get_lowres_image(test_img, upscale_factor)
            self.mean_psnr, self.predictions = [], []

        # Store PSNR value in each epoch.
        def on_epoch_begin(self, epoch, logs=None):
            self.psnr = []

        def on_epoch_end(self, epoch, logs=None):
            self.mean_psnr.append(np.mean(self.psnr))  # the example prints it
            if epoch % 20 == 0:
                self.predictions.append(upscale_image(self.model, self.test_img))  # plot_results in the example

        def on_test_batch_end(self, batch, logs=None):
            self.psnr.append(10 * math.log10(1 / logs["loss"]))

    return get_lowres_image, upscale_image, ESPCNCallback


def fresh(lib) -> None:
    """guide_helpers.fresh (layer names start again) without its garbage collection, over a second each here."""
    (clear_session if lib is layerwise else lib.utils.clear_session)(free_memory=False)


def photographs():
    return load_sample_images().images  # china.jpg and flower.jpg, 427 x 640 x 3 uint8


def crops(n, seed, size=crop_size):
    """``n`` random size x size crops of the two photographs, uint8 (the example's BSDS500 images, resized)."""
    rng = np.random.default_rng(seed)
    pictures = photographs()
    out = []
    for i in range(n):
        picture = pictures[i % 2]
        top, left = rng.integers(0, picture.shape[0] - size), rng.integers(0, picture.shape[1] - size)
        out.append(picture[top:top + size, left:left + size])
    return np.stack(out)


def prepared(ops, images, scaling, process_input, process_target):
    """(low-resolution input, high-resolution target) as numpy, as the example's ``map`` calls make them."""
    x = scaling(images.astype("float32"))
    return as_numpy(process_input(x, input_size, upscale_factor)), as_numpy(process_target(x))


def models(real_keras):
    """``get_model`` in both libraries, layerwise's with Keras' initial weights."""
    built = []
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        built.append(espcn_listing(keras, layers, ops)[-1](upscale_factor=upscale_factor, channels=1))
    ours, theirs = built
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def depth_to_space_reference(x, r):
    """tf.nn.depth_to_space (NHWC, DCR order): out[b, h * r + i, w * r + j, c] = x[b, h, w, (i * r + j) * C + c]."""
    b, h, w, d = x.shape
    c = d // (r * r)
    out = np.empty((b, h * r, w * r, c), x.dtype)
    for i in range(r):
        for j in range(r):
            out[:, i::r, j::r, :] = x[:, :, :, (i * r + j) * c:(i * r + j + 1) * c]
    return out


def test_the_depth_to_space_layer_is_tf_s_depth_to_space(real_keras):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 18)).astype("float32")
    expected = depth_to_space_reference(x, 3)
    for keras, layers, ops in libraries(real_keras):
        DepthToSpace = espcn_listing(keras, layers, ops)[3]
        assert_close(as_numpy(DepthToSpace(3)(x)), expected, what=keras.__name__)
        assert_close(as_numpy(ops.depth_to_space(x, 3)), expected, what=keras.__name__)
        assert_close(as_numpy(ops.space_to_depth(expected, 3)), x, what=keras.__name__)
    # Not in the example: channels_first. Keras orders the depth there as PyTorch's pixel_shuffle does
    # (channel, then block row and column), not as channels_last and TensorFlow's NCHW do (block first).
    nchw = np.moveaxis(x, -1, 1)
    results = [as_numpy(ops.depth_to_space(nchw, 3, data_format="channels_first"))
               for _, _, ops in libraries(real_keras)]
    assert_close(results[0], results[1])
    assert_close(results[0], torch.nn.functional.pixel_shuffle(torch.from_numpy(nchw), 3).numpy())


def test_the_model_matches_keras_at_any_image_size(real_keras):
    ours, theirs = models(real_keras)
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params() == 59_657
    assert tuple(ours.output.shape) == tuple(theirs.output.shape) == (None, None, None, 1)
    rng = np.random.default_rng(1)
    for shape in [(2, input_size, input_size, 1), (1, 7, 12, 1)]:  # the input has no fixed size
        x = rng.uniform(0, 1, shape).astype("float32")
        out = ours.predict(x, verbose=0)
        assert out.shape == (shape[0], shape[1] * upscale_factor, shape[2] * upscale_factor, 1)
        assert_close(out, theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
        assert_close(as_numpy(ours(x)), out, rtol=1e-5, atol=1e-6)


def test_orthogonal_kernels_as_in_keras(real_keras):
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        model = espcn_listing(keras, layers, ops)[-1](upscale_factor=upscale_factor, channels=1)
        for layer in model.layers[1:5]:
            kernel, bias = layer.get_weights()
            flat = kernel.reshape(-1, kernel.shape[-1])  # Keras: (prod(shape[:-1]), filters), gain 1
            gram = flat @ flat.T if flat.shape[0] < flat.shape[1] else flat.T @ flat
            assert_close(gram, np.eye(min(flat.shape)), atol=1e-5, what=f"{keras.__name__} {layer.name}")
            assert not bias.any()


def test_the_preprocessing_matches_keras_and_tensorflow_s_definitions(real_keras):
    images = crops(4, 2)
    results = []
    for keras, layers, ops in libraries(real_keras):
        scaling, process_input, process_target = espcn_listing(keras, layers, ops)[:3]
        results.append(prepared(ops, images, scaling, process_input, process_target))
    (x, y), (k_x, k_y) = results
    assert x.shape == (4, input_size, input_size, 1) and y.shape == (4, crop_size, crop_size, 1)
    assert_close(x, k_x)
    assert_close(y, k_y)
    luminance = (images / 255.0) @ RGB_TO_YUV[:, :1]
    assert_close(y, luminance, rtol=1e-5, atol=1e-6)
    area = luminance.reshape(4, input_size, 3, input_size, 3, 1).mean(axis=(2, 4))
    assert_close(x, area, rtol=1e-5, atol=1e-6)


def test_area_resizing_is_refused_by_both_torch_backends(real_keras):
    # Why the port uses ops.average_pool: tf.image.resize's "area" is not one of Keras' torch-backend modes.
    x = np.zeros((1, 9, 9, 1), "float32")
    for _, _, ops in libraries(real_keras):
        with pytest.raises(ValueError, match="interpolation"):
            ops.image.resize(x, (3, 3), interpolation="area")


def test_psnr_matches_keras_and_its_definition(real_keras):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (12, 15, 3)).astype("float32")
    b = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype("float32")
    expected = 20 * np.log10(255) - 10 * np.log10(np.mean((a - b) ** 2))
    values = [float(as_numpy(ops.psnr(a, b, max_val=255))) for _, _, ops in libraries(real_keras)]
    assert values[0] == pytest.approx(values[1], rel=1e-6)
    assert values[0] == pytest.approx(expected, rel=1e-5)
    # ESPCNCallback's 10 * log10(1 / mse) is the PSNR of pictures in [0, 1].
    mse = np.mean((a / 255 - b / 255) ** 2)
    assert float(as_numpy(layerwise.ops.psnr(a / 255, b / 255, max_val=1.0))) == pytest.approx(
        10 * math.log10(1 / mse), rel=1e-5)


def test_training_with_the_example_s_callbacks_matches_keras(real_keras, tmp_path):
    test_img = PIL.Image.fromarray(crops(1, 4, size=45)[0])
    train, valid = crops(32, 5), crops(16, 6)
    real_keras.utils.set_random_seed(0)  # the same Orthogonal draws at each run
    results = []
    for (keras, layers, ops), model in zip(libraries(real_keras), models(real_keras)):
        scaling, process_input, process_target = espcn_listing(keras, layers, ops)[:3]
        x_train, y_train = prepared(ops, train, scaling, process_input, process_target)
        x_valid, y_valid = prepared(ops, valid, scaling, process_input, process_target)
        _, _, ESPCNCallback = image_utilities(keras)
        espcn_callback = ESPCNCallback(test_img)
        early_stopping_callback = keras.callbacks.EarlyStopping(monitor="loss", patience=10)
        # Keras 3 wants a weights file named *.weights.h5 for save_weights_only (the example: "/tmp/checkpoint").
        checkpoint_filepath = str(tmp_path / f"{keras.__name__}_checkpoint.weights.h5")
        model_checkpoint_callback = keras.callbacks.ModelCheckpoint(
            filepath=checkpoint_filepath,
            save_weights_only=True,
            monitor="loss",
            mode="min",
            save_best_only=True,
        )
        callbacks = [espcn_callback, early_stopping_callback, model_checkpoint_callback]
        loss_fn = keras.losses.MeanSquaredError()
        optimizer = keras.optimizers.Adam(learning_rate=0.001)
        model.compile(optimizer=optimizer, loss=loss_fn)
        history = model.fit(x_train, y_train, batch_size=batch_size, epochs=3, callbacks=callbacks,
                            validation_data=(x_valid, y_valid), shuffle=False, verbose=0).history
        trained = model.predict(x_valid, verbose=0)
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        # The model weights (that are considered the best) are loaded into the model.
        model.load_weights(checkpoint_filepath)
        results.append((model, history, espcn_callback, early_stopping_callback, trained, checkpoint_filepath))
    # x_valid, left from the loop, is the same in both libraries (the preprocessing test).
    (ours, history, callback, stopping, trained, _), (theirs, k_history, k_callback, k_stopping, k_trained,
                                                       k_path) = results
    assert sorted(history) == sorted(k_history) == ["loss", "val_loss"]
    # Same data and weights, no shuffling: only float32 rounding differs (the two Adam updates are written
    # differently); through relu units and 12 steps it grows to ~1e-4 of the loss over 12 initial draws tried.
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-3, what=key)
    assert history["loss"][-1] < history["loss"][0] and history["val_loss"][-1] < history["val_loss"][0]
    assert stopping.stopped_epoch == k_stopping.stopped_epoch == 0  # patience 10: no early stop in 3 epochs
    # ESPCNCallback: per validation batch, 10 log10(1 / the running loss); the last is the epoch's val_loss.
    assert_close(callback.mean_psnr, k_callback.mean_psnr, rtol=0, atol=0.01)  # dB
    assert callback.psnr[-1] == pytest.approx(10 * math.log10(1 / history["val_loss"][-1]), rel=1e-6)
    assert callback.mean_psnr[-1] > callback.mean_psnr[0]
    assert len(callback.predictions) == len(k_callback.predictions) == 1  # epoch 0 only (epoch % 20 == 0)
    assert callback.predictions[0].size == (45, 45)
    assert np.abs(np.asarray(callback.predictions[0], "int16")
                  - np.asarray(k_callback.predictions[0], "int16")).max() <= 1
    # The best checkpoint (the last epoch, as the loss fell) restores the trained model.
    assert_close(ours.predict(x_valid, verbose=0), trained, rtol=1e-5, atol=1e-6)
    assert_close(theirs.predict(x_valid, verbose=0), k_trained, rtol=1e-5, atol=1e-6)
    assert_close(trained, k_trained, rtol=1e-3, atol=5e-3)  # outputs up to ~1.5; seen apart by up to 7e-4
    # Keras' checkpoint file loads into layerwise's model.
    ours.load_weights(k_path)
    assert_close(ours.predict(x_valid, verbose=0), k_trained, rtol=1e-5, atol=1e-6)


def test_upscaling_a_small_picture_matches_keras(real_keras, tmp_path):
    ours, theirs = models(real_keras)
    # Pretend-trained weights: a small positive bias keeps the relu network away from an all-zero output.
    weights = [w + 0.05 if w.ndim == 1 else w for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    test_img_path = tmp_path / "test.png"
    PIL.Image.fromarray(photographs()[0][100:190, 200:320]).save(test_img_path)
    measures, predictions = [], []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        get_lowres_image, upscale_image, _ = image_utilities(keras)
        img = keras.utils.load_img(test_img_path)
        lowres_input = get_lowres_image(img, upscale_factor)
        w = lowres_input.size[0] * upscale_factor
        h = lowres_input.size[1] * upscale_factor
        highres_img = img.resize((w, h))
        prediction = upscale_image(model, lowres_input)
        lowres_img = lowres_input.resize((w, h))
        lowres_img_arr = keras.utils.img_to_array(lowres_img)
        highres_img_arr = keras.utils.img_to_array(highres_img)
        predict_img_arr = keras.utils.img_to_array(prediction)
        bicubic_psnr = ops.psnr(lowres_img_arr, highres_img_arr, max_val=255)
        test_psnr = ops.psnr(predict_img_arr, highres_img_arr, max_val=255)
        assert lowres_input.size == (40, 30) and prediction.size == (w, h) == (120, 90)
        measures.append([float(as_numpy(bicubic_psnr)), float(as_numpy(test_psnr))])
        predictions.append(predict_img_arr)
    assert measures[0][0] == pytest.approx(measures[1][0], rel=1e-6)  # PIL alone, then ops.psnr
    assert 15 < measures[0][0] < 60  # a bicubic upscaling is close to the original
    assert measures[0][1] == pytest.approx(measures[1][1], rel=1e-3)
    # uint8 pixels: a luminance that rounds the other way moves a pixel by a level or two after YCbCr -> RGB.
    assert np.abs(predictions[0] - predictions[1]).max() <= 2
    assert predictions[0].std() > 0


def write_example_folder(root, n):
    """BSDS500's layout in miniature: root/images/<split>/*.jpg, 60 x 60 crops of the photographs."""
    for split, seed in (("train", 7), ("test", 8)):
        (root / "images" / split).mkdir(parents=True)
        for i, picture in enumerate(crops(n, seed, size=60)):
            PIL.Image.fromarray(picture).save(root / "images" / split / f"{i}.jpg", quality=95)


def test_the_example_s_folder_pipeline_in_layerwise(tmp_path):
    # Keras' image_dataset_from_directory returns a tf.data.Dataset (TensorFlow is not installed): layerwise alone.
    keras, layers, ops = layerwise, layerwise.layers, layerwise.ops
    write_example_folder(tmp_path, 10)
    root_dir = str(tmp_path)
    scaling, process_input, process_target, _, get_model = espcn_listing(keras, layers, ops)
    datasets = [keras.utils.image_dataset_from_directory(
        root_dir,
        batch_size=batch_size,
        image_size=(crop_size, crop_size),
        validation_split=0.2,
        subset=subset,
        seed=1337,
        label_mode=None,
    ) for subset in ("training", "validation")]
    assert [d.num_samples for d in datasets] == [16, 4]  # 20 pictures in all, 20% kept for validation
    train_ds, valid_ds = (d.map(scaling) for d in datasets)
    shown = []
    for batch in train_ds.take(1):
        for img in batch:
            shown.append(keras.utils.array_to_img(img))  # display(array_to_img(img)) in the example
    assert len(shown) == batch_size and shown[0].size == (crop_size, crop_size)
    assert tuple(batch.shape) == (batch_size, crop_size, crop_size, 3)
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    train_ds = train_ds.map(lambda x: (process_input(x, input_size, upscale_factor), process_target(x)))
    valid_ds = valid_ds.map(lambda x: (process_input(x, input_size, upscale_factor), process_target(x)))
    for batch in train_ds.take(1):
        x, y = batch
    assert tuple(x.shape) == (batch_size, input_size, input_size, 1)
    assert tuple(y.shape) == (batch_size, crop_size, crop_size, 1)
    train_ds = train_ds.prefetch(buffer_size=32)
    valid_ds = valid_ds.prefetch(buffer_size=32)
    fresh(keras)
    model = get_model(upscale_factor=upscale_factor, channels=1)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss=keras.losses.MeanSquaredError())
    history = model.fit(train_ds, epochs=3, validation_data=valid_ds, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


@pytest.fixture
def train_ds(tmp_path):
    write_example_folder(tmp_path, 5)
    return layerwise.utils.image_dataset_from_directory(str(tmp_path), batch_size=4, image_size=(30, 30),
                                                        label_mode=None, shuffle=False)


def test_take_one_batch_as_the_example_does(train_ds):
    batches = list(train_ds.take(1))  # "for batch in train_ds.take(1): for img in batch: display(...)"
    assert len(batches) == 1 and tuple(batches[0].shape) == (4, 30, 30, 3)
    assert len(train_ds.take(1)) == 1 and len(train_ds.take(5)) == 3  # tf.data: at most the dataset's batches
    torch.testing.assert_close(batches[0], next(iter(train_ds)))  # unshuffled: the first batch


def test_prefetch_as_the_example_does(train_ds):
    prefetched = train_ds.prefetch(buffer_size=32)  # a no-op in layerwise: the images are decoded in memory
    assert sum(1 for _ in prefetched) == len(prefetched) == 3  # 10 pictures in batches of 4


def test_image_dataset_from_directory_takes_keras_arguments(real_keras, tmp_path):
    import inspect

    ours = inspect.signature(layerwise.utils.image_dataset_from_directory).parameters
    theirs = inspect.signature(real_keras.utils.image_dataset_from_directory).parameters
    assert list(ours) == list(theirs)
    assert ours["format"].default == theirs["format"].default == "tf"
    write_example_folder(tmp_path, 1)
    with pytest.raises(ValueError, match="format"):  # Keras' other format, a Grain dataset, is not layerwise's
        layerwise.utils.image_dataset_from_directory(str(tmp_path), label_mode=None, format="grain")
