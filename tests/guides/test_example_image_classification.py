"""keras-io example "Image classification from scratch" (examples/vision/image_classification_from_scratch.py)
run with ``import layerwise as keras`` and in Keras 3 (torch backend): the data-augmentation Sequential
(RandomFlip, RandomRotation), the small Xception-like network (SeparableConv2D blocks with residual ``add``),
its summary, outputs and ``evaluate`` from the same weights, training with the example's ModelCheckpoint,
reloading a checkpoint, and the inference on one image. The Cats vs Dogs download and matplotlib are left out:
random images stand in for the data, and a small folder of random JPEG files for the
PetImages folder (the JFIF filter, ``image_dataset_from_directory``, ``load_img``). Keras 3 reads a folder
only through TensorFlow or grain (not installed), so there Keras' own file indexing and split are the oracle.

For speed the images are 36 x 36 (the example's are 180 x 180) wherever the model runs; the summary is also
compared at the example's size. The network itself is the example's."""
from __future__ import annotations

import os

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows
from PIL import Image

image_size = (36, 36)  # the example: (180, 180)


def augmentation(keras, layers, ops):
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
        ]
    )


def make_model(keras, layers, ops, input_shape, num_classes, data_augmentation=None):
    fresh(keras)
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if data_augmentation is not None:  # the example's "option 1": augmentation inside the model
        x = data_augmentation(x)

    # the first two plain convolutions
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.Conv2D(64, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # the residual

    for size in [128, 256, 512, 728]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # a strided 1 x 1 convolution brings the residual to the block's shape
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x

    x = layers.SeparableConv2D(1024, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        activation = "sigmoid"
        units = 1
    else:
        activation = "softmax"
        units = num_classes

    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(units, activation=activation)(x)
    return keras.Model(inputs, outputs)


def images_and_labels(n, seed, size=image_size):
    """RGB values in [0, 255] as image_dataset_from_directory yields them, labels 0 (cat) and 1 (dog)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.uniform(0, 128, (n, *size, 3)).astype("float32")
    images[labels == 1] += 127  # the "dogs" are brighter, so that there is something to learn
    return images, labels.astype("float32")


def test_data_augmentation_flips_and_rotates_during_training_only(real_keras):
    images, _ = images_and_labels(6, 0)
    for keras, layers, ops in libraries(real_keras):
        data_augmentation = augmentation(keras, layers, ops)
        # The example calls data_augmentation(images) and gets augmented images from Keras; a direct call runs
        # in inference mode in layerwise (README), so training=True asks for the augmentation.
        training = {} if keras is real_keras else {"training": True}
        augmented_images = as_numpy(data_augmentation(images, **training))
        assert augmented_images.shape == images.shape, keras.__name__
        assert not np.allclose(augmented_images, images), keras.__name__
        assert 0.0 <= augmented_images.min() and augmented_images.max() <= 255.0 + 1e-3, keras.__name__
        assert_close(as_numpy(data_augmentation(images, training=False)), images)
        flipped = as_numpy(data_augmentation.layers[0](images, training=True))
        for image, flip in zip(images, flipped):  # each image is either left alone or mirrored left-right
            assert np.allclose(flip, image) or np.allclose(flip, image[:, ::-1]), keras.__name__


def test_summary_at_the_example_s_image_size_matches_keras(real_keras):
    ours, theirs = [make_model(*lib, input_shape=(180, 180) + (3,), num_classes=2) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params()


def test_outputs_and_evaluate_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [make_model(*lib, input_shape=image_size + (3,), num_classes=2) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, y = images_and_labels(4, 1)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-6)


def test_augmentation_inside_the_model_is_inactive_at_inference_as_in_keras(real_keras):
    ours, theirs = [make_model(*lib, input_shape=image_size + (3,), num_classes=2,
                               data_augmentation=augmentation(*lib)) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, _ = images_and_labels(3, 2)
    # Keras 3.15 augments on a direct call theirs(x) (and that call also runs BatchNormalization in training
    # mode, moving its statistics); a direct call is inference in layerwise (README), so Keras is asked for
    # inference explicitly.
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x, training=False)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(ours(x, training=False)), rtol=1e-6, atol=1e-7)


def test_training_with_the_checkpoint_callback_and_inference(real_keras, tmp_path):
    train_x, train_y = images_and_labels(16, 3)
    val_x, val_y = images_and_labels(8, 4)
    epochs = 2  # the example: 25
    results = []
    for keras, layers, ops in libraries(real_keras):
        data_augmentation = augmentation(keras, layers, ops)
        model = make_model(keras, layers, ops, input_shape=image_size + (3,), num_classes=2)
        # The example maps data_augmentation over a tf.data pipeline; here it augments the arrays beforehand
        # (training=True: see the README note on direct calls, above).
        augmented_x = as_numpy(data_augmentation(train_x, training=True))
        folder = tmp_path / keras.__name__
        folder.mkdir()
        callbacks = [
            keras.callbacks.ModelCheckpoint(str(folder / "save_at_{epoch}.keras")),
        ]
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            # The example's jit_compile=True; in Keras it means torch.compile (over a minute here on CPU), so
            # only layerwise gets it.
            jit_compile=keras is not real_keras,
        )
        history = model.fit(
            augmented_x,
            train_y,
            batch_size=8,
            epochs=epochs,
            callbacks=callbacks,
            validation_data=(val_x, val_y),
            verbose=0,
        )
        assert sorted(p.name for p in folder.iterdir()) == ["save_at_1.keras", "save_at_2.keras"], keras.__name__
        reloaded = keras.models.load_model(folder / "save_at_2.keras")
        assert_close(reloaded.predict(val_x, verbose=0), model.predict(val_x, verbose=0), rtol=1e-5, atol=1e-6)

        # Inference on one new image (the example loads PetImages/Cat/6779.jpg at image_size)
        img_array = np.expand_dims(val_x[0], 0)  # the batch axis
        predictions = model.predict(img_array, verbose=0)
        score = float(predictions[0][0])
        assert predictions.shape == (1, 1) and 0.0 <= score <= 1.0
        message = f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog."
        assert message.startswith("This image is ")
        results.append((model, history.history))
    (model, history), (k_model, k_history) = results
    # Keras' trained weights (BatchNormalization's moving statistics included) give the same predictions here.
    model.set_weights(k_model.get_weights())
    assert_close(model.predict(val_x, verbose=0), k_model.predict(val_x, verbose=0), rtol=1e-4, atol=1e-5)
    assert sorted(history) == sorted(k_history)
    assert all(len(v) == epochs for v in history.values())
    assert all(np.isfinite(v).all() for v in history.values())
    # Dropout and the augmentation draw from each library's own generator: both learn the easy task.
    assert history["loss"][-1] < history["loss"][0] and k_history["loss"][-1] < k_history["loss"][0]


def pet_images(root, per_class=10, seed=6):
    """A PetImages folder: Cat/ and Dog/ of small random JPEG files, plus one corrupted file in each."""
    rng = np.random.default_rng(seed)
    for folder_name, low in (("Cat", 0), ("Dog", 100)):
        folder = root / "PetImages" / folder_name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(low, low + 156, (40 + i, 44, 3)).astype("uint8")
            Image.fromarray(pixels).save(folder / f"{i}.jpg", format="JPEG")
        (folder / "666.jpg").write_bytes(b"\x00\x01 not a JPEG at all")
    return root / "PetImages"


def test_the_pet_images_folder_pipeline_and_inference_on_a_file(real_keras, tmp_path):
    from keras.src.utils import dataset_utils

    import layerwise as keras
    from layerwise import layers, ops

    root = pet_images(tmp_path)
    # Filter out corrupted images (the example spells b"JFIF" as tf.compat.as_bytes("JFIF"))
    num_skipped = 0
    for folder_name in ("Cat", "Dog"):
        folder_path = os.path.join(root, folder_name)
        for fname in os.listdir(folder_path):
            fpath = os.path.join(folder_path, fname)
            try:
                fobj = open(fpath, "rb")
                is_jfif = b"JFIF" in fobj.peek(10)
            finally:
                fobj.close()
            if not is_jfif:
                num_skipped += 1
                os.remove(fpath)
    assert num_skipped == 2

    batch_size = 8  # the example: 128
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        root,
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
        verbose=False,
    )
    # Keras' indexing of the folder and its split (what its tf.data pipeline then decodes)
    paths, labels, class_names = dataset_utils.index_directory(
        str(root), "inferred", formats=(".bmp", ".gif", ".jpeg", ".jpg", ".png"), shuffle=True, seed=1337)
    for ds, subset in ((train_ds, "training"), (val_ds, "validation")):
        k_paths, k_labels = dataset_utils.get_training_or_validation_split(paths, labels, 0.2, subset)
        assert ds.class_names == class_names == ["Cat", "Dog"]
        assert list(ds.file_paths) == list(k_paths), subset
        assert list(ds.labels) == list(k_labels), subset
    images, batch_labels = next(iter(train_ds))
    assert tuple(images.shape) == (batch_size, *image_size, 3) and tuple(batch_labels.shape) == (batch_size,)
    assert 0.0 <= float(images.min()) and float(images.max()) <= 255.0

    data_augmentation = augmentation(keras, layers, ops)
    # The example's map and prefetch (AUTOTUNE is tf.data's -1); training=True, as a direct call is inference here.
    train_ds = train_ds.map(lambda img, label: (data_augmentation(img, training=True), label), num_parallel_calls=-1)
    train_ds, val_ds = train_ds.prefetch(-1), val_ds.prefetch(-1)
    model = make_model(keras, layers, ops, input_shape=image_size + (3,), num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, epochs=1, validation_data=val_ds, verbose=0,
                        callbacks=[keras.callbacks.ModelCheckpoint(str(tmp_path / "save_at_{epoch}.keras"))])
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert (tmp_path / "save_at_1.keras").exists()

    # Run inference on a new file (the example's PetImages/Cat/6779.jpg), with Keras 3's spelling of the
    # example's keras.preprocessing.image functions (the test below takes the example's own)
    path = str(root / "Cat" / "3.jpg")
    img = keras.utils.load_img(path, target_size=image_size)
    img_array = keras.utils.img_to_array(img)
    k_img_array = real_keras.utils.img_to_array(real_keras.utils.load_img(path, target_size=image_size))
    assert_close(as_numpy(img_array), k_img_array)
    img_array = ops.expand_dims(img_array, 0)  # the batch axis (the example: tf.expand_dims)
    predictions = model.predict(img_array, verbose=0)
    score = float(predictions[0][0])
    assert predictions.shape == (1, 1) and 0.0 <= score <= 1.0


def test_the_example_s_keras_preprocessing_image_functions(real_keras, tmp_path):
    path = tmp_path / "cat.jpg"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (50, 40, 3)).astype("uint8")).save(path)
    arrays = []
    for keras, _, _ in libraries(real_keras):
        img = keras.preprocessing.image.load_img(path, target_size=image_size)
        arrays.append(as_numpy(keras.preprocessing.image.img_to_array(img)))
    assert arrays[0].shape == (*image_size, 3)
    assert_close(arrays[0], arrays[1])


def test_plot_model(real_keras, tmp_path):
    for keras, layers, ops in libraries(real_keras):
        model = make_model(keras, layers, ops, input_shape=image_size + (3,), num_classes=2)
        try:
            keras.utils.plot_model(model, show_shapes=True, to_file=str(tmp_path / f"{keras.__name__}.png"))
        except ImportError as err:  # both draw with pydot and Graphviz; without them they say which is missing
            assert "pydot" in str(err) or "graphviz" in str(err), keras.__name__
        else:
            assert (tmp_path / f"{keras.__name__}.png").exists(), keras.__name__
