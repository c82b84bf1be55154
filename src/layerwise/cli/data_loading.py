"""Reading what users point the command at: CSV files, image folders, ``.npz`` arrays and text files.

Every problem with the input is a :class:`UserError` naming the file (and the line or column where it
helps), never a traceback. CSV files are read with the ``csv`` module so that each row keeps its
line number for messages; values stay strings until a caller asks for numbers.
"""
from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from layerwise.cli.errors import UserError
from layerwise.cli.progress import track
from layerwise.saving import atomic_write

# Spellings of a missing value in CSV files written by spreadsheets, R and pandas.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_EXTENSIONS = (".txt", ".text", ".md")
TABLE_EXTENSIONS = (".csv", ".tsv")
# An .npz file is a zip archive: it starts with a file entry, or with the end record when empty.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def require_file(path: str, what: str = "file") -> str:
    """``path`` if it is an existing file, else a UserError that says what is wrong with it."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such {what}.")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; expected a {what}.")
    return path


@dataclass
class Table:
    """A CSV file as strings: ``columns`` (the header), ``rows`` and each row's ``lines`` number."""

    path: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int] = field(default_factory=list)

    def index(self, name: str) -> int:
        if name not in self.columns:
            raise UserError(f"{self.path} has no column {name!r}; its columns are: {', '.join(self.columns)}.")
        return self.columns.index(name)

    def strings(self, name: str) -> list[str]:
        j = self.index(name)
        return [row[j].strip() for row in self.rows]

    def is_numeric(self, name: str) -> bool:
        """Whether every present value of column ``name`` parses as a number."""
        try:
            self.numeric([name], allow_missing=True)
        except UserError:
            return False
        return True

    def numeric(self, names: list[str] | None = None, allow_missing: bool = False) -> np.ndarray:
        """The named columns (all by default) as float64 ``(rows, columns)``; missing values are NaN."""
        names = self.columns if names is None else names
        out = np.empty((len(self.rows), len(names)))
        for k, name in enumerate(names):
            j = self.index(name)
            for i, row in enumerate(self.rows):
                text = row[j].strip()
                if text.lower() in MISSING:
                    if not allow_missing:
                        raise UserError(f"{self.path}, line {self.lines[i]}: column {name!r} has a missing value; "
                                        f"fill the gaps first, e.g. layerwise impute {self.path} -o filled.csv.")
                    out[i, k] = math.nan
                    continue
                try:
                    out[i, k] = float(text)
                except ValueError:
                    raise UserError(f"{self.path}, line {self.lines[i]}: column {name!r} must be numeric, "
                                    f"found {text!r}.") from None
                if not math.isfinite(out[i, k]):
                    raise UserError(f"{self.path}, line {self.lines[i]}: column {name!r} holds {text!r}; "
                                    "only finite numbers can be used.")
        return out


def read_csv(path: str) -> Table:
    """Read ``path`` (comma-separated, or tab-separated for ``.tsv``) with a header row.

    Rows with a different number of fields than the header are reported together, with line numbers.
    """
    require_file(path, "CSV file")
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            rows, lines, bad = [], [], []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank lines carry no data
                if header is not None and len(row) != len(header):
                    bad.append(f"line {reader.line_num} has {len(row)}")
                    continue
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file, so it cannot be a CSV file.") from None
    except csv.Error as err:
        raise UserError(f"{path}, line {reader.line_num}: malformed CSV ({err}).") from None
    if header is None or not any(h.strip() for h in header):
        raise UserError(f"{path} is empty; expected a header row and data rows.")
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise UserError(f"{path}: malformed rows (the header has {len(header)} fields): {shown}.")
    if not rows:
        raise UserError(f"{path} has a header but no data rows.")
    header = [h.strip() for h in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise UserError(f"{path}: column names must be unique; repeated: {', '.join(duplicates)}.")
    return Table(path, header, rows, lines)


def format_number(value) -> str:
    """Numbers as CSV text: integers without '.0', floats with up to 7 significant digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.7g}"
    return str(value)


def exact_number(value: float) -> str:
    """A new value as CSV text that reads back exactly: integers without '.0', other floats in full."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def check_output_file(path: str, option: str, reads=()) -> None:
    """A UserError unless ``path`` can be written as a file: not a folder, inside an existing folder, and not one
    of the files the command ``reads`` (paths of files or folders, None for absent ones) nor a file already in
    one of those folders (a model's folder, an image folder).

    Commands call this before reading or training, so a mistyped output costs no work.
    """
    if os.path.isdir(path):
        suggestion = os.path.join(path, "plot.png" if option == "--plot" else "out.csv")
        raise UserError(f"{option} {path} is a folder; give a file name, e.g. {suggestion}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"Cannot write {path} ({option}): the folder {folder} does not exist.")
    target = os.path.realpath(path)
    for source in filter(None, reads):
        real = os.path.realpath(source)
        inside = os.path.isdir(real) and target.startswith(real + os.sep) and os.path.exists(target)
        if target == real or inside:
            raise UserError(f"{option} {path} would overwrite {'a file in ' if inside else ''}{source}, which this "
                            "command reads; write the result to another file.")


def check_output_folder(path: str, option: str) -> None:
    """A UserError unless ``path`` is a folder or can be created as one (no file in the way)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{option} {path} is a file; give a folder (it is created if missing).")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError(f"{option} {path} cannot be created: {existing} is a file.")


def write_csv(path: str, header: list[str], rows) -> None:
    """Write a CSV file atomically: a temporary file renamed over ``path`` once complete."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"Cannot write {path}: the folder {folder} does not exist.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([format_number(v) for v in row])
    atomic_write(path, buffer.getvalue().encode("utf-8"))


# ---- image folders ------------------------------------------------------------------------------
@dataclass
class Images:
    """Decoded images ``x`` float32 in [0, 1] ``(n, h, w, c)``, class indices ``y``, names, file paths."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    paths: list[str]


def list_images(folder: str, unlabelled: bool = False) -> tuple[list[str], list[int], list[str]]:
    """Image paths, class indices and class names of a folder with one sub-folder per class; ``unlabelled``
    also takes one image file, or a folder of images without sub-folders (one class named "")."""
    if not os.path.exists(folder):
        raise UserError(f"{folder}: no such folder.")
    if os.path.isfile(folder):
        if not unlabelled:
            raise UserError(f"{folder} is one image; give a folder with one sub-folder of images per class.")
        return [folder], [0], [""]
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    loose = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    if unlabelled and loose and not classes:
        return [os.path.join(folder, f) for f in loose], [0] * len(loose), [""]
    paths, labels = [], []
    for k, name in enumerate(classes):
        for root, _, files in sorted(os.walk(os.path.join(folder, name))):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(root, file))
                    labels.append(k)
    if not paths:
        hint = " (images lie directly in it: put them in one sub-folder per class)" if loose else ""
        raise UserError(f"{folder}: no images found{hint}; expected one sub-folder per class holding "
                        f"{'/'.join(IMAGE_EXTENSIONS)} files.")
    used = sorted(set(labels))
    if len(used) < len(classes):  # empty class folders would give classes the model can never see
        empty = [c for k, c in enumerate(classes) if k not in used]
        raise UserError(f"{folder}: class folder(s) without images: {', '.join(empty)}.")
    return paths, labels, classes


def load_images(folder: str, image_size: tuple[int, int] | None = None, channels: int | None = None,
                quiet: bool = True, unlabelled: bool = False) -> Images:
    """Decode every image of ``folder`` to one size (``image_size`` or the first image's) and channel count
    (``unlabelled``: see ``list_images``)."""
    from PIL import Image, UnidentifiedImageError

    paths, labels, classes = list_images(folder, unlabelled)
    arrays = []
    for path in track(paths, len(paths), f"Loading {len(paths)} images from {folder}", quiet):
        try:
            with Image.open(path) as img:
                if channels is None:
                    channels = 1 if img.mode in ("1", "L", "I", "I;16", "F") else 3
                if image_size is None:
                    image_size = (img.height, img.width)
                img = img.convert("L" if channels == 1 else "RGB")
                if (img.height, img.width) != tuple(image_size):
                    img = img.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
                arrays.append(np.asarray(img, dtype=np.uint8).reshape(image_size[0], image_size[1], channels))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise UserError(f"{path}: cannot read this image ({' '.join(str(err).split())}).") from None
    x = np.stack(arrays).astype(np.float32) / 255.0
    return Images(x, np.asarray(labels, dtype=np.int64), classes, paths)


# ---- arrays and text ----------------------------------------------------------------------------
def load_npz(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)`` from an ``.npz`` file with arrays ``x`` (or ``X``/``x_train``) and optionally ``y``."""
    require_file(path, ".npz file")
    with open(path, "rb") as f:
        if f.read(4) not in ZIP_MAGIC:  # np.load would guess a pickle and blame allow_pickle
            raise UserError(f"{path} is not an .npz archive (expected arrays x and y, as np.savez writes them).")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            x_key = next((k for k in ("x", "X", "x_train", "data") if k in files), None)
            if x_key is None:
                raise UserError(f"{path} holds arrays {files}; expected one named 'x' (and 'y' for labels).")
            y_key = next((k for k in ("y", "Y", "y_train", "labels") if k in files), None)
            x, y = data[x_key], None if y_key is None else data[y_key]
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise UserError(f"{path} is not a readable .npz file ({err}).") from None
    except ValueError as err:
        if "pickle" not in str(err):
            raise UserError(f"{path} is not a readable .npz file ({err}).") from None
        raise UserError(f"{path} holds Python objects (pickled arrays), which layerwise never loads from files; "
                        "save numeric arrays x and y with np.savez.") from None
    if not np.issubdtype(x.dtype, np.number) or len(x) == 0:
        raise UserError(f"{path}: array x must be a non-empty numeric array, got dtype {x.dtype}.")
    if y is not None and len(y) != len(x):
        raise UserError(f"{path}: x has {len(x)} rows but y has {len(y)}.")
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise UserError(f"{path}: array x holds {bad} NaN or infinite value(s); fill them first (as a CSV: "
                        "layerwise impute IN.csv -o OUT.csv).")
    return x.astype(np.float32), y


def load_text(path: str) -> str:
    """The whole of a UTF-8 text file; an empty or binary file is a UserError."""
    require_file(path, "text file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file.") from None
    if len(text.strip()) == 0:
        raise UserError(f"{path} is empty; a text model needs text to learn from.")
    return text


def data_kind(path: str, recipe: str | None = None) -> str:
    """What ``path`` holds: 'images', 'table', 'series' (a CSV for lstm/gru), 'arrays' or 'text'."""
    if os.path.isdir(path):
        return "images"
    require_file(path, "data file")
    lower = path.lower()
    if lower.endswith(IMAGE_EXTENSIONS):
        return "images"
    if lower.endswith(TABLE_EXTENSIONS):
        return "series" if recipe in ("lstm", "gru") else "table"
    if lower.endswith(".npz"):
        return "arrays"
    if lower.endswith(TEXT_EXTENSIONS):
        return "text"
    raise UserError(f"{path}: cannot tell what this data is from its name; give an image folder "
                    f"(one sub-folder per class), a .csv/.tsv file, an .npz file or a .txt file.")
