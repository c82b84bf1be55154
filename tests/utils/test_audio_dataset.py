"""audio_dataset_from_directory: WAV decoding and scaling, Keras' file order, labels and splits, padding,
bad files, and fit on it. TensorFlow is not installed, so ``tf.audio.decode_wav`` is checked through its
documented scaling (16-bit ``value / 32768``), not run."""
import os
import sys
import wave
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import layerwise as keras
from layerwise import layers as L
from layerwise.utils import audio_dataset_from_directory, image_dataset_from_directory
from layerwise.utils.audio_dataset import decode_wav

RATE = 8000
PERIODS = {"high": 4, "low": 32}  # samples per cycle of each class's tone


def write_wav(path, samples: np.ndarray, width: int = 2, rate: int = RATE) -> None:
    """Integer PCM ``samples`` ``(frames, channels)`` (unsigned for 8-bit) to a WAV file."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        if width == 3:  # the low 3 bytes of each little-endian int32
            f.writeframes(samples.astype("<i4").view("u1").reshape(-1, 4)[:, :3].tobytes())
        else:
            f.writeframes(samples.astype({1: "u1", 2: "<i2", 4: "<i4"}[width]).tobytes())


def tone(period: int, frames: int, phase: int = 0) -> np.ndarray:
    """A 16-bit mono sine ``(frames, 1)``."""
    t = np.arange(frames) + phase
    return np.round(12000 * np.sin(2 * np.pi * t / period)).astype(np.int64)[:, None]


def make_folder(root, per_class: int = 6) -> tuple[str, dict]:
    """``root/<class>/`` with 16-bit mono tones of lengths 40..(40 + 4 * per_class), one file nested, one named
    .WAV, and a text file; returns the folder and each WAV's written integer samples by path."""
    written = {}
    for name, period in PERIODS.items():
        os.makedirs(root / name / "more")
        for i in range(per_class):
            where = root / name / "more" if i == 0 else root / name
            path = os.path.join(where, f"{i:02d}.WAV" if i == 1 else f"{i:02d}.wav")
            written[path] = tone(period, 40 + 4 * i, phase=i)
            write_wav(path, written[path])
        (root / name / "notes.txt").write_text("not audio")
    return str(root), written


def all_batches(ds):
    xs, ys = zip(*list(ds))
    return list(xs), torch.cat(ys)


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data")


def test_decoding_scales_each_pcm_width(tmp_path):
    stereo = np.array([[-32768, 32767], [0, -1], [16384, -16384]])
    write_wav(tmp_path / "s16.wav", stereo)
    audio, rate = decode_wav(str(tmp_path / "s16.wav"))
    assert rate == RATE and audio.dtype == np.float32 and audio.shape == (3, 2)
    np.testing.assert_array_equal(audio, stereo / 32768.0)  # tf.audio.decode_wav's 16-bit scaling
    assert audio[0].tolist() == [-1.0, 32767 / 32768]
    write_wav(tmp_path / "u8.wav", np.array([[0], [128], [255], [64]]), width=1)
    np.testing.assert_array_equal(decode_wav(str(tmp_path / "u8.wav"))[0][:, 0], [-1.0, 0.0, 127 / 128, -0.5])
    s24 = np.array([[-2 ** 23], [2 ** 23 - 1], [-5], [1234567]])
    write_wav(tmp_path / "s24.wav", s24, width=3)
    np.testing.assert_array_equal(decode_wav(str(tmp_path / "s24.wav"))[0], (s24 / 2.0 ** 23).astype("float32"))
    s32 = np.array([[-2 ** 31, 7], [2 ** 31 - 1, -2 ** 30]])
    write_wav(tmp_path / "s32.wav", s32, width=4)
    np.testing.assert_array_equal(decode_wav(str(tmp_path / "s32.wav"))[0], (s32 / 2.0 ** 31).astype("float32"))
    # desired_samples cuts or zero-pads at the end, as decode_wav's
    np.testing.assert_array_equal(decode_wav(str(tmp_path / "s16.wav"), 2)[0], stereo[:2] / 32768.0)
    padded = decode_wav(str(tmp_path / "s16.wav"), 5)[0]
    np.testing.assert_array_equal(padded, np.concatenate([stereo / 32768.0, np.zeros((2, 2))]))


def test_shapes_labels_class_order_and_padding_to_the_batch(folder, capsys):
    root, written = folder
    ds = audio_dataset_from_directory(root, batch_size=5, shuffle=False)
    assert "Found 12 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["high", "low"] and len(ds) == 3 and len(ds.file_paths) == 12
    # Keras' order: a class folder's own files (sorted) before its sub-folders'; .WAV counts
    assert ds.file_paths[:2] + ds.file_paths[5:6] == [os.path.join(root, *p) for p in
                                                      (("high", "01.WAV"), ("high", "02.wav"),
                                                       ("high", "more", "00.wav"))]
    xs, y = all_batches(ds)
    assert y.dtype == torch.int32 and y.tolist() == [0] * 6 + [1] * 6
    lengths = [len(written[p]) for p in ds.file_paths]
    for b, x in enumerate(xs):
        assert x.dtype == torch.float32 and x.shape == (len(x), max(lengths[5 * b:5 * b + 5]), 1)
        for row, path in zip(x, ds.file_paths[5 * b:5 * b + 5]):
            clip = written[path] / 32768.0
            np.testing.assert_array_equal(row[:len(clip)].numpy(), clip)
            assert not row[len(clip):].any()  # zeros after the clip
    assert [x.shape[1] for x in xs] == [60, 56, 60]  # high 01-05; high 00 (40) and low 01-04; low 05 and 00


def test_label_modes_no_labels_and_single_samples(folder):
    root, _ = folder
    _, y = all_batches(audio_dataset_from_directory(root, label_mode="categorical", seed=1, verbose=False))
    assert y.shape == (12, 2) and y.dtype == torch.float32 and y.sum() == 12
    _, y = all_batches(audio_dataset_from_directory(root, label_mode="binary", seed=1, verbose=False))
    assert y.shape == (12, 1) and set(y.flatten().tolist()) == {0.0, 1.0}
    batches = list(audio_dataset_from_directory(root, labels=None, batch_size=8, verbose=False))
    assert [tuple(b.shape) for b in batches] == [(8, batches[0].shape[1], 1), (4, batches[1].shape[1], 1)]
    single = list(audio_dataset_from_directory(root, batch_size=None, shuffle=False, verbose=False))
    assert len(single) == 12 and single[0][0].shape == (44, 1) and single[0][1].shape == ()
    ds = audio_dataset_from_directory(root, labels=[i % 3 for i in range(12)], shuffle=False, verbose=False)
    assert ds.class_names == ["0", "1", "2"] and ds.labels.tolist() == [i % 3 for i in range(12)]
    ds = audio_dataset_from_directory(root, class_names=["low", "high"], shuffle=False, verbose=False)
    assert ds.labels.tolist() == [0] * 6 + [1] * 6 and ds.file_paths[0].startswith(os.path.join(root, "low"))


def test_output_sequence_length_cuts_and_pads(folder):
    root, written = folder
    ds = audio_dataset_from_directory(root, output_sequence_length=50, batch_size=4, shuffle=False, verbose=False)
    xs, _ = all_batches(ds)
    assert all(x.shape[1:] == (50, 1) for x in xs)
    x = torch.cat(xs)
    for row, path in zip(x, ds.file_paths):
        clip = written[path][:50, 0] / 32768.0
        np.testing.assert_array_equal(row[:len(clip), 0].numpy(), clip)
        assert not row[len(clip):].any()


def test_ragged_gives_each_clip_its_own_length(folder):
    root, written = folder
    ds = audio_dataset_from_directory(root, ragged=True, batch_size=5, shuffle=False, verbose=False)
    x, y = next(iter(ds))
    assert isinstance(x, list) and len(x) == 5 and y.shape == (5,)
    assert [tuple(c.shape) for c in x] == [(len(written[p]), 1) for p in ds.file_paths[:5]]
    with pytest.raises(ValueError, match="ragged=True and output_sequence_length"):
        audio_dataset_from_directory(root, ragged=True, output_sequence_length=8, verbose=False)


def test_mixed_channels_pad_as_padded_batch(tmp_path):
    os.makedirs(tmp_path / "a")
    write_wav(tmp_path / "a" / "1.wav", np.array([[100], [200]]))
    write_wav(tmp_path / "a" / "2.wav", np.array([[1, 2], [3, 4], [5, 6]]))
    x, _ = next(iter(audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False)))
    expected = np.array([[[100, 0], [200, 0], [0, 0]], [[1, 2], [3, 4], [5, 6]]]) / 32768.0
    np.testing.assert_array_equal(x.numpy(), expected)


def twin_image_folder(root, audio_paths, audio_root) -> str:
    """The same class folders and file names as the audio folder, as PNG images."""
    for path in audio_paths:
        twin = os.path.join(root, os.path.relpath(os.path.splitext(path)[0], audio_root) + ".png")
        os.makedirs(os.path.dirname(twin), exist_ok=True)
        Image.new("L", (2, 2)).save(twin)
    return str(root)


def stems(paths, root) -> list[str]:
    return [os.path.relpath(os.path.splitext(p)[0], root) for p in paths]


def test_validation_split_matches_keras_and_the_image_loader(folder, tmp_path, keras):
    from keras.src.utils import dataset_utils

    root, written = folder
    kw = dict(validation_split=0.25, seed=7, verbose=False)
    train = audio_dataset_from_directory(root, subset="training", **kw)
    val = audio_dataset_from_directory(root, subset="validation", **kw)
    assert (len(train.file_paths), len(val.file_paths)) == (9, 3)
    paths, labels, names = dataset_utils.index_directory(root, "inferred", (".wav",), seed=7, verbose=False)
    k_train, k_train_labels = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "training")
    k_val, _ = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "validation")
    assert (train.file_paths, val.file_paths, train.class_names) == (k_train, k_val, names)
    assert train.labels.tolist() == list(k_train_labels)
    images = twin_image_folder(tmp_path / "twin", written, root)
    i_train, i_val = image_dataset_from_directory(images, image_size=2, subset="both", **kw)
    assert stems(train.file_paths, root) == stems(i_train.file_paths, images)
    assert stems(val.file_paths, root) == stems(i_val.file_paths, images)
    both = audio_dataset_from_directory(root, subset="both", batch_size=2, **kw)
    assert [d.file_paths for d in both] == [k_train, k_val]
    assert all_batches(both[1])[1].tolist() == all_batches(both[1])[1].tolist() == both[1].labels.tolist()
    with pytest.raises(ValueError, match="seed"):
        audio_dataset_from_directory(root, validation_split=0.25, subset="training", verbose=False)


def test_sampling_rate_resamples_after_fixing_the_length(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "a")
    write_wav(tmp_path / "a" / "slow.wav", tone(64, 256))
    ds = audio_dataset_from_directory(tmp_path, sampling_rate=RATE // 2, shuffle=False, verbose=False)
    x, _ = next(iter(ds))
    assert x.shape == (1, 128, 1)
    # away from the edges the tone is now 32 samples per cycle
    np.testing.assert_allclose(x[0, 16:112, 0].numpy(), tone(32, 128)[16:112, 0] / 32768.0, atol=2e-3)
    x, _ = next(iter(audio_dataset_from_directory(tmp_path, sampling_rate=RATE // 2, output_sequence_length=100,
                                                  verbose=False)))
    assert x.shape == (1, 50, 1)  # Keras cuts at the file's rate, then resamples
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    with pytest.raises(ImportError, match="sampling_rate resamples with scipy"):
        audio_dataset_from_directory(tmp_path, sampling_rate=RATE, verbose=False)


def test_broken_files_are_skipped_with_one_warning(folder):
    root, written = folder
    bad = [os.path.join(root, "high", "garbage.wav"), os.path.join(root, "high", "empty.wav"),
           os.path.join(root, "low", "float.wav"), os.path.join(root, "low", "cut.wav")]
    with open(bad[0], "wb") as f:
        f.write(b"RIFF\x10\x00\x00\x00this is no wave")
    open(bad[1], "wb").close()
    with open(bad[2], "wb") as f:  # IEEE float (format 3), which neither TensorFlow nor this loader reads
        f.write(b"RIFF" + (36 + 8).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
                + (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + RATE.to_bytes(4, "little")
                + (4 * RATE).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
                + b"data" + (8).to_bytes(4, "little") + np.zeros(2, "<f4").tobytes())
    write_wav(bad[3], tone(4, 20))
    with open(bad[3], "r+b") as f:
        f.truncate(os.path.getsize(bad[3]) - 10)
    with pytest.raises(ValueError, match="announces 20 frames but the data holds 15"):
        decode_wav(bad[3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = audio_dataset_from_directory(root, shuffle=False, verbose=False)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Skipped 4 of 16" in message and all(path in message for path in bad)
    assert len(ds.file_paths) == len(ds.clips) == len(ds.labels) == 12 and not set(bad) & set(ds.file_paths)
    x = next(iter(ds))[0]
    for row, path in zip(x, ds.file_paths):
        np.testing.assert_array_equal(row[:len(written[path])].numpy(), written[path] / 32768.0)


def test_empty_flat_and_undecodable_folders_raise(tmp_path):
    os.makedirs(tmp_path / "empty" / "cats")
    with pytest.raises(ValueError, match="No audio files found"):
        audio_dataset_from_directory(tmp_path / "empty", verbose=False)
    os.makedirs(tmp_path / "flat")
    write_wav(tmp_path / "flat" / "a.wav", tone(4, 8))
    with pytest.raises(ValueError, match="no class sub-folders.*1 audio file"):
        audio_dataset_from_directory(tmp_path / "flat", verbose=False)
    assert len(audio_dataset_from_directory(tmp_path / "flat", labels=None, verbose=False).clips) == 1
    os.makedirs(tmp_path / "junk" / "a")
    (tmp_path / "junk" / "a" / "x.wav").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="Skipped 1 of 1"), pytest.raises(ValueError, match="None of the 1"):
        audio_dataset_from_directory(tmp_path / "junk", verbose=False)
    with pytest.raises(FileNotFoundError, match="audio_dataset_from_directory"):
        audio_dataset_from_directory(tmp_path / "missing", verbose=False)


def test_fit_a_conv1d_on_two_tones(tmp_path):
    keras.utils.set_random_seed(0)
    root, _ = make_folder(tmp_path / "tones", per_class=8)
    train, val = audio_dataset_from_directory(root, batch_size=4, validation_split=0.25, subset="both", seed=3,
                                              label_mode="binary", verbose=False)
    model = keras.Sequential([keras.Input((None, 1)), L.Conv1D(4, 5, activation="relu"),
                              L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=15, verbose=0)
    assert history.history["val_accuracy"][-1] == 1.0 and history.history["loss"][-1] < 0.3
    assert model.predict(val, verbose=0).shape == (4, 1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(labels=None, class_names=["high"]), "class_names"),
    (dict(subset="training"), "validation_split must be set"),
    (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
    (dict(sampling_rate=0), "sampling_rate must be a positive int"),
    (dict(sampling_rate=8000.0), "sampling_rate must be a positive int"),
    (dict(output_sequence_length=0), "output_sequence_length must be a positive int"),
])
def test_bad_arguments_raise(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        audio_dataset_from_directory(folder[0], verbose=False, **kwargs)


@pytest.mark.xfail(strict=True, reason="tf.audio.decode_wav (Keras) reads only 16-bit PCM and fails on 8-, 24- "
                                       "and 32-bit files; layerwise decodes them with the same scaling")
def test_other_pcm_widths_are_refused_as_in_keras(tmp_path):
    os.makedirs(tmp_path / "a")
    write_wav(tmp_path / "a" / "u8.wav", np.array([[0], [255]]), width=1)
    with pytest.warns(UserWarning, match="Skipped 1 of 1"), pytest.raises(ValueError):
        audio_dataset_from_directory(tmp_path, verbose=False)


@pytest.mark.xfail(strict=True, reason="Keras pads channels only in padded_batch; with output_sequence_length it "
                                       "batches with tf.data's batch, which fails on clips with different channel "
                                       "counts; layerwise zero-pads the missing channels there too")
def test_mixed_channels_with_a_fixed_length_fail_as_in_keras(tmp_path):
    os.makedirs(tmp_path / "a")
    write_wav(tmp_path / "a" / "1.wav", np.array([[100], [200]]))
    write_wav(tmp_path / "a" / "2.wav", np.array([[1, 2], [3, 4]]))
    with pytest.raises((ValueError, RuntimeError)):
        next(iter(audio_dataset_from_directory(tmp_path, output_sequence_length=2, verbose=False)))
