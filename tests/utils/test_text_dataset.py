"""text_dataset_from_directory: Keras' file order, labels and splits, string batches, and fit on them."""
import os

import numpy as np
import pytest

import layerwise as lw
from layerwise import layers as L
from layerwise.preprocessing import TextVectorization
from layerwise.utils import text_dataset_from_directory

WORDS = {"neg": "awful boring dull", "pos": "great lovely fine"}


def make_folder(root, per_class: int = 6) -> str:
    """``root/<class>/`` with .txt files (one in a nested folder) and a file of another type."""
    for name, words in WORDS.items():
        os.makedirs(root / name / "more")
        for i in range(per_class):
            where = root / name / "more" if i == 0 else root / name
            (where / f"{i:02d}.txt").write_text(f"{words.split()[i % 3]} film number {i}", encoding="utf-8")
        (root / name / "notes.md").write_text("not a text sample")
    return str(root)


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data")


def test_batches_of_strings_and_labels(folder, capsys):
    ds = text_dataset_from_directory(folder, batch_size=5, shuffle=False)
    assert "Found 12 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    batches = list(ds)
    x, y = batches[0]
    assert isinstance(x, np.ndarray) and x.dtype == object and all(isinstance(t, str) for t in x) and x.shape == (5,)
    assert y.dtype == np.int32 and y.tolist() == [0] * 5
    # Keras' order: a class folder's own files (sorted) before its sub-folders'
    assert ds.file_paths[4:6] == [os.path.join(folder, "neg", "05.txt"), os.path.join(folder, "neg", "more", "00.txt")]
    assert x[0] == "boring film number 1"
    texts = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    for text, label in zip(texts, labels):
        assert text.split()[0] in WORDS[ds.class_names[label]]


def test_label_modes_max_length_and_no_labels(folder):
    x, y = next(iter(text_dataset_from_directory(folder, label_mode="categorical", seed=1, verbose=False)))
    assert x.shape == (12,) and y.shape == (12, 2) and y.dtype == np.float32 and y.sum() == 12
    _, y = next(iter(text_dataset_from_directory(folder, label_mode="binary", seed=1, verbose=False)))
    assert y.shape == (12, 1)
    x = next(iter(text_dataset_from_directory(folder, labels=None, max_length=4, verbose=False)))
    assert x.shape == (12,) and all(len(t.encode()) <= 4 for t in x)
    accent = os.path.join(folder, "pos", "accent.txt")
    with open(accent, "w", encoding="utf-8") as f:
        f.write("héllo")
    texts = text_dataset_from_directory(folder, max_length=2, shuffle=False, verbose=False).texts
    assert "h" in texts.tolist()  # 'é' cut in two bytes is dropped, not left broken


def test_validation_split_matches_keras(folder, keras):
    from keras.src.utils import dataset_utils

    kw = dict(validation_split=0.25, seed=7, verbose=False)
    train = text_dataset_from_directory(folder, subset="training", **kw)
    val = text_dataset_from_directory(folder, subset="validation", **kw)
    paths, labels, names = dataset_utils.index_directory(folder, "inferred", (".txt",), seed=7, verbose=False)
    k_train, k_train_labels = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "training")
    k_val, _ = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "validation")
    assert (train.file_paths, val.file_paths, train.class_names) == (k_train, k_val, names)
    assert train.labels.tolist() == list(k_train_labels)
    both = text_dataset_from_directory(folder, subset="both", batch_size=4, **kw)
    assert [d.file_paths for d in both] == [k_train, k_val]
    assert [b[1].tolist() for b in both[1]] == [b[1].tolist() for b in both[1]]  # validation is not shuffled


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(labels=None, class_names=["neg"]), "class_names"),
    (dict(subset="training"), "validation_split must be set"),
    (dict(validation_split=0.5, subset="training"), "seed"),
    (dict(max_length=0), "max_length"),
    (dict(class_names=["neg", "ham"]), "do not match"),
])
def test_bad_arguments_raise(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        text_dataset_from_directory(folder, verbose=False, **kwargs)


def test_empty_folders_raise(tmp_path):
    os.makedirs(tmp_path / "empty" / "neg")
    with pytest.raises(ValueError, match="No text files found"):
        text_dataset_from_directory(tmp_path / "empty", verbose=False)
    os.makedirs(tmp_path / "three" / "a")
    for name in ("a", "b", "c"):
        os.makedirs(tmp_path / "three" / name, exist_ok=True)
        (tmp_path / "three" / name / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        text_dataset_from_directory(tmp_path / "three", label_mode="binary", verbose=False)
    with pytest.raises(FileNotFoundError):
        text_dataset_from_directory(tmp_path / "missing", verbose=False)


def test_vectorize_and_fit_on_a_text_folder(folder):
    lw.utils.set_random_seed(0)
    train = text_dataset_from_directory(folder, batch_size=4, seed=3, label_mode="binary", verbose=False)
    vectorizer = TextVectorization(output_mode="multi_hot")
    vectorizer.adapt(train)  # (texts, labels) batches: the texts are used
    assert {"awful", "great", "film"} <= set(vectorizer.get_vocabulary())
    model = lw.Sequential([lw.Input((vectorizer.vocabulary_size(),)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=lw.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train.map(lambda x, y: (vectorizer(x), y)), epochs=15, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
