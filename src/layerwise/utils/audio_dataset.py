"""Keras' ``audio_dataset_from_directory``: a folder of class sub-folders of .wav files -> batches.

Files, labels, shuffling and the validation split follow Keras 3 (``utils/dataset_files.py``). The
clips are decoded once, with Python's ``wave`` module, into float32 arrays scaled as
``tf.audio.decode_wav`` scales 16-bit PCM (``value / 32768``); 8-, 24- and 32-bit PCM, which
TensorFlow refuses, are scaled the same way (``(byte - 128) / 128``, ``value / 2**23``, ``value / 2**31``).
Files that are not PCM WAV are skipped and reported in one warning, as the image loader does.
"""
from __future__ import annotations

import math
import warnings
import wave

import numpy as np
import torch

from layerwise.utils.dataset_files import (FolderDataset, check_label_arguments, check_split_arguments,
                                           encode_labels, indexed_subsets)

ALLOWLIST_FORMATS = (".wav",)
_DECODE_ERRORS = (wave.Error, EOFError, OSError, ValueError)


class AudioDataset(FolderDataset):
    """Decoded clips and encoded labels, served as shuffled ``(audio, labels)`` batches.

    ``clips``: one float32 array ``(samples, channels)`` per file, in [-1, 1]. ``labels``: int32 ``(n,)``
    ('int'), float32 ``(n, classes)`` ('categorical'), float32 ``(n, 1)`` ('binary'), or None. Iterating
    yields float32 tensors ``(batch, samples, channels)``, zero-padded at the end to the batch's longest clip
    (and its widest channel count) as ``tf.data``'s ``padded_batch``, or a list of ``(samples, channels)``
    tensors when ``ragged``; with the matching label rows as tensors (audio alone without labels), in a new
    order each pass when ``shuffle`` is set. ``batch_size=None`` yields single ``(samples, channels)`` clips.
    """

    ragged = False

    @property
    def clips(self) -> np.ndarray:
        return self.samples

    def _rows(self, values: np.ndarray, pick):
        if values is not self.samples:
            return torch.from_numpy(values)[torch.as_tensor(pick) if isinstance(pick, np.ndarray) else pick]
        if not isinstance(pick, (slice, np.ndarray)):
            return torch.tensor(values[pick])  # a copy: ``map`` may change the batch in place
        clips = [torch.tensor(clip) for clip in values[pick]]
        return clips if self.ragged else pad_batch(clips)

    def __repr__(self) -> str:
        return f"AudioDataset({self.num_samples} clips, {len(self)} batches, class_names={self.class_names})"


def pad_batch(clips: list[torch.Tensor]) -> torch.Tensor:
    """Clips ``(samples_i, channels_i)`` -> ``(batch, max samples, max channels)``, zeros after each clip."""
    samples = max(clip.shape[0] for clip in clips)
    channels = max(clip.shape[1] for clip in clips)
    batch = torch.zeros(len(clips), samples, channels)
    for row, clip in zip(batch, clips):
        row[:clip.shape[0], :clip.shape[1]] = clip
    return batch


def _pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian PCM samples of ``width`` bytes -> float32 in [-1, 1)."""
    if width == 1:  # 8-bit WAV is unsigned, silence at 128
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 3:  # no numpy int24: put the 3 bytes high in an int32, then shift back keeping the sign
        wide = np.zeros((len(data) // 3, 4), np.uint8)
        wide[:, 1:] = np.frombuffer(data, np.uint8).reshape(-1, 3)
        values = wide.view("<i4").ravel() >> 8
    else:
        values = np.frombuffer(data, f"<i{width}")
    return (values.astype(np.float64) / 2.0 ** (8 * width - 1)).astype(np.float32)


def decode_wav(path: str, desired_samples: int | None = None) -> tuple[np.ndarray, int]:
    """A PCM WAV file as float32 ``(samples, channels)`` and its sampling rate, as ``tf.audio.decode_wav``:
    cut or zero-padded at the end to ``desired_samples`` when given. Raises ``wave.Error`` (not PCM, bad
    header), ``EOFError`` or ``ValueError`` (data shorter than the header says) for broken files."""
    with wave.open(path, "rb") as f:
        channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
        data = f.readframes(frames)
    if len(data) != frames * channels * width:
        raise ValueError(f"{path}: the header announces {frames} frames but the data holds "
                         f"{len(data) // (channels * width)}.")
    audio = _pcm_to_float(data, width).reshape(frames, channels)
    if desired_samples is not None and desired_samples != frames:
        fitted = np.zeros((desired_samples, channels), np.float32)
        fitted[:min(frames, desired_samples)] = audio[:desired_samples]
        audio = fitted
    return audio, rate


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``audio`` ``(samples, channels)`` from ``rate_in`` to ``rate_out`` Hz by scipy's polyphase filter."""
    if rate_in == rate_out:
        return audio
    from scipy.signal import resample_poly  # checked for in _check_arguments

    step = math.gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // step, rate_in // step, axis=0).astype(np.float32)


def _check_arguments(labels, label_mode, class_names, sampling_rate, output_sequence_length, ragged: bool,
                     validation_split, subset, shuffle: bool, seed) -> tuple:
    """Keras' argument checks; returns ``(labels, label_mode)`` normalised (no labels -> both None)."""
    labels, label_mode = check_label_arguments(labels, label_mode, class_names)
    if ragged and output_sequence_length is not None:
        raise ValueError("audio_dataset_from_directory: ragged=True and output_sequence_length cannot both be set.")
    if output_sequence_length is not None and (isinstance(output_sequence_length, bool)
                                               or not isinstance(output_sequence_length, int)
                                               or output_sequence_length < 1):
        raise ValueError(f"audio_dataset_from_directory: output_sequence_length must be a positive int or None, "
                         f"got {output_sequence_length!r}.")
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate <= 0:
            raise ValueError(f"audio_dataset_from_directory: sampling_rate must be a positive int (samples per "
                             f"second) or None, got {sampling_rate!r}.")
        try:
            import scipy.signal  # noqa: F401
        except ImportError as err:
            raise ImportError("audio_dataset_from_directory: sampling_rate resamples with scipy.signal, which is "
                              "not installed (pip install scipy); Keras needs tensorflow-io for it.") from err
    check_split_arguments(validation_split, subset, shuffle, seed)
    return labels, label_mode


def _decode_all(paths: list[str], sampling_rate: int | None, output_sequence_length: int | None) -> list:
    """Each file's float32 ``(samples, channels)``, or None where it could not be decoded."""
    clips = []
    for path in paths:
        try:
            audio, rate = decode_wav(path, output_sequence_length)
        except _DECODE_ERRORS:
            clips.append(None)
            continue
        # Keras fixes the length at the file's own rate, then resamples
        clips.append(audio if sampling_rate is None else _resample(audio, rate, sampling_rate))
    return clips


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 batch_size: int | None = 32, sampling_rate: int | None = None,
                                 output_sequence_length: int | None = None, ragged: bool = False,
                                 shuffle: bool = True, seed: int | None = None,
                                 validation_split: float | None = None, subset: str | None = None,
                                 follow_links: bool = False,
                                 verbose: bool = True) -> AudioDataset | tuple[AudioDataset, AudioDataset]:
    """The .wav files in ``directory/<class>/...`` as an :class:`AudioDataset` of ``(audio, labels)`` batches.

    ``audio``: float32 ``(batch, samples, channels)`` in [-1, 1]; ``samples`` is ``output_sequence_length``
    (longer clips cut, shorter ones zero-padded) or else the batch's longest clip. ``ragged=True`` gives a list
    of ``(samples_i, channels)`` tensors instead (Keras: a ``tf.RaggedTensor``). ``sampling_rate`` resamples
    every clip to that rate (with scipy; Keras uses tensorflow-io). Labels per ``label_mode``: 'int' (int32
    ``(batch,)``), 'categorical' (float32 one-hot ``(batch, classes)``), 'binary' (float32 ``(batch, 1)``) or
    None (audio alone). ``labels`` may also be a list of integer labels, one per file in ``os.walk`` order, or
    None. ``subset='both'`` returns ``(training, validation)``, the latter unshuffled, as Keras.
    """
    labels, label_mode = _check_arguments(labels, label_mode, class_names, sampling_rate, output_sequence_length,
                                          ragged, validation_split, subset, shuffle, seed)
    file_paths, label_array, names, parts, seed = indexed_subsets(
        directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, follow_links, shuffle, seed,
        validation_split, subset, verbose, "audio", "audio files")

    # ---- decode only the files that a returned subset needs ----
    start, stop = min(p.start for p in parts.values()), max(p.stop for p in parts.values())
    clips = _decode_all(file_paths[start:stop], sampling_rate, output_sequence_length)
    bad = [file_paths[start + i] for i, clip in enumerate(clips) if clip is None]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(f"Skipped {len(bad)} of {stop - start} audio files that are not PCM WAV files: {shown}.",
                      stacklevel=2)
    if len(bad) == stop - start:
        raise ValueError(f"None of the {stop - start} audio files in {directory} could be decoded as PCM WAV.")

    datasets = []
    for name, part in parts.items():
        keep = [i for i in range(part.start, part.stop) if clips[i - start] is not None]
        if not keep:
            raise ValueError(f"No decodable audio files left for the {name} subset of {directory}.")
        x = np.empty(len(keep), dtype=object)  # clips differ in length: one array each
        for row, i in enumerate(keep):
            x[row] = clips[i - start]
        y = None if label_array is None else encode_labels(label_array[keep], label_mode, len(names))
        dataset = AudioDataset(x, y, names, [file_paths[i] for i in keep], batch_size,
                               shuffle and not (subset == "both" and name == "validation"), seed)
        dataset.ragged = ragged
        datasets.append(dataset)
    return tuple(datasets) if subset == "both" else datasets[0]
