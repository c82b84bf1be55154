"""Folders of class sub-folders -> a file list and labels, shared by the image, text and audio dataset loaders.

The file order, the seeded shuffle and the validation split follow Keras 3
(``keras/src/utils/dataset_utils.py``) step for step, so the same ``seed`` and ``validation_split``
put the same files in the same subset.
"""
from __future__ import annotations

import copy
import math
import os
from typing import Callable, Iterator, Sequence

import numpy as np

from layerwise.utils.dataset_methods import DatasetMethods, map_element
from layerwise.utils.numerical import to_categorical

class FolderDataset(DatasetMethods):
    """Samples read from a folder and their encoded labels, served as ``(x, y)`` batches (``x`` alone
    without labels) in a new order each pass when ``shuffle`` is set. Subclasses say how a batch of
    samples and of labels looks (``_rows``); ``map`` transforms the batches as ``tf.data``'s ``map`` does,
    and the other common ``tf.data`` methods come from :class:`DatasetMethods`.
    """

    def __init__(self, samples: np.ndarray, labels: np.ndarray | None, class_names: list[str] | None,
                 file_paths: list[str], batch_size: int | None, shuffle: bool, seed: int):
        self.samples, self.labels = samples, labels
        self.class_names, self.file_paths = class_names, file_paths
        self.batch_size, self._shuffle = batch_size, shuffle
        self._rng = np.random.default_rng(seed)  # one stream: every pass draws a fresh order
        self._fns: list[Callable] = []

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    def __len__(self) -> int:
        """Number of batches (of samples when ``batch_size`` is None, as Keras' unbatched datasets)."""
        return self.num_samples if self.batch_size is None else math.ceil(self.num_samples / self.batch_size)

    def map(self, map_func: Callable, num_parallel_calls=None, deterministic=None, name=None) -> "FolderDataset":
        """The same samples, batches passed through ``map_func(x, y)`` (``map_func(x)`` without labels), e.g.
        ``ds.map(lambda x, y: (x / 255.0, y))``. Nothing is copied; the result is still a dataset of this
        class (``class_names``, ``file_paths``). ``num_parallel_calls`` and ``deterministic`` change nothing."""
        mapped = copy.copy(self)
        mapped._fns = [*self._fns, map_func]
        return mapped

    def select_rows(self, rows: np.ndarray) -> "FolderDataset":
        """A dataset of this class holding the samples ``rows`` (int ``(k,)``), in that order, with their labels
        and file paths; ``class_names``, ``batch_size``, shuffling and ``map`` functions are kept, and the
        shuffle stream is a copy, so iterating one dataset does not change the other's order. The samples are
        copied (``split_dataset``'s two sides: together one more copy of the data)."""
        subset = copy.copy(self)
        subset.samples = (self.samples[rows] if isinstance(self.samples, np.ndarray)
                          else [self.samples[i] for i in rows])
        subset.labels = None if self.labels is None else self.labels[rows]
        subset.file_paths = [self.file_paths[i] for i in rows]
        subset._rng = copy.deepcopy(self._rng)
        return subset

    def _rows(self, values: np.ndarray, pick):
        """The rows ``pick`` (an index, or a slice or index array for a batch) of samples or labels."""
        return values[pick]

    def __iter__(self) -> Iterator:
        order = self._rng.permutation(self.num_samples) if self._shuffle else None
        step = 1 if self.batch_size is None else self.batch_size
        for start in range(0, self.num_samples, step):
            if self.batch_size is None:  # single samples, as Keras' batch_size=None
                pick = start if order is None else int(order[start])
            else:
                pick = slice(start, start + step) if order is None else order[start:start + step]
            x = self._rows(self.samples, pick)
            batch = x if self.labels is None else (x, self._rows(self.labels, pick))
            for fn in self._fns:
                batch = map_element(fn, batch)
            yield batch


def check_label_arguments(labels, label_mode, class_names) -> tuple:
    """Keras' checks of ``labels``, ``label_mode`` and ``class_names``; returns ``(labels, label_mode)``
    with both None when there are no labels."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f"labels must be 'inferred', None, or a list/tuple of integer labels, got {labels!r}.")
        if class_names:
            raise ValueError("class_names can only be given with labels='inferred'.")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"label_mode must be 'int', 'categorical', 'binary' or None, got {label_mode!r}.")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
        if class_names is not None:
            raise ValueError("class_names cannot be given without labels (labels=None or label_mode=None).")
    return labels, label_mode


def check_split_arguments(validation_split, subset, shuffle: bool, seed) -> None:
    """Keras' checks of ``validation_split`` and ``subset``."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}.")
    if bool(validation_split) != bool(subset):
        raise ValueError("If subset is set, validation_split must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset must be 'training', 'validation' or 'both', got {subset!r}.")
    if validation_split and shuffle and seed is None:
        raise ValueError("With validation_split and shuffle=True, pass a seed so that the training and "
                         "validation subsets do not overlap.")


def _class_subdirs(directory: str, class_names: Sequence[str] | None, formats: tuple[str, ...],
                   kind: str) -> list[str]:
    """Keras' class folders: sorted visible sub-folders, or the given ``class_names`` in their order."""
    subdirs = [d for d in sorted(os.listdir(directory))
               if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
    if class_names is not None:
        if not set(class_names).issubset(subdirs):
            raise ValueError(f"class_names={list(class_names)} do not match the sub-folders of {directory}: "
                             f"expected names among {subdirs}.")
        return list(class_names)
    if not subdirs:
        loose = sum(f.lower().endswith(formats) for f in os.listdir(directory))
        raise ValueError(f"{directory} has no class sub-folders. With labels='inferred' each class needs its own "
                         f"folder (e.g. {directory}/cats/1{formats[-1]}, {directory}/dogs/2{formats[-1]}); it holds "
                         f"{loose} {kind} file(s) directly. Pass labels=None to load those without labels.")
    return subdirs


def _index_subdir(directory: str, subdir: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    """Files with an allowed extension under ``directory/subdir`` (recursively), in Keras' order."""
    root_dir = os.path.join(directory, subdir)
    paths = []
    for root, _, files in sorted(os.walk(root_dir, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                paths.append(os.path.join(directory, subdir, os.path.relpath(os.path.join(root, name), root_dir)))
    return paths


def index_directory(directory: str, labels, class_names, formats: tuple[str, ...], follow_links: bool,
                    shuffle: bool, seed: int, verbose: bool, kind: str, found: str
                    ) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """Keras' ``index_directory``: ``(file paths, integer labels or None, class names or None)``, shuffled
    with ``seed`` when ``shuffle``. ``kind`` ('image', 'text') and ``found`` ('images', 'text files') name
    the files in messages."""
    subdirs = _class_subdirs(directory, class_names, formats, kind) if labels == "inferred" else [""]
    file_paths, label_list = [], []
    for index, subdir in enumerate(subdirs):
        paths = _index_subdir(directory, subdir, follow_links, formats)
        file_paths += paths
        label_list += [index] * len(paths)
    if not file_paths:
        raise ValueError(f"No {found} found in {directory}. Allowed formats: {formats}.")
    if labels == "inferred":
        names, label_array = subdirs, np.asarray(label_list, dtype=np.int32)
    elif labels is None:
        names, label_array = None, None
    else:
        if len(labels) != len(file_paths):
            raise ValueError(f"len(labels) is {len(labels)} but {directory} holds {len(file_paths)} {kind} files.")
        names, label_array = [str(v) for v in sorted(set(labels))], np.asarray(labels)
    if verbose:
        print(f"Found {len(file_paths)} files." if names is None
              else f"Found {len(file_paths)} files belonging to {len(names)} classes.")
    if shuffle:  # two RandomStates with one seed: the same permutation of paths and labels, as Keras
        np.random.RandomState(seed).shuffle(file_paths)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)
    return file_paths, label_array, names


def check_label_values(label_array: np.ndarray | None, label_mode, names) -> None:
    """The class count that 'binary' needs, and labels in range for 'categorical'."""
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, found {len(names)}: {names}.")
    if label_array is not None and label_mode == "categorical" and (label_array.min() < 0 or
                                                                    label_array.max() >= len(names)):
        raise ValueError(f"labels must lie in [0, {len(names) - 1}] for label_mode='categorical'.")


def split(n: int, validation_split: float | None, subset: str | None) -> dict[str, slice]:
    """Keras' split of the shuffled list: validation is the last ``int(validation_split * n)`` files."""
    if not validation_split:
        return {"all": slice(0, n)}
    num_val = int(validation_split * n)
    if num_val == 0:  # Keras would slice [:-0] and end with an empty training set
        raise ValueError(f"validation_split={validation_split} of {n} files leaves no validation files.")
    parts = {"training": slice(0, n - num_val), "validation": slice(n - num_val, n)}
    return parts if subset == "both" else {subset: parts[subset]}


def indexed_subsets(directory, labels, label_mode, class_names, formats: tuple[str, ...], follow_links: bool,
                    shuffle: bool, seed: int | None, validation_split, subset, verbose: bool, kind: str, found: str):
    """What both folder loaders do before reading files: index ``directory`` (``index_directory``), check the
    labels, and split. Returns ``(file paths, integer labels or None, class names, {subset: slice}, seed)``;
    a missing ``seed`` is drawn from numpy's global stream, as Keras does, so ``set_random_seed`` repeats it.
    ``verbose`` hides "Found N files..." but not "Using N files for training/validation.", as in Keras."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{kind}_dataset_from_directory: {directory} is not a directory.")
    if seed is None:
        seed = int(np.random.randint(1e6))
    file_paths, label_array, names = index_directory(directory, labels, class_names, formats, follow_links,
                                                     shuffle, seed, verbose, kind, found)
    check_label_values(label_array, label_mode, names)
    parts = split(len(file_paths), validation_split, subset)
    if validation_split:  # whatever ``verbose`` says, as Keras' get_training_or_validation_split
        for name, part in parts.items():
            print(f"Using {part.stop - part.start} files for {name}.")
    return file_paths, label_array, names, parts, seed


def encode_labels(labels: np.ndarray, label_mode: str, num_classes: int) -> np.ndarray:
    """Integer labels as Keras' ``label_mode`` gives them: int32 (n,), one-hot (n, C) or float (n, 1)."""
    if label_mode == "int":
        return labels.astype(np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    return to_categorical(labels, num_classes, dtype="float32")
