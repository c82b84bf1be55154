"""keras-io example "OCR model for reading Captchas" (examples/vision/captcha_ocr.py, its Keras 3 edition) run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): ``split_data``, ``encode_single_sample``, the
``ctc_batch_cost`` loss, the CNN + bidirectional-LSTM model with its ``CTCLayer`` endpoint (``add_loss``), its
training with ``EarlyStopping(restore_best_weights=True)`` on validation data, the prediction model cut at
``dense2``, and the greedy CTC decoding.

No download: random images of the captchas' shape and random 5-character labels over the data set's 19 characters
replace the PNG files; ``tf.io.read_file`` / ``decode_png`` give way to uint8 arrays, ``tf.data`` to numpy dicts,
the images are 48 x 16 (the example: 200 x 50) and the LSTMs have 32 and 16 units (the example: 128 and 64) so
that Keras trains them in seconds. Keras 3's
``StringLookup`` runs on TensorFlow, which is not installed here, so the character lookups are layerwise's in both
runs (checked against Keras' documented rules).

Replaced TensorFlow-only code: ``ctc_batch_cost`` (``ctc_label_dense_to_sparse`` + ``tf.compat.v1.nn.ctc_loss``
on time-major log-probabilities, the last class the blank) is ``keras.ops.ctc_loss`` on batch-major ones with
``mask_index`` the last class; ``tf.image.convert_image_dtype`` is a division by 255; ``tf.strings.unicode_split``
is ``list``; ``tf.strings.reduce_join(...).numpy().decode()`` is ``"".join``; ``tf.sparse.to_dense`` is dropped,
``ops.ctc_decode`` being dense already. The model is also built with ``keras.losses.ctc`` (class 0 the blank)
and, in the training test, with the loss summed in the layer, which is what Keras minimises for the listing's
tensor."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

characters = sorted("2345678bcdefgmnpwxy")  # the 19 characters of the captcha data set
batch_size = 4  # the example: 16
img_width = 48  # the example: 200
img_height = 16  # the example: 50
downsample_factor = 4
max_length = 5
epochs = 4  # the example: 100
early_stopping_patience = 1  # the example: 10
lstm_units = (32, 16)  # the example: 128, 64

# Keras 3's StringLookup needs TensorFlow: layerwise's lookups serve both runs.
char_to_num = layerwise.layers.StringLookup(vocabulary=list(characters), mask_token=None)
num_to_char = layerwise.layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True)


def split_data(keras, ops, images, labels, train_size=0.9, shuffle=True):
    # 1. Get the total size of the dataset
    size = len(images)
    # 2. Make an indices array and shuffle it, if required
    indices = ops.arange(size)
    if shuffle:
        keras.random.shuffle(indices)
    # 3. Get the size of training samples
    train_samples = int(size * train_size)
    # 4. Split data into training and validation sets
    x_train, y_train = images[indices[:train_samples]], labels[indices[:train_samples]]
    x_valid, y_valid = images[indices[train_samples:]], labels[indices[train_samples:]]
    return x_train, x_valid, y_train, y_valid


def encode_single_sample(ops, img, label):
    # 1-2. The decoded grayscale PNG: a (height, width, 1) uint8 array.
    # 3. Convert to float32 in [0, 1] range
    img = ops.cast(img, "float32") / 255.0
    # 4. Resize to the desired size
    img = ops.image.resize(img, [img_height, img_width])
    # 5. Transpose the image because we want the time dimension to correspond to the width of the image.
    img = ops.transpose(img, axes=[1, 0, 2])
    # 6. Map the characters in label to numbers
    label = char_to_num(list(label))
    # 7. Return a dict as our model is expecting two inputs
    return {"image": img, "label": label}


def ctc_loss_functions(keras, ops):
    def ctc_batch_cost(y_true, y_pred, input_length, label_length):
        """The listing's: the first label_length labels of each row against log(y_pred), the last class the blank."""
        label_length = ops.cast(ops.squeeze(label_length, axis=-1), dtype="int32")
        input_length = ops.cast(ops.squeeze(input_length, axis=-1), dtype="int32")
        y_pred = ops.log(y_pred + keras.backend.epsilon())
        blank = ops.shape(y_pred)[-1] - 1  # tf.compat.v1.nn.ctc_loss's blank
        return ops.expand_dims(
            ops.ctc_loss(ops.cast(y_true, "int32"), y_pred, label_length, input_length, mask_index=blank), 1
        )

    def ctc_batch_cost_with_losses_ctc(y_true, y_pred, input_length, label_length):
        """keras.losses.ctc: class 0 (the lookup's unused "[UNK]") is the blank, a row's non-zero labels its target."""
        y_pred = ops.log(y_pred + keras.backend.epsilon())
        return ops.expand_dims(keras.losses.ctc(ops.cast(y_true, "int32"), y_pred), 1)

    return {"ops.ctc_loss": ctc_batch_cost, "losses.ctc": ctc_batch_cost_with_losses_ctc}


def ctc_layer_class(keras, layers, ops, ctc="ops.ctc_loss", summed=False):
    class CTCLayer(layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = ctc_loss_functions(keras, ops)[ctc]

        def call(self, y_true, y_pred):
            # Compute the training-time loss value and add it to the layer using `self.add_loss()`.
            batch_len = ops.cast(ops.shape(y_true)[0], dtype="int64")
            input_length = ops.cast(ops.shape(y_pred)[1], dtype="int64")
            label_length = ops.cast(ops.shape(y_true)[1], dtype="int64")

            input_length = input_length * ops.ones(shape=(batch_len, 1), dtype="int64")
            label_length = label_length * ops.ones(shape=(batch_len, 1), dtype="int64")

            loss = self.loss_fn(y_true, y_pred, input_length, label_length)
            self.add_loss(ops.sum(loss) if summed else loss)  # summed: not in the listing (see the module doc)

            # At test time, just return the computed predictions
            return y_pred

    return CTCLayer


def build_model(keras, layers, ops, ctc="ops.ctc_loss", summed=False, dropout=0.2, lstm_dropout=0.25):
    fresh(keras)
    CTCLayer = ctc_layer_class(keras, layers, ops, ctc, summed)
    # Inputs to the model
    input_img = layers.Input(shape=(img_width, img_height, 1), name="image", dtype="float32")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")

    # First conv block
    x = layers.Conv2D(32, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                      name="Conv1")(input_img)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)

    # Second conv block
    x = layers.Conv2D(64, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                      name="Conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)

    # Two max pools with pool size and strides 2: feature maps 4x smaller, 64 filters.
    new_shape = ((img_width // 4), (img_height // 4) * 64)
    x = layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    x = layers.Dropout(dropout)(x)

    # RNNs
    x = layers.Bidirectional(layers.LSTM(lstm_units[0], return_sequences=True, dropout=lstm_dropout))(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units[1], return_sequences=True, dropout=lstm_dropout))(x)

    # Output layer
    x = layers.Dense(len(char_to_num.get_vocabulary()) + 1, activation="softmax", name="dense2")(x)

    # Add CTC layer for calculating CTC loss at each step
    output = CTCLayer(name="ctc_loss")(labels, x)

    # Define the model
    model = keras.models.Model(inputs=[input_img, labels], outputs=output, name="ocr_model_v1")
    # Optimizer
    opt = keras.optimizers.Adam()
    # Compile the model and return
    model.compile(optimizer=opt)
    return model


def same_models(real_keras, **options):
    ours, theirs = [build_model(*lib, **options) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def captcha_like(n, seed):
    """What the example's tf.data map gives: {"image": (n, img_width, img_height, 1) float32 in [0, 1] (the
    transposed grayscale image), "label": (n, 5) character indices}, and the label strings."""
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(characters, max_length)) for _ in range(n)]
    raw = rng.integers(0, 256, (n, img_height, img_width, 1), dtype=np.uint8)
    images = np.transpose(raw.astype("float32") / 255.0, (0, 2, 1, 3))
    labels = np.stack([char_to_num(list(text)) for text in texts])
    return {"image": images, "label": labels}, texts


def decode_batch_predictions(ops, pred):
    input_len = np.ones(pred.shape[0]) * pred.shape[1]
    # Use greedy search. For complex tasks, you can use beam search
    results = ops.ctc_decode(pred, sequence_lengths=input_len, strategy="greedy")[0][0]
    # ops.ctc_decode's result is dense already (-1 past each sequence's end): no tf.sparse.to_dense.
    dense_results = results
    # Slice the dense tensor to keep only up to max_length
    dense_results = dense_results[:, :max_length]
    # Iterate over the results and get back the text
    output_text = []
    for res in results:
        res = "".join(num_to_char(as_numpy(res)))
        output_text.append(res)
    return output_text


LISTING_CTC = "ops.ctc_loss"


def test_the_character_lookups_follow_keras_rules():
    # Keras' rules for mask_token=None: the OOV token "[UNK]" at 0, then the vocabulary as given.
    assert char_to_num.get_vocabulary() == ["[UNK]", *characters]
    np.testing.assert_array_equal(char_to_num(list("2bxy")), [1, 8, 18, 19])
    np.testing.assert_array_equal(char_to_num(list("a9")), [0, 0])  # unknown characters are the OOV index
    assert "".join(num_to_char(np.array([1, 8, 18, 19]))) == "2bxy"
    assert list(num_to_char(np.array([0, -1, 20]))) == ["[UNK]"] * 3  # indices without a character


def test_split_data_matches_keras(real_keras):
    images = np.array([f"captcha_images_v2/{i}.png" for i in range(20)])
    labels = np.array([f"label{i}" for i in range(20)])
    splits = []
    for keras, _, ops in libraries(real_keras):
        keras.utils.set_random_seed(0)
        splits.append(split_data(keras, ops, images, labels))
    for ours, theirs in zip(*splits):
        np.testing.assert_array_equal(ours, theirs)
    # keras.random.shuffle returns a shuffled copy; the listing drops it, so the split keeps the files' order.
    x_train, x_valid, y_train, y_valid = splits[0]
    np.testing.assert_array_equal(x_train, images[:18])
    np.testing.assert_array_equal(y_valid, labels[18:])
    for keras, _, ops in libraries(real_keras):
        shuffled = as_numpy(keras.random.shuffle(ops.arange(20), seed=1))
        assert sorted(shuffled) == list(range(20)) and list(shuffled) != list(range(20))


def test_encode_single_sample_matches_keras(real_keras):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 80, 1), dtype=np.uint8)  # a PNG of another size than the model's
    theirs = encode_single_sample(real_keras.ops, img, "3bd8x")
    assert tuple(theirs["image"].shape) == (img_width, img_height, 1)
    ours = encode_single_sample(layerwise.ops, img, "3bd8x")
    assert_close(as_numpy(ours["image"]), as_numpy(theirs["image"]))
    np.testing.assert_array_equal(as_numpy(ours["label"]), as_numpy(theirs["label"]))


def test_ctc_batch_cost_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    y_pred = rng.random((3, img_width // 4, len(characters) + 2)).astype("float32")
    y_pred /= y_pred.sum(-1, keepdims=True)
    y_true = rng.integers(1, len(characters) + 1, (3, max_length)).astype("float32")
    input_length = np.full((3, 1), img_width // 4)
    label_length = np.array([[5], [3], [4]])  # the first 5, 3 and 4 labels of the rows
    costs = []
    for keras, _, ops in (libraries(real_keras)[1], libraries(real_keras)[0]):  # Keras first: the oracle's check
        cost = as_numpy(ctc_loss_functions(keras, ops)["ops.ctc_loss"](y_true, y_pred, input_length, label_length))
        assert cost.shape == (3, 1) and np.all(cost > 0)
        costs.append(cost)
    assert_close(costs[1], costs[0], rtol=1e-5)


@pytest.mark.parametrize("ctc", [LISTING_CTC, "losses.ctc"])
def test_the_model_s_summary_outputs_and_ctc_loss_match_keras(real_keras, ctc):
    theirs = build_model(real_keras, real_keras.layers, real_keras.ops, ctc=ctc)
    ours = build_model(layerwise, layerwise.layers, layerwise.ops, ctc=ctc)
    assert ours.name == theirs.name == "ocr_model_v1"
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    data, _ = captcha_like(batch_size, 0)
    outputs = [as_numpy(model(data)) for model in (ours, theirs)]
    assert outputs[0].shape == (batch_size, img_width // 4, len(characters) + 2)
    assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-6)
    # The CTC layer returns dense2's softmax and adds the (batch, 1) per-sample CTC loss.
    assert_close(outputs[0].sum(-1), 1.0, rtol=1e-5)
    losses = [[as_numpy(loss) for loss in model.losses] for model in (ours, theirs)]
    assert len(losses[0]) == len(losses[1]) == 1 and losses[1][0].shape == (batch_size, 1)
    assert_close(losses[0][0], losses[1][0], rtol=1e-4)


def test_evaluating_and_training_the_listing_s_ctc_layer_match_keras(real_keras):
    ours, theirs = same_models(real_keras, ctc="losses.ctc", dropout=0.0, lstm_dropout=0.0)
    data, _ = captcha_like(2 * batch_size, 2)
    expected = theirs.evaluate(data, batch_size=batch_size, verbose=0)
    assert expected > 0  # the batches' summed CTC losses
    assert ours.evaluate(data, batch_size=batch_size, verbose=0) == pytest.approx(expected, rel=1e-4)
    ours.fit(data, batch_size=batch_size, epochs=1, verbose=0)


def test_training_with_early_stopping_matches_keras(real_keras):
    # The listing's fit, with its dropout rates at 0 (the two libraries' masks differ by design) and the CTC loss
    # summed in the layer (see the module doc); shuffle=False, as the example's tf.data pipeline does not shuffle.
    ours, theirs = same_models(real_keras, ctc="losses.ctc", summed=True, dropout=0.0, lstm_dropout=0.0)
    train, _ = captcha_like(2 * batch_size, 3)
    valid, _ = captcha_like(batch_size, 4)
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        # Add early stopping
        early_stopping = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
        )
        # Train the model
        history = model.fit(train, validation_data=valid, epochs=epochs, batch_size=batch_size, shuffle=False,
                            callbacks=[early_stopping], verbose=0)
        histories.append((history.history, early_stopping.stopped_epoch, early_stopping.best))
    (history, stopped, best), (k_history, k_stopped, k_best) = histories
    assert sorted(history) == sorted(k_history) == ["loss", "val_loss"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-3, what=key)
    assert history["loss"][-1] < history["loss"][0]
    assert stopped == k_stopped and best == pytest.approx(k_best, rel=1e-3)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2e-4)
    # What the listing's layer adds is what Keras minimises: its summed evaluation equals the summed layer's.
    listing = build_model(real_keras, real_keras.layers, real_keras.ops, ctc="losses.ctc")
    listing.set_weights(theirs.get_weights())
    assert listing.evaluate(valid, verbose=0) == pytest.approx(theirs.evaluate(valid, verbose=0), rel=1e-5)


def test_the_prediction_model_matches_keras_and_after_save_and_load(real_keras, tmp_path):
    ours, theirs = same_models(real_keras, ctc="losses.ctc")
    prediction_models = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        # Get the prediction model by extracting layers till the output layer
        prediction_model = keras.models.Model(model.input[0], model.get_layer(name="dense2").output)
        prediction_models.append(prediction_model)
    assert summary_rows(prediction_models[0]) == summary_rows(prediction_models[1])
    data, _ = captcha_like(batch_size, 5)
    preds = [model.predict(data["image"], verbose=0) for model in prediction_models]
    assert preds[0].shape == (batch_size, img_width // 4, len(characters) + 2)
    assert_close(preds[0], preds[1], rtol=1e-4, atol=1e-6)
    for (keras, _, _), model, pred in zip(libraries(real_keras), prediction_models, preds):
        path = tmp_path / f"{keras.__name__}_prediction_model.keras"
        model.save(path)
        assert_close(keras.models.load_model(path).predict(data["image"], verbose=0), pred, rtol=1e-6)


def test_the_full_model_s_config_and_reloading_follow_keras(real_keras, tmp_path):
    configs = []
    for keras, layers, ops in (libraries(real_keras)[1], libraries(real_keras)[0]):  # Keras first: the oracle
        model = build_model(keras, layers, ops, ctc="losses.ctc")
        configs.append(model.get_layer("ctc_loss").get_config())
        assert sorted(configs[-1]) == sorted(configs[0]) == ["dtype", "name", "trainable"]
        path = tmp_path / f"{keras.__name__}_model.keras"
        model.save(path)
        # The listing's CTCLayer.__init__ takes only a name: Keras' from_config(config) is refused.
        with pytest.raises(TypeError, match="trainable"):
            keras.models.load_model(path, custom_objects={"CTCLayer": type(model.get_layer("ctc_loss"))})


def test_decode_batch_predictions_matches_keras(real_keras):
    # Peaked predictions along known paths: "3bb" (a blank between the two b's) and "xy2" (repeats merged).
    classes = len(characters) + 2
    paths = [[0, 2, 8, 0, 8, 8, 0, 0, 0, 0, 0, 0], [18, 18, 19, 0, 1, 1, 1, 0, 0, 0, 0, 0]]
    pred = np.full((2, img_width // 4, classes), 0.01, dtype="float32")
    for row, path in enumerate(paths):
        pred[row, np.arange(len(path)), path] = 0.9
    texts = [decode_batch_predictions(ops, pred) for _, _, ops in (libraries(real_keras)[1], libraries(real_keras)[0])]
    # The listing joins every entry of the (batch, steps) result, its -1 padding included, which is "[UNK]".
    assert texts[0] == ["3bb" + "[UNK]" * 9, "xy2" + "[UNK]" * 9]
    assert texts[1] == texts[0]
