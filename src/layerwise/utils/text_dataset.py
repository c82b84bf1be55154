"""Keras' ``text_dataset_from_directory``: a folder of class sub-folders of .txt files -> batches.

Files, labels, shuffling and the validation split follow Keras 3 (``utils/dataset_files.py``). The
texts are read once into memory, each a Python ``str`` of its own length (a fixed-width numpy string
array would pad every text to the longest one and drop trailing '\\x00' characters); batches are numpy
object arrays of those strings, as ``tf.Tensor.numpy()`` gives Keras' string batches, which
``TextVectorization`` takes, with numpy labels.
"""
from __future__ import annotations

import numpy as np

from layerwise.utils.dataset_files import (FolderDataset, check_label_arguments, check_split_arguments,
                                           encode_labels, indexed_subsets)
from layerwise.utils.dataset_methods import check_format

ALLOWLIST_FORMATS = (".txt",)


class TextDataset(FolderDataset):
    """Texts and encoded labels, served as shuffled ``(texts, labels)`` batches.

    ``texts``: object array ``(n,)`` of ``str``, one per file. ``labels``: int32 ``(n,)`` ('int'), float32
    ``(n, classes)`` ('categorical'), float32 ``(n, 1)`` ('binary'), or None. Iterating yields numpy object
    arrays of ``str`` of shape ``(batch,)`` (single ``str`` when ``batch_size`` is None) and the matching
    label rows (texts alone without labels), in a new order each pass when ``shuffle`` is set; ``map``
    transforms the batches, e.g.
    ``ds.map(lambda x, y: (vectorizer(x), y))``.
    """

    def __init__(self, texts: list[str], labels: np.ndarray | None, class_names: list[str] | None,
                 file_paths: list[str], batch_size: int | None, shuffle: bool, seed: int):
        samples = np.empty(len(texts), dtype=object)
        samples[:] = texts
        super().__init__(samples, labels, class_names, file_paths, batch_size, shuffle, seed)

    @property
    def texts(self) -> np.ndarray:
        return self.samples

    def __repr__(self) -> str:
        return f"TextDataset({self.num_samples} texts, {len(self)} batches, class_names={self.class_names})"


def _read_text(path: str, max_length: int | None) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if max_length is not None:
        # Keras cuts bytes; a character cut in two is dropped rather than left as broken UTF-8.
        return data[:max_length].decode("utf-8", errors="ignore")
    return data.decode("utf-8", errors="replace")


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                batch_size: int | None = 32, max_length: int | None = None, shuffle: bool = True,
                                seed: int | None = None, validation_split: float | None = None,
                                subset: str | None = None, follow_links: bool = False, format: str = "tf",
                                verbose: bool = True) -> TextDataset | tuple[TextDataset, TextDataset]:
    """The .txt files in ``directory/<class>/...`` as a :class:`TextDataset` of ``(texts, labels)`` batches.

    ``texts``: numpy object array ``(batch,)`` of ``str``, each cut to its first ``max_length`` bytes when
    given. Labels per ``label_mode``: 'int' (int32 ``(batch,)``), 'categorical' (float32 one-hot ``(batch, classes)``),
    'binary' (float32 ``(batch, 1)``) or None (texts alone). ``labels`` may also be a list of integer
    labels, one per file in ``os.walk`` order, or None. ``subset='both'`` returns ``(training,
    validation)``, the latter unshuffled, as Keras. ``format``: Keras' 'tf' (the default) is the one accepted;
    the result is layerwise's own dataset with tf.data's common methods (``dataset_methods.py``).
    """
    check_format(format)
    labels, label_mode = check_label_arguments(labels, label_mode, class_names)
    check_split_arguments(validation_split, subset, shuffle, seed)
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"text_dataset_from_directory: max_length must be a positive int or None, got "
                         f"{max_length!r}.")
    file_paths, label_array, names, parts, seed = indexed_subsets(
        directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, follow_links, shuffle, seed,
        validation_split, subset, verbose, "text", "text files")
    datasets = []
    for name, part in parts.items():
        paths = file_paths[part]
        y = None if label_array is None else encode_labels(label_array[part], label_mode, len(names))
        datasets.append(TextDataset([_read_text(p, max_length) for p in paths], y, names, paths, batch_size,
                                    shuffle and not (subset == "both" and name == "validation"), seed))
    return tuple(datasets) if subset == "both" else datasets[0]
