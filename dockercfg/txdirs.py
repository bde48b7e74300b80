"""Directories a transaction creates for new files, and their removal when it is undone.

A change that writes a new file in a missing directory (certs.d/HOST:PORT/, ~/.config/docker/,
containerd's certs.d/HOST/) creates it; the journal lists every such directory before the first
write, so a rollback, a failure or recovery after a kill removes them again. A directory is
removed only when nothing is left in it but dockercfg's own bookkeeping for the files that went
(their lock files, and the backups a rollback made of files whose bytes the history keeps),
deepest first; one holding anything else stays.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from dockercfg import filelock, ownership, safefile
from dockercfg.errors import EnvironmentProblem
from dockercfg.fserrors import os_problem

DIR_MODE = 0o755
INTENT = "dirs-"  # STATE/dirs-PID.json: directories a run is about to create before its lock


def missing_parents(path: Path) -> list[Path]:
    """The directories above `path` that do not exist, outermost first."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    return missing[::-1]


def made_for(paths: Iterable[Path], made_before: Iterable[Path] = ()) -> list[Path]:
    """What a transaction writing `paths` creates (plus what its caller just made), in order."""
    out: list[Path] = []
    for directory in [*made_before, *(d for p in paths for d in missing_parents(p))]:
        if directory not in out:
            out.append(directory)
    return out


def make_parents(path: Path) -> None:
    """Create the missing directories above `path` (0755, owned like their parent): a restored
    file goes back into the directory a rollback of its creation removed."""
    for directory in missing_parents(path):
        try:
            ownership.make_dir(directory, DIR_MODE)
        except OSError as err:
            raise os_problem(f"create {directory}", err) from None


def remove_emptied(dirs: Iterable[Path | str], gone: Iterable[Path] = ()) -> list[Path]:
    """Remove each of `dirs` that holds nothing but the bookkeeping of the files in `gone`
    (files the transaction leaves absent), deepest first; the ones removed. Best effort: a
    directory that cannot go stays, and is no error."""
    names: dict[Path, set[str]] = {}
    for path in gone:
        names.setdefault(Path(path).parent, set()).add(Path(path).name)
    removed = []
    for directory in sorted({Path(d) for d in dirs}, key=lambda d: len(d.parts), reverse=True):
        _clear_bookkeeping(directory, names.get(directory, set()))
        try:
            os.rmdir(directory)
        except OSError:  # gone already, or something else lives there now
            continue
        with contextlib.suppress(OSError):  # the lock of the directory itself, in its parent
            filelock.lock_path(directory).unlink()
        with contextlib.suppress(Exception):
            safefile.fsync_dir(directory.parent)
        removed.append(directory)
    return removed


def _clear_bookkeeping(directory: Path, names: set[str]) -> None:
    names = {n for n in names if not (directory / n).exists()}  # a file is there again: keep
    for name in names:  # a killed write's temp file (the caller holds the transaction lock)
        with contextlib.suppress(EnvironmentProblem):
            safefile.cleanup_stale_temp(directory / name)
    locks = {filelock.lock_path(directory / n).name for n in names}
    backups = safefile.backup_dir(directory / "x")
    for name in _listdir(directory):
        if name in locks:
            with contextlib.suppress(OSError):
                os.unlink(directory / name)
    for name in _listdir(backups):
        if any(name.startswith(n + ".") for n in names):  # NAME.TIMESTAMP
            with contextlib.suppress(OSError):
                os.unlink(backups / name)
    with contextlib.suppress(OSError):
        os.rmdir(backups)


def _listdir(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


# Directories made before the lock ------------------------------------------------------------
# trust-ca creates certs.d/HOST:PORT/ (and its parents) before it can take the lock that lives
# beside it, so before the journal exists. It first writes their names to STATE/dirs-PID.json;
# the journal takes them over, and a run killed before that leaves the file, which the next run
# to take the transaction lock settles (the directories go, when nothing else is in them).


def intend(state: Path, dirs: list[Path]) -> Path | None:
    """Record `dirs` (about to be created) under the state directory; None when nothing is."""
    if not dirs:
        return None
    path = state / f"{INTENT}{os.getpid()}.json"
    data = json.dumps([str(d) for d in dirs]).encode() + b"\n"
    safefile.atomic_write(path, data, mode=0o600, kind="journal")
    return path


def settled(intent: Path | None) -> None:
    """The journal (or a cleanup) has taken the intent over: drop the record."""
    if intent is not None:
        with contextlib.suppress(OSError):
            os.unlink(intent)


def sweep_intents(state: Path) -> None:
    """Settle the records of runs that died before their journal (under the transaction lock)."""
    for name in _listdir(state):
        pid = name[len(INTENT) : -len(".json")]
        if not (name.startswith(INTENT) and name.endswith(".json") and pid.isdigit()):
            continue
        if int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue  # its run is alive (a pid reused since only delays the cleanup)
        try:
            dirs = json.loads((state / name).read_bytes())
        except (OSError, ValueError):
            dirs = []
        remove_emptied([d for d in dirs if isinstance(d, str)])
        with contextlib.suppress(OSError):
            os.unlink(state / name)
