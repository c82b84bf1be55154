"""get_file: cache location, hash checks and re-download, extraction (Keras' naming rules, refused path
traversal, corrupt archives), and downloads that fail or stop half way leaving nothing cached. Every
origin is a file:// URL in tmp_path; nothing touches the network."""
from __future__ import annotations

import hashlib
import gzip
import io
import os
import tarfile
import urllib.error
import zipfile

import pytest

from layerwise.utils import file_download, get_file

PAYLOAD = b"layerwise" * 5000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve(folder, name: str, data: bytes) -> str:
    """A file:// URL of ``data`` saved as ``folder/name``."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path.as_uri()


def cached_names(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """The same bytes for the same members: gzip's header time is fixed (a second apart, two archives and their
    hashes differed)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_downloads_once_into_cache_dir_and_names_file_from_url(tmp_path, capsys):
    url = serve(tmp_path / "server", "data.bin", PAYLOAD)
    path = get_file(origin=url, cache_dir=tmp_path / "cache")
    assert path == str(tmp_path / "cache" / "datasets" / "data.bin")
    assert open(path, "rb").read() == PAYLOAD
    assert f"Downloading data from {url}" in capsys.readouterr().out
    os.remove(tmp_path / "server" / "data.bin")  # a second call must not need the origin
    assert get_file("data.bin", url, cache_dir=tmp_path / "cache", file_hash=sha256(PAYLOAD)) == path
    assert "Downloading" not in capsys.readouterr().out


def test_keras_home_and_cache_subdir(tmp_path, monkeypatch):
    url = serve(tmp_path / "server", "data.bin", PAYLOAD)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert get_file("a.bin", url) == str(tmp_path / "home" / "datasets" / "a.bin")
    assert get_file("b.bin", url, cache_subdir="models") == str(tmp_path / "home" / "models" / "b.bin")
    absolute = tmp_path / "elsewhere"
    assert get_file("c.bin", url, cache_subdir=str(absolute)) == str(absolute / "c.bin")
    assert get_file("d.bin", url, cache_dir=tmp_path / "explicit") == str(tmp_path / "explicit" / "datasets" / "d.bin")


def test_default_home_is_dot_keras_and_unwritable_base_falls_back_to_tmp(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert file_download._cache_base(None) == str(tmp_path / ".keras")
    blocked = tmp_path / "blocked"
    real_access = os.access
    monkeypatch.setattr(file_download.os, "access", lambda p, mode: p != str(blocked) and real_access(p, mode))
    assert file_download._cache_base(blocked) == "/tmp/.keras"


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_hash_checked_on_download_names_both_hashes_and_caches_nothing(tmp_path, algorithm):
    url = serve(tmp_path / "server", "data.bin", PAYLOAD)
    wrong = hashlib.new(algorithm, b"other").hexdigest()
    good = hashlib.new(algorithm, PAYLOAD).hexdigest()
    with pytest.raises(ValueError, match=f"{url}.*{algorithm} hash is {good}, but {wrong} was expected"):
        get_file(origin=url, file_hash=wrong, cache_dir=tmp_path)  # 'auto' picks by the hash's length
    assert cached_names(tmp_path / "datasets") == []
    path = get_file(origin=url, file_hash=good.upper(), hash_algorithm=algorithm, cache_dir=tmp_path)
    assert open(path, "rb").read() == PAYLOAD


def test_md5_hash_argument_and_wrong_algorithm(tmp_path):
    url = serve(tmp_path / "server", "data.bin", PAYLOAD)
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert open(get_file(origin=url, md5_hash=md5, cache_dir=tmp_path), "rb").read() == PAYLOAD
    with pytest.raises(ValueError, match="hash is"):
        get_file(origin=url, file_hash=md5, hash_algorithm="sha256", cache_dir=tmp_path / "other")
    with pytest.raises(ValueError, match="hash_algorithm must be one of.*'sha1'"):
        get_file(origin=url, file_hash=md5, hash_algorithm="sha1", cache_dir=tmp_path)


def test_outdated_cached_file_is_downloaded_again(tmp_path, capsys):
    url = serve(tmp_path / "server", "data.bin", PAYLOAD)
    stale = tmp_path / "datasets" / "data.bin"
    stale.parent.mkdir()
    stale.write_bytes(b"half a file")
    path = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert open(path, "rb").read() == PAYLOAD
    assert "does not match" in capsys.readouterr().out
    stale.write_bytes(b"kept: no hash given, so the cached file is trusted")
    assert open(get_file(origin=url, cache_dir=tmp_path), "rb").read().startswith(b"kept")
    assert open(get_file(origin=url, cache_dir=tmp_path, force_download=True), "rb").read() == PAYLOAD


class BrokenResponse(io.BytesIO):
    """An HTTP response that announces ``total`` bytes and fails (or ends) after the first chunk."""

    def __init__(self, data: bytes, total: int, fail: bool):
        super().__init__(data)
        self.headers, self.fail, self.reads = {"Content-Length": str(total)}, fail, 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads > 1 and self.fail:
            raise ConnectionResetError("connection reset by peer")
        return super().read(size) if self.reads == 1 else b""


@pytest.mark.parametrize("fail, message", [(True, "broke off after 1000 bytes.*ConnectionResetError"),
                                           (False, "stopped after 1000 of 5000 bytes")])
def test_interrupted_download_leaves_no_cached_or_partial_file(tmp_path, monkeypatch, fail, message):
    url = "https://example.com/files/data.bin"
    monkeypatch.setattr(file_download.urllib.request, "urlopen", lambda origin: BrokenResponse(b"x" * 1000, 5000, fail))
    with pytest.raises(OSError, match=f"URL fetch failure on {url}: .*{message}"):
        get_file(origin=url, cache_dir=tmp_path)
    assert cached_names(tmp_path / "datasets") == []


def test_http_and_network_errors_name_the_url(tmp_path, monkeypatch):
    url = "https://example.com/files/data.bin"

    def not_found(origin):
        raise urllib.error.HTTPError(origin, 404, "Not Found", {}, None)

    monkeypatch.setattr(file_download.urllib.request, "urlopen", not_found)
    with pytest.raises(OSError, match=f"URL fetch failure on {url}: the server answered HTTP 404 \\(Not Found\\)"):
        get_file(origin=url, cache_dir=tmp_path)

    def offline(origin):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_download.urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match=f"{url}: it could not be reached.*name resolution.*network"):
        get_file(origin=url, cache_dir=tmp_path)
    assert cached_names(tmp_path / "datasets") == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("data.bin", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file name.*'sub/data.bin'"):
        get_file("sub/data.bin", "file:///nowhere/data.bin", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot tell a file name from the origin"):
        get_file(origin="https://example.com/", cache_dir=tmp_path)
    url = serve(tmp_path / "server", "a.tar.gz", make_tar_gz({"a.txt": b"a"}))
    with pytest.raises(ValueError, match="archive_format.*'rar'"):
        get_file(origin=url, extract=True, archive_format="rar", cache_dir=tmp_path)


ARCHIVE = {"folder/a.txt": b"alpha", "b.txt": b"beta"}


@pytest.mark.parametrize("maker, name", [(make_tar_gz, "pack.tar.gz"), (make_zip, "pack.zip")])
@pytest.mark.parametrize("fname, folder, kept", [
    (None, "pack.{ext}", "pack.{ext}_archive"),        # no fname: the URL's name, the archive renamed
    ("bundle", "bundle", "bundle_archive"),           # fname without a dot: the folder itself
    ("bundle.v2.{ext}", "bundle_extracted", "bundle.v2.{ext}"),  # with a dot: '<stem>_extracted'
])
def test_extract_follows_keras_naming(tmp_path, maker, name, fname, folder, kept):
    ext = name.split(".", 1)[1]
    url = serve(tmp_path / "server", name, maker(ARCHIVE))
    fname = fname and fname.format(ext=ext)
    path = get_file(fname, url, extract=True, cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / folder.format(ext=ext))
    assert open(os.path.join(path, "folder", "a.txt"), "rb").read() == b"alpha"
    assert sorted(os.listdir(tmp_path / "datasets")) == sorted([folder.format(ext=ext), kept.format(ext=ext)])
    # Extracting again replaces the folder's content with the archive's.
    os.remove(os.path.join(path, "b.txt"))
    assert get_file(fname, url, extract=True, cache_dir=tmp_path) == path
    assert open(os.path.join(path, "b.txt"), "rb").read() == b"beta"


def test_untar_and_naming_match_keras(tmp_path, keras):
    archive = make_tar_gz(ARCHIVE)
    url = serve(tmp_path / "server", "pack.tar.gz", archive)
    for fname in (None, "bundle", "bundle.tgz"):
        ours = tmp_path / "ours"
        theirs = tmp_path / "keras"
        theirs.mkdir(exist_ok=True)  # Keras uses /tmp/.keras for a cache_dir that does not exist yet
        a = get_file(fname, url, untar=True, cache_dir=ours, file_hash=sha256(archive))
        b = keras.utils.get_file(fname, url, untar=True, cache_dir=str(theirs))
        assert os.path.relpath(a, ours) == os.path.relpath(b, theirs)
        assert sorted(os.listdir(a)) == sorted(os.listdir(b)) == ["b.txt", "folder"]


def test_plain_file_with_extract_warns_and_returns_folder(tmp_path):
    url = serve(tmp_path / "server", "notes.txt", b"not an archive")
    with pytest.warns(UserWarning, match="could not extract.*notes.txt_archive"):
        path = get_file(origin=url, extract=True, cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / "notes.txt") and not os.path.exists(path)


def tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.addfile(tarfile.TarInfo("fine.txt"), io.BytesIO(b""))
        info.size = len(data) if info.isfile() else 0
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("archive, member", [
    (tar_with(tarfile.TarInfo("../escaped.txt"), b"evil"), "../escaped.txt"),
    (tar_with(tarfile.TarInfo("/tmp/absolute_escape.txt"), b"evil"), "/tmp/absolute_escape.txt"),
    (tar_with(link("inner/up", "../../escaped.txt")), "inner/up"),
    (tar_with(link("hard", "../escaped.txt", tarfile.LNKTYPE)), "hard"),
    (make_zip({"fine.txt": b"", "../escaped.txt": b"evil"}), "../escaped.txt"),
])
def test_extraction_refuses_members_outside_the_folder(tmp_path, archive, member):
    url = serve(tmp_path / "server", "evil.tar.gz", archive)
    with pytest.raises(ValueError, match=f"Refusing to extract .*evil.tar.gz_archive.*{member}.*outside"):
        get_file(origin=url, extract=True, cache_dir=tmp_path)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "datasets" / "escaped.txt").exists()
    assert cached_names(tmp_path / "datasets") == ["evil.tar.gz_archive"]  # no folder, no scratch left


def test_corrupt_archive_names_the_file(tmp_path):
    whole = make_tar_gz({"big.bin": os.urandom(200_000)})
    url = serve(tmp_path / "server", "cut.tar.gz", whole[:len(whole) // 2])
    with pytest.raises(ValueError, match="Could not extract .*cut.tar.gz_archive.*corrupt or truncated"):
        get_file(origin=url, extract=True, cache_dir=tmp_path)
    assert cached_names(tmp_path / "datasets") == ["cut.tar.gz_archive"]
