"""keras-io example "Handwriting recognition" (examples/vision/handwriting_recognition.py) run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the dataset splitting and label cleaning,
``vectorize_label`` (padding with ``padding_token``), ``distortion_free_resize``, the CNN + bidirectional-LSTM model
with its ``CTCLayer`` endpoint (``add_loss``), its training, the prediction model cut at ``dense2``, the greedy
decoding and the edit-distance callback.

No download: lines in the format of IAM's ``words.txt`` over a small alphabet, and random images, replace the data
set; ``tf.io.read_file`` / ``decode_png`` give way to uint8 arrays, ``tf.data`` to numpy dicts. The images are
64 x 16 (the example: 128 x 32) and the LSTMs have 32 and 16 units (the example: 128 and 64) so that Keras trains
them in seconds. Keras 3's ``StringLookup`` runs on TensorFlow, which is not installed here, so the character
lookups are layerwise's in both runs. ``np.random.seed(42)`` + ``np.random.shuffle`` is
``np.random.RandomState(42).shuffle`` (the same order, without touching numpy's global state).

Replaced code: the listing's ``keras.backend.ctc_batch_cost`` and ``keras.backend.ctc_decode`` (TensorFlow's
``tf.compat.v1.nn.ctc_loss`` and ``tf.nn.ctc_greedy_decoder``, both with the last class as the blank) are gone from
Keras 3: they are ``keras.ops.ctc_loss`` and ``keras.ops.ctc_decode`` with ``mask_index`` the last class; the
``tf.*`` calls of ``CTCLayer``, ``vectorize_label`` and ``distortion_free_resize`` are ``keras.ops`` ones
(``tf.image.flip_left_right`` is ``ops.flip(axis=1)``); ``tf.image.resize(preserve_aspect_ratio=True)`` is
``ops.image.resize`` to the size TensorFlow computes (and ``layers.Resizing``);
``tf.sparse.from_dense`` + ``tf.edit_distance`` is numpy (a row's non-zero entries, Levenshtein distance);
``tf.strings`` joins are ``"".join``. Keras 3 returns ``[]`` for an ``InputLayer``'s ``input``, so the listing's
prediction model ``Model(model.get_layer(name="image").input, ...)`` is refused there; it is built from that layer's
``output``. The model is also built with ``keras.losses.ctc`` (class 0 the blank) and, in the training tests, with
the loss summed in the layer.

The listing pads labels with 99 yet gives the CTC loss the full padded length, so its loss reads class 99 of an
output with fewer classes: Keras 3's ``ops.ctc_loss`` then reads outside the tensor (nan or arbitrary values). The
training data here hold words of ``max_len`` characters, which need no padding."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

batch_size = 4  # the example: 64
padding_token = 99
image_width = 64  # the example: 128
image_height = 16  # the example: 32
epochs = 2  # the example: 10
lstm_units = (32, 16)  # the example: 128, 64


def iam_like_words_txt(n=200, seed=0):
    """Lines as in IAM's words.txt: '#' comments, then 'id ok|err graylevel x y w h tag transcription'."""
    rng = np.random.default_rng(seed)
    alphabet = list("ACTaehinorst.,'-")
    lines = ["#--- words.txt ---\n", "#\n", "# format: a01-000u-00-00 ok 154 408 768 27 51 AT A\n"]
    for i in range(n):
        word = "".join(rng.choice(alphabet, rng.integers(1, 8)))
        status = "err" if i % 10 == 3 else "ok"
        lines.append(f"a{i % 7:02d}-{i // 7:03d}u-00-{i % 5:02d} {status} 154 408 768 27 51 NN {word}\n")
    return lines


def dataset_splitting(words):
    words_list = []
    for line in words:
        if line[0] == "#":
            continue
        if line.split(" ")[1] != "err":  # We don't need to deal with errored entries.
            words_list.append(line)
    np.random.RandomState(42).shuffle(words_list)
    split_idx = int(0.9 * len(words_list))
    train_samples = words_list[:split_idx]
    test_samples = words_list[split_idx:]
    val_split_idx = int(0.5 * len(test_samples))
    validation_samples = test_samples[:val_split_idx]
    test_samples = test_samples[val_split_idx:]
    assert len(words_list) == len(train_samples) + len(validation_samples) + len(test_samples)
    return train_samples, validation_samples, test_samples


def train_labels_and_vocabulary(train_labels):
    # Find maximum length and the size of the vocabulary in the training data.
    train_labels_cleaned = []
    characters = set()
    max_len = 0
    for label in train_labels:
        label = label.split(" ")[-1].strip()
        for char in label:
            characters.add(char)
        max_len = max(max_len, len(label))
        train_labels_cleaned.append(label)
    characters = sorted(list(characters))
    return train_labels_cleaned, characters, max_len


def clean_labels(labels):
    cleaned_labels = []
    for label in labels:
        label = label.split(" ")[-1].strip()
        cleaned_labels.append(label)
    return cleaned_labels


# The listing's data preparation, on the synthetic words.txt (its image paths are not needed: no image files).
WORDS_TXT = iam_like_words_txt()
train_samples, validation_samples, test_samples = dataset_splitting(WORDS_TXT)
train_labels = [line.split("\n")[0] for line in train_samples]
train_labels_cleaned, characters, max_len = train_labels_and_vocabulary(train_labels)
validation_labels_cleaned = clean_labels(validation_samples)

# Keras 3's StringLookup needs TensorFlow: layerwise's lookups serve both runs.
char_to_num = layerwise.layers.StringLookup(vocabulary=list(characters), mask_token=None)
num_to_char = layerwise.layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True)
num_classes = len(char_to_num.get_vocabulary()) + 2


def resize_keeping_aspect_ratio(keras, ops, image, size, how):
    """tf.image.resize(image, size, preserve_aspect_ratio=True): the largest size of the image's aspect ratio within
    ``size`` (scale and rounding in float32, as TensorFlow), by ``ops.image.resize`` or ``layers.Resizing``."""
    height, width = ops.shape(image)[0], ops.shape(image)[1]
    scale = min(np.float32(size[0]) / np.float32(height), np.float32(size[1]) / np.float32(width))
    new_size = (int(np.round(scale * np.float32(height))), int(np.round(scale * np.float32(width))))
    if how == "ops.image.resize":
        return ops.image.resize(image, new_size)
    return keras.layers.Resizing(*new_size)(ops.cast(image, "float32"))


def distortion_free_resize(keras, ops, image, img_size, how="ops.image.resize"):
    w, h = img_size
    image = resize_keeping_aspect_ratio(keras, ops, image, (h, w), how)

    # Check tha amount of padding needed to be done.
    pad_height = h - ops.shape(image)[0]
    pad_width = w - ops.shape(image)[1]

    # Only necessary if you want to do same amount of padding on both sides.
    if pad_height % 2 != 0:
        height = pad_height // 2
        pad_height_top = height + 1
        pad_height_bottom = height
    else:
        pad_height_top = pad_height_bottom = pad_height // 2

    if pad_width % 2 != 0:
        width = pad_width // 2
        pad_width_left = width + 1
        pad_width_right = width
    else:
        pad_width_left = pad_width_right = pad_width // 2

    image = ops.pad(
        image,
        pad_width=[
            [pad_height_top, pad_height_bottom],
            [pad_width_left, pad_width_right],
            [0, 0],
        ],
    )

    image = ops.transpose(image, axes=[1, 0, 2])
    image = ops.flip(image, axis=1)  # tf.image.flip_left_right
    return image


def preprocess_image(keras, ops, image, img_size=(image_width, image_height), how="ops.image.resize"):
    # image: the decoded grayscale PNG, a (height, width, 1) uint8 array (tf.io.read_file + tf.image.decode_png).
    image = distortion_free_resize(keras, ops, image, img_size, how)
    image = ops.cast(image, "float32") / 255.0
    return image


def vectorize_label(ops, label):
    label = char_to_num(list(label))  # tf.strings.unicode_split
    length = ops.shape(label)[0]
    pad_amount = max_len - length
    label = ops.pad(label, pad_width=[[0, pad_amount]], constant_values=padding_token)
    return label


def ctc_loss_functions(keras, ops):
    def ctc_batch_cost(y_true, y_pred, input_length, label_length):
        """keras.backend.ctc_batch_cost: the first label_length labels of each row against log(y_pred), the last
        class the blank."""
        label_length = ops.cast(ops.squeeze(label_length, axis=-1), dtype="int32")
        input_length = ops.cast(ops.squeeze(input_length, axis=-1), dtype="int32")
        y_pred = ops.log(y_pred + keras.backend.epsilon())
        blank = ops.shape(y_pred)[-1] - 1
        return ops.expand_dims(
            ops.ctc_loss(ops.cast(y_true, "int32"), y_pred, label_length, input_length, mask_index=blank), 1
        )

    def ctc_batch_cost_with_losses_ctc(y_true, y_pred, input_length, label_length):
        """keras.losses.ctc: class 0 (the lookup's unused "[UNK]") is the blank, a row's non-zero labels its target."""
        y_pred = ops.log(y_pred + keras.backend.epsilon())
        return ops.expand_dims(keras.losses.ctc(ops.cast(y_true, "int32"), y_pred), 1)

    return {"ops.ctc_loss": ctc_batch_cost, "losses.ctc": ctc_batch_cost_with_losses_ctc}


def ctc_layer_class(keras, ops, ctc="ops.ctc_loss", summed=False):
    class CTCLayer(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = ctc_loss_functions(keras, ops)[ctc]

        def call(self, y_true, y_pred):
            batch_len = ops.cast(ops.shape(y_true)[0], dtype="int64")
            input_length = ops.cast(ops.shape(y_pred)[1], dtype="int64")
            label_length = ops.cast(ops.shape(y_true)[1], dtype="int64")

            input_length = input_length * ops.ones(shape=(batch_len, 1), dtype="int64")
            label_length = label_length * ops.ones(shape=(batch_len, 1), dtype="int64")
            loss = self.loss_fn(y_true, y_pred, input_length, label_length)
            self.add_loss(ops.sum(loss) if summed else loss)  # summed: not in the listing (see the module doc)

            # At test time, just return the computed predictions.
            return y_pred

    return CTCLayer


def build_model(keras, layers, ops, ctc="ops.ctc_loss", summed=False, dropout=0.2, lstm_dropout=0.25):
    fresh(keras)
    CTCLayer = ctc_layer_class(keras, ops, ctc, summed)
    # Inputs to the model
    input_img = keras.Input(shape=(image_width, image_height, 1), name="image")
    labels = keras.layers.Input(name="label", shape=(None,))

    # First conv block.
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                            name="Conv1")(input_img)
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)

    # Second conv block.
    x = keras.layers.Conv2D(64, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                            name="Conv2")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="pool2")(x)

    # Two max pools with pool size and strides 2: feature maps 4x smaller, 64 filters.
    new_shape = ((image_width // 4), (image_height // 4) * 64)
    x = keras.layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = keras.layers.Dense(64, activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(dropout)(x)

    # RNNs.
    x = keras.layers.Bidirectional(keras.layers.LSTM(lstm_units[0], return_sequences=True, dropout=lstm_dropout))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(lstm_units[1], return_sequences=True, dropout=lstm_dropout))(x)

    # +2 is to account for the two special tokens introduced by the CTC loss.
    x = keras.layers.Dense(len(char_to_num.get_vocabulary()) + 2, activation="softmax", name="dense2")(x)

    # Add CTC layer for calculating CTC loss at each step.
    output = CTCLayer(name="ctc_loss")(labels, x)

    # Define the model.
    model = keras.models.Model(inputs=[input_img, labels], outputs=output, name="handwriting_recognizer")
    # Optimizer.
    opt = keras.optimizers.Adam()
    # Compile the model and return.
    model.compile(optimizer=opt)
    return model


def same_models(real_keras, **options):
    real_keras.utils.set_random_seed(0)  # Keras' initial weights, whatever ran before (training drifts ~1e-4)
    ours, theirs = [build_model(*lib, **options) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def words_batch(n, seed):
    """What the example's tf.data map gives for words of max_len characters: {"image": (n, image_width,
    image_height, 1) float32 in [0, 1], "label": (n, max_len) character indices}."""
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(characters, max_len)) for _ in range(n)]
    images = rng.integers(0, 256, (n, image_width, image_height, 1)).astype("float32") / 255.0
    labels = np.stack([as_numpy(vectorize_label(layerwise.ops, word)) for word in words])
    return {"image": images, "label": labels}


def edit_distance(hypothesis, truth) -> int:
    """Levenshtein distance between two sequences (tf.edit_distance with normalize=False, for one row)."""
    row = list(range(len(truth) + 1))
    for i, h in enumerate(hypothesis, 1):
        diagonal, row[0] = row[0], i
        for j, t in enumerate(truth, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (h != t))
    return row[-1]


def calculate_edit_distance(ops, labels, predictions):
    # Get a single batch and convert its labels to sparse tensors (tf.sparse.from_dense: each row's non-zeros).
    saprse_labels = [row[row != 0] for row in np.asarray(labels).astype("int64")]

    # Make predictions and convert them to sparse tensors.
    input_len = np.ones(predictions.shape[0]) * predictions.shape[1]
    predictions_decoded = ops.ctc_decode(
        predictions, sequence_lengths=input_len, strategy="greedy", mask_index=predictions.shape[-1] - 1
    )[0][0][:, :max_len]
    sparse_predictions = [row[row != 0] for row in as_numpy(predictions_decoded).astype("int64")]

    # Compute individual edit distances and average them out.
    edit_distances = [edit_distance(p, t) for p, t in zip(sparse_predictions, saprse_labels)]
    return np.mean(edit_distances)


def edit_distance_callback_class(keras, ops, validation_images, validation_labels):
    class EditDistanceCallback(keras.callbacks.Callback):
        def __init__(self, pred_model):
            super().__init__()
            self.prediction_model = pred_model

        def on_epoch_end(self, epoch, logs=None):
            edit_distances = []

            for i in range(len(validation_images)):
                labels = validation_labels[i]
                predictions = self.prediction_model.predict(validation_images[i])
                edit_distances.append(calculate_edit_distance(ops, labels, predictions))

            print(f"Mean edit distance for epoch {epoch + 1}: {np.mean(edit_distances):.4f}")

    return EditDistanceCallback


def decode_batch_predictions(ops, pred):
    input_len = np.ones(pred.shape[0]) * pred.shape[1]
    # Use greedy search. For complex tasks, you can use beam search.
    results = ops.ctc_decode(pred, sequence_lengths=input_len, strategy="greedy",
                             mask_index=pred.shape[-1] - 1)[0][0][:, :max_len]
    # Iterate over the results and get back the text.
    output_text = []
    for res in results:
        res = as_numpy(res)
        res = res[res != -1]  # tf.gather(res, tf.where(tf.math.not_equal(res, -1)))
        res = "".join(num_to_char(res))
        output_text.append(res)
    return output_text


LISTING_CTC = "ops.ctc_loss"


def test_the_dataset_splitting_labels_and_lookups():
    lines = [line for line in WORDS_TXT if line[0] != "#"]
    kept = [line for line in lines if line.split(" ")[1] == "ok"]
    assert len(lines) == 200 and len(kept) == 180  # one line in ten is an "err" entry
    assert (len(train_samples), len(validation_samples), len(test_samples)) == (162, 9, 9)  # 90:5:5
    assert sorted(train_samples + validation_samples + test_samples) == sorted(kept)
    assert train_samples[:3] != kept[:3]  # shuffled
    assert all(label == line.split(" ")[-1].strip() for label, line in zip(train_labels_cleaned, train_samples))
    assert characters == sorted(set("".join(train_labels_cleaned))) and max_len == 7
    assert validation_labels_cleaned == [line.split()[-1] for line in validation_samples]
    # Keras' rules for mask_token=None: the OOV token "[UNK]" at 0, then the vocabulary as given.
    assert char_to_num.get_vocabulary() == ["[UNK]", *characters]
    assert "".join(num_to_char(char_to_num(list("Cat's")))) == "Cat's"


def test_vectorize_label_matches_keras(real_keras):
    for word in ("a", "Cat's", "t.-,oAe"):
        vectors = [as_numpy(vectorize_label(ops, word)) for _, _, ops in libraries(real_keras)]
        np.testing.assert_array_equal(vectors[0], vectors[1])
        expected = [characters.index(c) + 1 for c in word] + [padding_token] * (max_len - len(word))
        np.testing.assert_array_equal(vectors[0], expected)


@pytest.mark.parametrize("how", [
    "ops.image.resize",
    "layers.Resizing",
])
def test_distortion_free_resize_matches_keras(real_keras, how):
    rng = np.random.default_rng(0)
    # A wide word, a tall one, one of the model's own aspect ratio, and odd paddings on both axes.
    for height, width in ((10, 60), (30, 20), (8, 32), (13, 41)):
        image = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
        theirs = as_numpy(preprocess_image(real_keras, real_keras.ops, image, how=how))
        ours = as_numpy(preprocess_image(layerwise, layerwise.ops, image, how=how))
        assert ours.shape == theirs.shape == (image_width, image_height, 1)
        assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        # Undone as the listing's visualisation does (flip, then transpose): the resized word, centred, with
        # the odd pixel of padding at the top or the left.
        undone = np.transpose(np.flip(ours, axis=1), (1, 0, 2))
        scale = min(image_height / height, image_width / width)
        new_h, new_w = round(height * scale), round(width * scale)
        top, left = (image_height - new_h + 1) // 2, (image_width - new_w + 1) // 2
        content = np.zeros_like(undone, dtype=bool)
        content[top:top + new_h, left:left + new_w] = True
        assert np.all(undone[~content] == 0) and undone[content].mean() > 0.2


def test_the_listing_s_keras_backend_ctc_functions_are_gone_from_keras_3_as_from_layerwise(real_keras):
    for keras, _, _ in libraries(real_keras):
        assert not hasattr(keras.backend, "ctc_batch_cost") and not hasattr(keras.backend, "ctc_decode")


@pytest.mark.parametrize("ctc", [LISTING_CTC, "losses.ctc"])
def test_the_model_s_summary_outputs_and_ctc_loss_match_keras(real_keras, ctc):
    theirs = build_model(real_keras, real_keras.layers, real_keras.ops, ctc=ctc)
    ours = build_model(layerwise, layerwise.layers, layerwise.ops, ctc=ctc)
    assert ours.name == theirs.name == "handwriting_recognizer"
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    data = words_batch(batch_size, 0)
    outputs = [as_numpy(model(data)) for model in (ours, theirs)]
    assert outputs[0].shape == (batch_size, image_width // 4, num_classes)
    assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-6)
    losses = [[as_numpy(loss) for loss in model.losses] for model in (ours, theirs)]
    assert len(losses[0]) == len(losses[1]) == 1 and losses[1][0].shape == (batch_size, 1)
    assert np.isfinite(losses[1][0]).all()
    assert_close(losses[0][0], losses[1][0], rtol=1e-4)


def test_evaluating_and_training_the_listing_s_ctc_layer_match_keras(real_keras):
    ours, theirs = same_models(real_keras, ctc="losses.ctc", dropout=0.0, lstm_dropout=0.0)
    data = words_batch(2 * batch_size, 1)
    expected = theirs.evaluate(data, batch_size=batch_size, verbose=0)
    assert expected > 0  # the batches' summed CTC losses
    assert ours.evaluate(data, batch_size=batch_size, verbose=0) == pytest.approx(expected, rel=1e-4)
    ours.fit(data, batch_size=batch_size, epochs=1, verbose=0)


def test_training_matches_keras(real_keras):
    # The listing's fit, with its dropout rates at 0 (the two libraries' masks differ by design), the CTC loss
    # summed in the layer (see the module doc), and without the edit-distance callback (its own test, below).
    ours, theirs = same_models(real_keras, ctc="losses.ctc", summed=True, dropout=0.0, lstm_dropout=0.0)
    train_ds = words_batch(2 * batch_size, 2)
    validation_ds = words_batch(batch_size, 3)
    histories = [model.fit(train_ds, validation_data=validation_ds, epochs=epochs, batch_size=batch_size,
                           shuffle=False, verbose=0).history for model in (ours, theirs)]
    assert sorted(histories[0]) == sorted(histories[1]) == ["loss", "val_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-3, what=key)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2e-4)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="layerwise's InputLayer.input is the input tensor, "
                   "where Keras 3's is [] (so Keras refuses the listing's Model(model.get_layer(name='image').input, "
                   "...) with a ValueError, and layerwise builds it)")
def test_the_listing_s_prediction_model_from_the_image_layer_s_input_is_refused_as_in_keras_3(real_keras):
    for keras, layers, ops in (libraries(real_keras)[1], libraries(real_keras)[0]):  # Keras first: the oracle
        model = build_model(keras, layers, ops, ctc="losses.ctc")
        image_input = model.get_layer(name="image").input
        assert isinstance(image_input, list) and not image_input
        with pytest.raises(ValueError, match="inputs"):
            keras.models.Model(image_input, model.get_layer(name="dense2").output)


def test_the_prediction_model_matches_keras_and_after_save_and_load(real_keras, tmp_path):
    ours, theirs = same_models(real_keras, ctc="losses.ctc")
    prediction_models = [keras.models.Model(model.get_layer(name="image").output, model.get_layer(name="dense2").output)
                         for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs))]
    assert summary_rows(prediction_models[0]) == summary_rows(prediction_models[1])
    images = words_batch(batch_size, 4)["image"]
    preds = [model.predict(images, verbose=0) for model in prediction_models]
    assert preds[0].shape == (batch_size, image_width // 4, num_classes)
    assert_close(preds[0], preds[1], rtol=1e-4, atol=1e-6)
    for (keras, _, _), model, pred in zip(libraries(real_keras), prediction_models, preds):
        path = tmp_path / f"{keras.__name__}_prediction_model.keras"
        model.save(path)
        assert_close(keras.models.load_model(path).predict(images, verbose=0), pred, rtol=1e-6)


def test_decoding_and_the_edit_distance_match_keras(real_keras):
    # Peaked predictions along known paths (the last class is the blank): "Cat" with its repeats merged, and "tt"
    # with a blank between the two t's.
    blank = num_classes - 1
    C, a, t = (characters.index(c) + 1 for c in "Cat")
    paths = [[C, C, a, blank, t, t, blank], [t, blank, t, blank, blank]]
    pred = np.full((2, image_width // 4, num_classes), 0.01, dtype="float32")
    pred[:, :, blank] = 0.5
    for row, path in enumerate(paths):
        pred[row, np.arange(len(path)), path] = 0.9
    labels = np.stack([as_numpy(vectorize_label(layerwise.ops, word)) for word in ("Cat", "to")])
    for _, _, ops in (libraries(real_keras)[1], libraries(real_keras)[0]):  # Keras first: the oracle
        assert decode_batch_predictions(ops, pred) == ["Cat", "tt"]
        # The decoded rows keep their -1 padding to max_len and the labels their 99s: both count, as in the
        # listing. "Cat" + 4 x -1 against "Cat" + 4 x 99: 4; "tt" + 5 x -1 against "to" + 5 x 99: 6.
        assert calculate_edit_distance(ops, labels, pred) == pytest.approx(5.0)


def test_the_edit_distance_callback_matches_keras(real_keras, capsys):
    ours, theirs = same_models(real_keras, ctc="losses.ctc", summed=True, dropout=0.0, lstm_dropout=0.0)
    train_ds = words_batch(batch_size, 5)
    validation_ds = [words_batch(batch_size, 6), words_batch(2, 7)]
    validation_images = [batch["image"] for batch in validation_ds]
    validation_labels = [batch["label"] for batch in validation_ds]
    printed = []
    for (keras, _, ops), model in ((libraries(real_keras)[1], theirs), (libraries(real_keras)[0], ours)):
        prediction_model = keras.models.Model(model.get_layer(name="image").output,
                                              model.get_layer(name="dense2").output)
        EditDistanceCallback = edit_distance_callback_class(keras, ops, validation_images, validation_labels)
        edit_distance_callback = EditDistanceCallback(prediction_model)
        model.fit(train_ds, epochs=epochs, callbacks=[edit_distance_callback], verbose=0)
        printed.append([line for line in capsys.readouterr().out.splitlines() if line.startswith("Mean edit")])
    assert printed[0] == printed[1] and len(printed[0]) == epochs
