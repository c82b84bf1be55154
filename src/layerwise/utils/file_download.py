"""Keras' ``get_file``: fetch a file once into a cache folder, check its hash, extract archives.

The cache is ``cache_dir`` (default ``$KERAS_HOME``, else ``~/.keras``) joined with ``cache_subdir``;
``/tmp/.keras`` replaces a base folder that cannot be written. A download streams into a scratch file
next to its target and is renamed into place only once it is complete and its hash checked, so an
interrupted or corrupted download never looks cached. Extraction works the same way through a
scratch folder, and refuses archives whose members would land outside the extraction folder.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib

from layerwise.utils.io_utils import print_msg
from layerwise.utils.progbar import Progbar

_CHUNK = 1 << 16
_ALGORITHMS = ("auto", "sha256", "md5")
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError)


def get_file(fname: str | os.PathLike | None = None, origin: str | None = None, untar: bool = False,
             md5_hash: str | None = None, file_hash: str | None = None, cache_subdir: str = "datasets",
             hash_algorithm: str = "auto", extract: bool = False, archive_format="auto",
             cache_dir: str | os.PathLike | None = None, force_download: bool = False) -> str:
    """The local path of the file at URL ``origin``, downloaded into the cache unless already there.

    ``file_hash`` (sha256, or md5 when ``hash_algorithm`` says so or the hash has 32 digits) is checked
    on the cached file, which is downloaded again when it does not match, and on every download.
    With ``extract`` (or the older ``untar``) the tar or zip archive is unpacked and the folder is
    returned: ``<fname stem>_extracted`` when ``fname`` has an extension, else ``fname`` itself (the
    archive is then kept as ``<fname>_archive``).
    """
    if origin is None:
        raise ValueError("get_file needs origin, the URL of the file to download; received origin=None.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in _ALGORITHMS:
        raise ValueError(f"get_file's hash_algorithm must be one of {_ALGORITHMS}; received {hash_algorithm!r}.")
    algorithm = "sha256" if hash_algorithm == "sha256" or (
        hash_algorithm == "auto" and file_hash is not None and len(file_hash) == 64) else "md5"
    datadir = os.path.join(_cache_base(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    name = _file_name(fname, origin)
    unpack = bool(extract or untar)
    target, extraction_dir = _targets(datadir, name, fname is not None and os.fspath(fname) != "", unpack)

    if force_download or not os.path.exists(target):
        _download(origin, target, file_hash, algorithm)
    elif file_hash is not None and hash_file(target, algorithm) != file_hash.lower():
        print_msg(f"A local file was found at {target}, but its {algorithm} hash does not match the expected "
              f"{file_hash}: it is incomplete or outdated, so it is downloaded again.")
        _download(origin, target, file_hash, algorithm)
    if not unpack:
        return target
    formats = "tar" if untar else archive_format
    if not extract_archive(target, extraction_dir, formats):
        warnings.warn(f"get_file could not extract {target!r}: it is not a {formats} archive.", stacklevel=2)
    return extraction_dir


def hash_file(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest (``"sha256"`` or ``"md5"``) of the file at ``path``."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _cache_base(cache_dir) -> str:
    """``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras``; ``/tmp/.keras`` when it cannot be written."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    base = os.path.expanduser(os.fspath(cache_dir))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass  # read-only or forbidden: the writability check below falls back to /tmp
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


def _file_name(fname, origin: str) -> str:
    name = os.fspath(fname) if fname is not None else ""
    if not name:
        name = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not name:
            raise ValueError(f"get_file cannot tell a file name from the origin {origin!r}; pass fname.")
    elif os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        raise ValueError(f"get_file's fname must be a plain file name, not a path; received fname={name!r}. "
                         "Choose the folder with cache_dir (and cache_subdir).")
    return name


def _targets(datadir: str, name: str, named: bool, unpack: bool) -> tuple[str, str | None]:
    """Where the download goes and (when unpacking) the extraction folder, by Keras' naming rules."""
    if not unpack:
        return os.path.join(datadir, name), None
    if named and "." in name:
        return os.path.join(datadir, name), os.path.join(datadir, name[:name.find(".")] + "_extracted")
    return os.path.join(datadir, name + "_archive"), os.path.join(datadir, name)


def _scratch(folder: str, name: str) -> str:
    """A fresh hidden name in ``folder``: same file system, so the final rename is atomic."""
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.part")


def _download(origin: str, target: str, file_hash: str | None, algorithm: str) -> None:
    print_msg(f"Downloading data from {origin}")
    partial = _scratch(os.path.dirname(target), os.path.basename(target))
    try:
        with open(partial, "xb") as out:
            digest = _stream(origin, out, hashlib.new(algorithm))
            out.flush()
            os.fsync(out.fileno())
        if file_hash is not None and digest != file_hash.lower():
            raise ValueError(f"Incomplete or corrupted file downloaded from {origin}: its {algorithm} hash is "
                             f"{digest}, but {file_hash} was expected.")
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _stream(origin: str, out, hasher) -> str:
    """Copy the resource at ``origin`` into ``out`` with a progress bar; its hex digest."""
    try:
        response = urllib.request.urlopen(origin)
    except urllib.error.HTTPError as err:
        raise OSError(f"URL fetch failure on {origin}: the server answered HTTP {err.code} ({err.reason}).") from None
    except urllib.error.URLError as err:
        raise OSError(f"URL fetch failure on {origin}: it could not be reached ({err.reason}). Check the URL "
                      "and that this machine can reach the network.") from None
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar, done = Progbar(total), 0
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                done += len(chunk)
                bar.update(done)
        except (OSError, http.client.HTTPException) as err:
            raise OSError(f"URL fetch failure on {origin}: the transfer broke off after {done} bytes "
                          f"({type(err).__name__}: {err}).") from err
    if total is not None and done < total:
        raise OSError(f"URL fetch failure on {origin}: the transfer stopped after {done} of {total} bytes.")
    if total is None:
        bar.update(done, finalize=True)
    return hasher.hexdigest()


def extract_archive(path: str | os.PathLike, extraction_dir: str | os.PathLike, archive_format="auto") -> bool:
    """Unpack the tar (plain, gz, bz2, xz) or zip archive at ``path`` into ``extraction_dir``, replacing
    it; False when ``path`` is none of ``archive_format`` ("auto" = tar then zip, a name, a list, None).

    Members are unpacked into a scratch folder that is renamed into place once complete.
    """
    path, extraction_dir = os.fspath(path), os.fspath(extraction_dir)
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else [archive_format] if isinstance(
        archive_format, str) else list(archive_format)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"archive_format must be 'auto', 'tar', 'zip', a list of those or None; "
                             f"received {archive_format!r}.")
        if not (tarfile.is_tarfile(path) if kind == "tar" else zipfile.is_zipfile(path)):
            continue
        parent, name = os.path.split(os.path.abspath(extraction_dir))
        staging = _scratch(parent, name)
        os.makedirs(staging)
        try:
            try:
                (_untar if kind == "tar" else _unzip)(path, staging, extraction_dir)
            except _ARCHIVE_ERRORS as err:
                raise ValueError(f"Could not extract {path!r}: the {kind} archive is corrupt or truncated "
                                 f"({type(err).__name__}: {err}). Delete it so that it is downloaded again.") from err
            if os.path.isdir(extraction_dir) and not os.path.islink(extraction_dir):
                shutil.rmtree(extraction_dir)
            elif os.path.lexists(extraction_dir):
                os.remove(extraction_dir)
            os.replace(staging, extraction_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return True
    return False


def _inside(root: str, path: str) -> bool:
    resolved = os.path.realpath(os.path.join(root, path))
    return os.path.commonpath([resolved, root]) == root


def _refuse(archive: str, member: str, extraction_dir: str) -> ValueError:
    return ValueError(f"Refusing to extract {archive!r}: its member {member!r} would be written outside the "
                      f"extraction folder {extraction_dir!r}. The archive is damaged or malicious.")


def _untar(path: str, staging: str, extraction_dir: str) -> None:
    root = os.path.realpath(staging)
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        for member in members:
            # A symbolic link resolves from its own folder, a hard link from the archive's root.
            link_base = os.path.dirname(member.name) if member.issym() else ""
            if not _inside(root, member.name) or (
                    (member.issym() or member.islnk()) and not _inside(root, os.path.join(link_base, member.linkname))):
                raise _refuse(path, member.name, extraction_dir)
        # Python's "data" filter (3.10.12+) also drops devices and unsafe permission bits.
        safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(staging, members=members, **safety)


def _unzip(path: str, staging: str, extraction_dir: str) -> None:
    root = os.path.realpath(staging)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if os.path.isabs(info.filename) or not _inside(root, info.filename):
                raise _refuse(path, info.filename, extraction_dir)
        archive.extractall(staging)
