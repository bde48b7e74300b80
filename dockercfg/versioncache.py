"""`dockerd --version`, remembered per binary: the Go binary takes ~80 ms to answer, every run.

The answer is cached keyed by the binary's identity (device, inode, size, mtime in ns) and path,
so an upgrade, a reinstall or another dockerd first on PATH is a miss. Root uses
/var/cache/dockercfg, other users $XDG_CACHE_HOME/dockercfg (~/.cache/dockercfg);
DOCKERCFG_CACHE_DIR overrides both (images, tests). A cache that is stale, unreadable,
malformed, or writable by someone else is ignored: the cost of a miss is one run of dockerd.

Imported by the console entry point before typer, so this module imports only what subprocess does.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Mapping

CACHE_FILE = "dockerd-version"
MAX_LINE = 4096  # `dockerd --version` is one short line; anything longer is not ours


def cache_dir(env: Mapping[str, str] = os.environ, euid: int | None = None) -> str:
    """Where the cache lives for this user (see the module docstring)."""
    if env.get("DOCKERCFG_CACHE_DIR"):
        return env["DOCKERCFG_CACHE_DIR"]
    if (os.geteuid() if euid is None else euid) == 0:
        return "/var/cache/dockercfg"
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or "/nonexistent", ".cache")
    return os.path.join(base, "dockercfg")


def find_binary(name: str = "dockerd", env: Mapping[str, str] = os.environ) -> str | None:
    """`name` on PATH, like the shell would run it (shutil.which costs an import here)."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    for directory in (env.get("PATH") or os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def identity(binary: str) -> str | None:
    """The binary's (device, inode, size, mtime ns) as text, or None when it cannot be stat'ed."""
    try:
        st = os.stat(binary)
    except OSError:
        return None
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def lookup(binary: str, directory: str | None = None) -> str | None:
    """The remembered `--version` output of `binary`, or None (miss, stale or untrusted)."""
    ident = identity(binary)
    if ident is None:
        return None
    path = os.path.join(directory or cache_dir(), CACHE_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        # Someone else's file could claim any version and so weaken validation: not trusted.
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        data = os.read(fd, MAX_LINE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = text.rstrip("\n").split("\t")
    if len(data) > MAX_LINE or len(fields) != 4 or fields[0] != "1":
        return None
    _format, cached_binary, cached_ident, output = fields
    if cached_binary != binary or cached_ident != ident or not output:
        return None
    return output


def remember(binary: str, output: str, directory: str | None = None) -> bool:
    """Store `output` for `binary` (atomically: a reader sees the old or the new line); True
    when stored. Never raises: a cache that cannot be written just stays a miss."""
    ident = identity(binary)
    line = output.strip().splitlines()[0] if output.strip() else ""
    if ident is None or not line or "\t" in binary + line or "\n" in binary:
        return False
    directory = directory or cache_dir()
    tmp = os.path.join(directory, f".{CACHE_FILE}.{os.getpid()}")
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, f"1\t{binary}\t{ident}\t{line}\n".encode())
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(directory, CACHE_FILE))
    except (OSError, UnicodeEncodeError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


class _Known:
    """A finished `dockerd --version` from the cache, with the Popen calls detect.py makes."""

    returncode = 0

    def __init__(self, output: str) -> None:
        self.output = output

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        return self.output, None

    def kill(self) -> None:
        pass


class _Recording:
    """A running `dockerd --version` whose successful answer is remembered."""

    def __init__(self, proc: subprocess.Popen, binary: str, directory: str | None) -> None:
        self.proc, self.binary, self.directory = proc, binary, directory

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str | None]:
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode == 0 and out:
            remember(self.binary, out, self.directory)
        return out, err

    def kill(self) -> None:
        self.proc.kill()


def start_probe(name: str = "dockerd", directory: str | None = None) -> _Known | _Recording | None:
    """`dockerd --version` as a Popen-like object: answered from the cache when the binary is
    the one remembered, else started now (and remembered when it answers). None: no dockerd."""
    binary = find_binary(name)
    if binary is None:
        return None
    cached = lookup(binary, directory)
    if cached is not None:
        return _Known(cached)
    try:
        proc = subprocess.Popen(
            [binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
    except OSError:
        return None
    return _Recording(proc, binary, directory)
