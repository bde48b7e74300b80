"""versioncache: `dockerd --version` remembered by the binary's identity, with a real executable."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockercfg import versioncache
from dockercfg.versioncache import cache_dir, lookup, remember, start_probe

SCRIPT = "#!/bin/sh\necho x >> {calls}\necho 'Docker version {version}, build abc'\n"


def make_dockerd(tmp_path: Path, version: str = "26.1.5") -> Path:
    """A real executable named dockerd that counts its runs in tmp_path/calls."""
    binary = tmp_path / "bin/dockerd"
    binary.parent.mkdir(exist_ok=True)
    binary.write_text(SCRIPT.format(calls=tmp_path / "calls", version=version))
    binary.chmod(0o755)
    return binary


def runs(tmp_path: Path) -> int:
    calls = tmp_path / "calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    return make_dockerd(tmp_path)


def probe(cache: Path) -> str:
    proc = start_probe(directory=str(cache))
    assert proc is not None
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    return out.strip()


def test_second_probe_is_answered_from_the_cache_without_running_dockerd(tmp_path, on_path):
    cache = tmp_path / "cache"
    assert probe(cache) == "Docker version 26.1.5, build abc"
    assert probe(cache) == "Docker version 26.1.5, build abc"
    assert runs(tmp_path) == 1
    assert (cache / "dockerd-version").stat().st_mode & 0o777 == 0o644


def test_an_upgraded_binary_is_a_miss(tmp_path, on_path):
    cache = tmp_path / "cache"
    probe(cache)
    time.sleep(0.01)
    make_dockerd(tmp_path, "27.0.1")  # same inode, new size and mtime
    assert probe(cache) == "Docker version 27.0.1, build abc"
    assert runs(tmp_path) == 2


def test_a_replaced_binary_with_the_same_size_and_mtime_is_a_miss(tmp_path, on_path):
    cache = tmp_path / "cache"
    probe(cache)
    st = on_path.stat()
    copy = tmp_path / "copy"
    copy.write_bytes(on_path.read_bytes().replace(b"26.1.5", b"26.1.6"))
    copy.chmod(0o755)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, on_path)  # a new inode: what dpkg does on upgrade
    assert probe(cache) == "Docker version 26.1.6, build abc"


def test_another_dockerd_first_on_path_is_a_miss(tmp_path, on_path, monkeypatch):
    cache = tmp_path / "cache"
    probe(cache)
    (tmp_path / "other").mkdir()
    other = make_dockerd(tmp_path / "other", "20.10.24")
    monkeypatch.setenv("PATH", f"{other.parent}:{on_path.parent}:/usr/bin:/bin")
    assert probe(cache) == "Docker version 20.10.24, build abc"


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"1\tx\n", b"\xff\xfe\t\t\t\n", b"1\t" + b"a" * 5000 + b"\n"],
    ids=["empty", "garbage", "short", "not-utf8", "huge"],
)
def test_a_malformed_cache_is_ignored_and_rewritten(tmp_path, on_path, content):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "dockerd-version").write_bytes(content)
    assert probe(cache) == "Docker version 26.1.5, build abc"
    assert lookup(str(on_path), str(cache)) == "Docker version 26.1.5, build abc"


def test_a_cache_writable_by_others_is_not_trusted(tmp_path, on_path):
    cache = tmp_path / "cache"
    probe(cache)
    (cache / "dockerd-version").chmod(0o666)
    assert lookup(str(on_path), str(cache)) is None


def test_a_symlinked_cache_file_is_not_followed(tmp_path, on_path):
    cache = tmp_path / "cache"
    probe(cache)
    real = tmp_path / "elsewhere"
    os.replace(cache / "dockerd-version", real)
    (cache / "dockerd-version").symlink_to(real)
    assert lookup(str(on_path), str(cache)) is None


def test_an_unwritable_cache_directory_still_gives_the_version(tmp_path, on_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = blocker / "sub"  # below a regular file: cannot be created, by anyone
    assert probe(cache) == "Docker version 26.1.5, build abc"
    assert probe(cache) == "Docker version 26.1.5, build abc"
    assert runs(tmp_path) == 2
    assert remember(str(on_path), "Docker version 1.0.0", str(cache)) is False


def test_no_dockerd_on_path_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert start_probe(directory=str(tmp_path / "cache")) is None


def test_cache_dir_for_root_and_for_users():
    assert cache_dir({}, euid=0) == "/var/cache/dockercfg"
    assert cache_dir({"XDG_CACHE_HOME": "/x"}, euid=1000) == "/x/dockercfg"
    assert cache_dir({"HOME": "/home/u"}, euid=1000) == "/home/u/.cache/dockercfg"
    assert cache_dir({"DOCKERCFG_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}, euid=0) == "/c"


def test_the_module_imports_nothing_heavy():
    source = Path(versioncache.__file__).read_text()
    imports = {
        line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "contextlib", "os", "stat", "subprocess", "collections.abc"}, (
        imports
    )
