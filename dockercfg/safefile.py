"""Crash-safe file changes: atomic replace, backups, restore (locks: dockercfg.filelock).

Every expected OS failure becomes one EnvironmentProblem line naming the path and the cause; the
file being changed is either the old bytes or the new bytes, never anything in between.

Environment variables:
- DOCKERCFG_FAULT=POINT[,POINT...]: a test hook, inert unless set. The process SIGKILLs itself
  when it reaches a named point, to prove crash safety (tests/adversarial). Points: `locked`
  (lock just taken) and, for KIND `backup` (copy into .dockercfg-backups) and `write` (the file
  itself, also on restore): KIND-temp-created, KIND-temp-partial (half the bytes written),
  KIND-temp-written, KIND-temp-synced, KIND-renamed (before the directory fsync), KIND-done.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from dockercfg.errors import EnvironmentProblem
from dockercfg.fserrors import FAULT_ENV, describe_os_error, fault, not_regular, os_problem
from dockercfg.ownership import inherited_owner, make_dir

TMP_MARK = ".dockercfg-tmp-"
BACKUP_DIR = ".dockercfg-backups"
NEW_FILE_MODE = 0o644
_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_STAMP = re.compile(r"[0-9]{8}T[0-9]{6}\.[0-9]{6}Z")
_MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang us; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise os_problem(f"read {path}", err) from None
    try:
        problem = not_regular("read", path, os.fstat(fd).st_mode)
        if problem:
            raise problem
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError as err:
        raise os_problem(f"read {path}", err) from None
    finally:
        os.close(fd)


def final_target(path: Path) -> Path:
    """Follow symlinks at the last component only, so a relative path stays relative."""
    current = path
    for _ in range(_MAX_LINKS):
        try:
            link = os.readlink(current)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):  # not a symlink / not there yet
                return current
            raise os_problem(f"access {path}", err) from None
        current = current.parent / link  # an absolute link replaces the whole path
    raise EnvironmentProblem(f"cannot access {path}: too many levels of symbolic links")


def atomic_write(
    path: Path,
    data: bytes,
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
    kind: str = "write",
) -> None:
    """Replace the file (a symlink's final target) with `data`; keep its mode and owner.

    A file that does not exist yet gets `mode` (default 0644) and, when given, `owner`.
    `kind` names the fault points (KIND-temp-created, …): "journal" for the journal's own."""
    _write(path, data, fallback=None, new_mode=mode, new_owner=owner, kind=kind)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    _fsync_dir(directory, str(directory))


def restore(path: Path, backup_file: Path) -> None:
    """Put a backup's bytes back; a file that no longer exists gets the backup's mode/owner."""
    data = read_bytes(backup_file)
    if data is None:
        raise EnvironmentProblem(f"cannot restore {path}: backup {backup_file} does not exist")
    try:
        like = os.stat(backup_file)
    except OSError as err:
        raise os_problem(f"read {backup_file}", err) from None
    _write(path, data, fallback=like)


def remove(path: Path) -> None:
    """Delete the file (a symlink's final target, keeping the link); absent is fine."""
    target = _trusted_target(path)
    shown = _shown(path, target)
    try:
        os.unlink(target)
    except FileNotFoundError:
        return
    except OSError as err:
        raise os_problem(f"remove {shown}", err) from None
    _fsync_dir(target.parent, shown)


def cleanup_stale_temp(path: Path) -> list[Path]:
    """Remove temp files a crashed run left beside `path`; call only while holding its lock."""
    target = final_target(path)
    prefix = f".{target.name}{TMP_MARK}"
    return _remove_files(target.parent, lambda name: name.startswith(prefix))


def cleanup_after_crash(path: Path) -> None:
    """Best effort: a leftover must never stop the command that finds it."""
    with contextlib.suppress(EnvironmentProblem):
        cleanup_stale_temp(path)
    directory = backup_dir(path)
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(directory).st_mode):  # never through a planted symlink
            prefix = f".{path.name}."
            _remove_files(directory, lambda name: name.startswith(prefix) and TMP_MARK in name)


def _shown(path: Path, target: Path) -> str:
    return str(path) if target == path else f"{path} (-> {target})"


def _trusted_target(path: Path) -> Path:
    """final_target(path), refused when a symlink leads somewhere another user controls.

    Whoever can change the file (or swap files in its directory) decides what dockerd runs
    with, so as root a symlink is followed only to a file and directory owned by root (as another
    user: by that user) that nobody else may write.
    """
    target = final_target(path)
    if target == path:
        return target
    me = os.geteuid()
    for what, where in (("file", target), ("directory", target.parent)):
        try:
            st = os.stat(where)
        except FileNotFoundError:
            continue  # a dangling link: the directory check still applies
        except OSError as err:
            raise os_problem(f"access {path}", err) from None
        owner = "root" if me == 0 else f"uid {me}"
        if st.st_uid not in (0, me):
            reason = f"it is owned by uid {st.st_uid}, not {owner}"
        elif st.st_mode & 0o002:
            reason = "anyone may write it"
        elif st.st_mode & 0o020 and st.st_gid not in (0, os.getegid()):
            reason = f"group {st.st_gid} may write it"
        else:
            continue
        raise EnvironmentProblem(
            f"refusing to follow the symlink {path} -> {target}: the {what} {where} is not"
            f" safe ({reason}), and whoever can change it controls dockerd; make {owner} its only"
            " writer, or replace the symlink with the file"
        )
    return target


def _write(
    path: Path,
    data: bytes,
    fallback: os.stat_result | None,
    new_mode: int | None = None,
    new_owner: tuple[int, int] | None = None,
    kind: str = "write",
) -> None:
    target = _trusted_target(path)
    shown = _shown(path, target)
    if not data:
        raise EnvironmentProblem(f"refusing to write an empty file to {shown}")
    try:
        like: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        like = fallback
    except OSError as err:
        raise os_problem(f"write {shown}", err) from None
    problem = like and not_regular("write", shown, like.st_mode)
    if problem:
        raise problem
    cleanup_stale_temp(target)
    _replace(target, data, like, f"write {shown}", kind, new_mode, new_owner)


def _replace(
    target: Path,
    data: bytes,
    like: os.stat_result | None,
    what: str,
    kind: str = "backup",
    new_mode: int | None = None,
    new_owner: tuple[int, int] | None = None,
) -> None:
    """Temp file in the target's directory (rename is only atomic within one file system)."""
    fd, tmp = _create_temp(target, what)
    try:
        try:
            fault(f"{kind}-temp-created")
            view = memoryview(data)
            if os.environ.get(FAULT_ENV):
                view = view[os.write(fd, view[: len(view) // 2]) :]
                fault(f"{kind}-temp-partial")
            while view:
                view = view[os.write(fd, view) :]
            fault(f"{kind}-temp-written")
            _copy_metadata(fd, target, like, what, new_mode, new_owner)
            os.fsync(fd)  # after the metadata too: a crash must not leave the new file 0600
            fault(f"{kind}-temp-synced")
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            if err.errno == errno.EPERM and err.filename2 is None:
                err.filename2 = str(target)  # a failed write or fsync names only the temp file
            raise os_problem(what, err) from None
        raise
    fault(f"{kind}-renamed")
    _fsync_dir(target.parent, str(target))
    fault(f"{kind}-done")


def _create_temp(target: Path, what: str) -> tuple[int, Path]:
    # Not tempfile.mkstemp: it returns an absolute path, and a relative target must stay relative.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(100):
        tmp = target.parent / f".{target.name}{TMP_MARK}{os.urandom(4).hex()}"
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
        except OSError as err:
            raise os_problem(what, err) from None
    raise EnvironmentProblem(f"cannot {what}: no free temporary file name")


def _copy_metadata(
    fd: int,
    target: Path,
    like: os.stat_result | None,
    what: str,
    new_mode: int | None = None,
    new_owner: tuple[int, int] | None = None,
) -> None:
    if like is None:  # a new file: world-readable like the daemon.json packages ship
        owner = new_owner or inherited_owner(target.parent)
        if owner is not None and os.geteuid() == 0:
            os.fchown(fd, *owner)  # a per-user file stays its user's after sudo
        os.fchmod(fd, NEW_FILE_MODE if new_mode is None else new_mode)
        return
    have = os.fstat(fd)
    if (have.st_uid, have.st_gid) != (like.st_uid, like.st_gid):
        try:
            os.fchown(fd, like.st_uid, like.st_gid)
        except OSError as err:
            mine = f"{os.geteuid()}:{os.getegid()}"
            hint = f"; run with sudo, or make it yours: sudo chown {mine} {target}"
            raise EnvironmentProblem(
                f"cannot {what}: cannot keep its owner {like.st_uid}:{like.st_gid}:"
                f" {describe_os_error(err)}" + (hint if os.geteuid() != 0 else "")
            ) from None
    os.fchmod(fd, stat.S_IMODE(like.st_mode))  # after fchown, which clears setuid/setgid
    # Best effort: keep an SELinux label that differs from the directory's default.
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(fd, "security.selinux", os.getxattr(target, "security.selinux"))


def _fsync_dir(directory: Path, shown: str) -> None:
    """Make the rename itself durable, not just the file's contents."""
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.ENOTSUP):  # file systems without directory fsync
            return
        raise EnvironmentProblem(
            f"wrote {shown} but could not flush its directory {directory}: {describe_os_error(err)}"
        ) from None


def _remove_files(directory: Path, wanted: Callable[[str], bool]) -> list[Path]:
    # Best effort: a leftover we cannot list or delete must not stop the change itself.
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for candidate in (directory / name for name in names if wanted(name)):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                os.unlink(candidate)
                removed.append(candidate)
    return removed


def backup_dir(path: Path) -> Path:
    return path.parent / BACKUP_DIR


def list_backups(path: Path) -> list[Path]:
    """Backups of `path`, newest first (the UTC timestamp in the name sorts chronologically)."""
    directory = backup_dir(path)
    prefix = f"{path.name}."
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise os_problem(f"list the backups in {directory}", err) from None
    found = [n for n in names if n.startswith(prefix) and _STAMP.fullmatch(n[len(prefix) :])]
    return [directory / n for n in sorted(found, reverse=True)]


def backup(path: Path, keep: int = 10) -> Path | None:
    """Copy the current file into .dockercfg-backups/ and keep the newest `keep`; None if absent."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        like = os.stat(path)
    except OSError as err:
        raise os_problem(f"back up {path}", err) from None
    directory = backup_dir(path)
    try:
        make_dir(directory, 0o700, reclaim=True)  # exactly 0700: backups hold private config
    except OSError as err:
        raise os_problem(f"back up {path} into {directory}", err) from None
    if directory.is_symlink() or not directory.is_dir():  # backups hold root's config
        raise EnvironmentProblem(f"cannot back up {path}: {directory} is not a directory")
    existing = list_backups(path)
    stamp = datetime.now(timezone.utc)
    if existing:  # the clock went back, or two backups in one microsecond: still sort last
        newest = datetime.strptime(existing[0].name[len(path.name) + 1 :], _STAMP_FORMAT)
        newest = newest.replace(tzinfo=timezone.utc)
        stamp = max(stamp, newest + timedelta(microseconds=1))
    dest = directory / f"{path.name}.{stamp.strftime(_STAMP_FORMAT)}"
    prefix = f".{path.name}."
    _remove_files(directory, lambda name: name.startswith(prefix) and TMP_MARK in name)
    # Also for an empty file: a backup must be exact.
    _replace(dest, data, like, f"back up {path} to {dest}")
    for old in list_backups(path)[max(keep, 1) :]:
        with contextlib.suppress(OSError):  # pruning is housekeeping, not part of the change
            os.unlink(old)
    return dest
