"""keras-io example "Next-frame video prediction with convolutional LSTMs" (examples/vision/conv_lstm.py) run
with ``import layerwise as keras`` and in Keras 3 (torch backend): three ConvLSTM2D layers with
BatchNormalization and a Conv3D head, its summary, outputs from the same weights on sequences of any length,
training with the example's EarlyStopping and ReduceLROnPlateau callbacks (compared epoch by epoch with
Keras) and the frame-by-frame prediction loop. Moving MNIST is not downloaded: small synthetic videos of a
moving square stand in for it, and the matplotlib figures and GIFs are left out.

For speed the frames are 8 x 8 (the example's are 64 x 64) and each ConvLSTM2D has 8 filters (the example's
have 64); everything else is the example's."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

frame_size, filters = 8, 8  # the example: 64 x 64 frames, 64 filters


def next_frame_model(keras, layers, ops, frame_shape=(frame_size, frame_size, 1), filters=filters):
    fresh(keras)
    inp = layers.Input(shape=(None, *frame_shape))
    x = layers.ConvLSTM2D(
        filters=filters,
        kernel_size=(5, 5),
        padding="same",
        return_sequences=True,
        activation="relu",
    )(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters=filters,
        kernel_size=(3, 3),
        padding="same",
        return_sequences=True,
        activation="relu",
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters=filters,
        kernel_size=(1, 1),
        padding="same",
        return_sequences=True,
        activation="relu",
    )(x)
    x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
    model = keras.models.Model(inp, x)
    model.compile(
        loss=keras.losses.binary_crossentropy,
        optimizer=keras.optimizers.Adam(),
    )
    return model


def videos(n, frames, seed):
    """Videos of a bright square moving by one pixel a frame, values in [0, 1] with a channel axis."""
    rng = np.random.default_rng(seed)
    data = np.zeros((n, frames, frame_size, frame_size, 1), dtype="float32")
    for video in data:
        r, c = rng.integers(0, frame_size - 3, 2)
        dr, dc = rng.choice([-1, 1], 2)
        for frame in video:
            frame[r:r + 3, c:c + 3] = 1.0
            r, dr = (r + dr, dr) if 0 <= r + dr <= frame_size - 3 else (r - dr, -dr)
            c, dc = (c + dc, dc) if 0 <= c + dc <= frame_size - 3 else (c - dc, -dc)
    return data


def create_shifted_frames(data):
    x = data[:, 0:data.shape[1] - 1, :, :]
    y = data[:, 1:data.shape[1], :, :]
    return x, y


def test_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [next_frame_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    for frames in (3, 5):  # the model takes sequences of any length
        x = videos(2, frames, frames)
        assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5, what=f"{frames} frames")


def test_the_example_s_input_shape_summary_matches_keras(real_keras):
    # The full-size model is only built (not run): its summary and parameter count at 64 x 64 with 64 filters.
    ours, theirs = [next_frame_model(*lib, frame_shape=(64, 64, 1), filters=64) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params()


def test_training_with_the_callbacks_and_frame_prediction_match_keras(real_keras):
    dataset = videos(10, 5, 0)
    # The example shuffles 1000 videos' indices to split 90% / 10%; here the split is by position.
    train_dataset, val_dataset = dataset[:8], dataset[8:]
    x_train, y_train = create_shifted_frames(train_dataset)
    x_val, y_val = create_shifted_frames(val_dataset)
    ours, theirs = [next_frame_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    # The example: 20 epochs of batches of 5 (shuffled); kept in order here so the losses can be compared.
    epochs, batch_size = 3, 4
    results = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
        reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
        history = model.fit(
            x_train,
            y_train,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=(x_val, y_val),
            callbacks=[early_stopping, reduce_lr],
            shuffle=False,
            verbose=0,
        )
        # Predict new frames one at a time from the first frames of a validation video (10 and 10 in the
        # example, 2 and 3 here), feeding each prediction back in.
        example = val_dataset[0]
        frames = example[:2, ...]
        for _ in range(3):
            new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
            new_prediction = np.squeeze(new_prediction, axis=0)
            predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
            frames = np.concatenate((frames, predicted_frame), axis=0)
        results.append((history.history, frames))
    (history, frames), (k_history, k_frames) = results
    assert sorted(history) == sorted(k_history)
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    assert history["loss"][-1] < history["loss"][0]
    assert frames.shape == (5, frame_size, frame_size, 1)
    assert_close(frames, k_frames, rtol=1e-3, atol=1e-5)
