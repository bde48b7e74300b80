"""Locks: an fcntl lock in a file beside the one being changed, bounded, naming its holder.

- DOCKERCFG_LOCK_TIMEOUT=SECONDS: how long to wait for another dockercfg's lock (default 30).
The holder also sweeps what a killed earlier run left behind (temp files, half-written backups).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dockercfg import ownership, safefile
from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.fserrors import fault, os_problem

LOCK_SUFFIX = ".dockercfg.lock"
LOCK_TIMEOUT = 30.0  # seconds; DOCKERCFG_LOCK_TIMEOUT overrides it
LOCK_TIMEOUT_ENV = "DOCKERCFG_LOCK_TIMEOUT"


def lock_path(path: Path) -> Path:
    """The lock file; not the target itself, whose inode is replaced by every write."""
    return path.parent / f".{path.name}{LOCK_SUFFIX}"


def lock_timeout() -> float:
    """DOCKERCFG_LOCK_TIMEOUT in seconds, or the default."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:  # also refuses nan and inf
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={raw[:40]!r} is not a number of seconds")
    return value


@contextlib.contextmanager
def lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive flock for `path` (polled, bounded by `timeout` seconds).

    The holder also removes what a crashed (killed) earlier run left behind: temp files beside
    the file and in its backup directory. Without a timeout, DOCKERCFG_LOCK_TIMEOUT or 30 s.
    """
    if timeout is None:
        timeout = lock_timeout()
    lp = lock_path(path)
    try:
        fd = os.open(lp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW: root must not write through a planted link
            raise EnvironmentProblem(f"cannot lock {path}: {lp} is a symlink") from None
        raise os_problem(f"lock {path}", err) from None
    _own_like_directory(fd, lp)
    try:
        _acquire(fd, path, timeout)
    except BaseException:
        os.close(fd)
        raise
    try:
        _set_holder(fd, f"{os.getpid()}\n")
        fault("locked")
        safefile.cleanup_after_crash(path)
        yield
    finally:
        _set_holder(fd, "")  # a released lock must not name a pid that no longer holds it
        os.close(fd)  # closing the only descriptor releases the flock


def _own_like_directory(fd: int, lp: Path) -> None:
    """A lock root creates (or an older run left) in a user's directory becomes that user's, so
    their own later run can take it (ownership.inherited_owner)."""
    owner = ownership.inherited_owner(lp.parent)
    if owner is None:
        return
    with contextlib.suppress(OSError):  # best effort: the lock works whoever owns it
        st = os.fstat(fd)
        if st.st_uid == 0 and st.st_nlink == 1:
            os.fchown(fd, *owner)


def _acquire(fd: int, path: Path, timeout: float) -> None:
    # LOCK_NB polling instead of a blocking flock: a blocking call cannot be given a timeout.
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as err:  # e.g. ENOLCK on a network file system
            raise os_problem(f"lock {path}", err) from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EnvironmentProblem(
                f"timed out after {timeout:g}s waiting for the lock on {path}"
                f" (held by {_holder(fd)})"
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.25)


def _set_holder(fd: int, text: str) -> None:
    # The pid is only a diagnostic for the timeout message: failing to record it is not fatal.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        if text:
            os.pwrite(fd, text.encode(), 0)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return f"pid {text}"
    return "another process"  # not yet recorded, or unreadable
