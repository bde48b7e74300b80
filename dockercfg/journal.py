"""The journal of a transaction, and the history that `rollback` walks back through.

Before the first file of a transaction changes, a manifest is written and fsynced to
`STATE/pending.json`: the transaction id, the command, and for every file its path, its old bytes
(or "absent"), its new bytes and their hash, and its mode and owner. The phase is updated as the
transaction goes (written → applied → verified). Finishing moves the manifest into
`STATE/history/ID.json`, which is what `rollback` undoes. A manifest still pending at start means
a run died in the middle: recovery completes or reverts it (dockercfg.recovery).

STATE is /var/lib/dockercfg (inside --root when given), or the invoking user's
$XDG_STATE_HOME/dockercfg (default ~/.local/state/dockercfg, theirs also under sudo) for per-user
targets, or DOCKERCFG_STATE_DIR (without --root). The directory is 0700: manifests hold config
bytes.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockercfg import ownership, safefile
from dockercfg.engines.base import FileChange
from dockercfg.errors import EnvironmentProblem
from dockercfg.invoker import Invoker, inside

PENDING = "pending.json"
HISTORY = "history"
KEEP_HISTORY = 50
FORMAT = 1

# Phases, in order. A manifest found in any phase before VERIFIED is reverted by recovery.
WRITING = "writing"  # files may be partly written
APPLYING = "applying"  # every file written; the engines are being told
VERIFIED = "verified"  # every engine shows the new configuration
ROLLING_BACK = "rolling-back"  # a failure or a signal: the old bytes are going back


STATE_DIR_ENV = "DOCKERCFG_STATE_DIR"


def state_dir(root: Path, user: Invoker | None = None) -> Path:
    """Where journals live: under the invoking user's state dir for per-user targets (`user`,
    also under sudo: dockercfg.invoker). DOCKERCFG_STATE_DIR=DIR puts them elsewhere (a
    read-only /var/lib, or a test's sandbox)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override and root == Path("/"):  # under --root, the tree's own /var/lib is the host's
        return Path(override)
    if user is not None:
        return inside(root, user.state_home) / "dockercfg"
    return root / "var" / "lib" / "dockercfg"


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text.encode("ascii"))


@dataclass
class Entry:
    """One file as the journal knows it."""

    path: Path
    shown: str
    before: bytes | None
    after: bytes | None
    mode: int | None = None
    owner: tuple[int, int] | None = None

    @classmethod
    def of(cls, change: FileChange) -> Entry:
        mode, owner = change.mode, change.owner
        try:
            st = os.stat(change.path)
            mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
        except OSError:
            pass
        return cls(change.path, change.shown, change.before, change.after, mode, owner)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "shown": self.shown,
            "before": _b64(self.before),
            "before_sha256": sha256(self.before),
            "after": _b64(self.after),
            "after_sha256": sha256(self.after),
            "mode": self.mode,
            "owner": list(self.owner) if self.owner else None,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Entry:
        owner = obj.get("owner")
        return cls(
            Path(obj["path"]),
            obj["shown"],
            _unb64(obj.get("before")),
            _unb64(obj.get("after")),
            obj.get("mode"),
            (int(owner[0]), int(owner[1])) if owner else None,
        )

    def state_now(self) -> str:
        """'new', 'old' or 'other': which side of the transaction the file is on now."""
        now = safefile.read_bytes(self.path)
        if now == self.after:
            return "new"
        if now == self.before:
            return "old"
        return "other"


@dataclass
class Manifest:
    id: str
    command: str
    entries: list[Entry]
    phase: str = WRITING
    started: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    engines: list[str] = field(default_factory=list)
    undoes: list[str] = field(default_factory=list)  # ids this transaction rolled back
    undone_by: str | None = None
    made_dirs: list[str] = field(default_factory=list)  # created for its new files: undo removes

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "command": self.command,
            "phase": self.phase,
            "started": self.started,
            "pid": self.pid,
            "engines": self.engines,
            "undoes": self.undoes,
            "undone_by": self.undone_by,
            "made_dirs": self.made_dirs,
            "files": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Manifest:
        return cls(
            id=str(obj["id"]),
            command=str(obj["command"]),
            entries=[Entry.from_json(f) for f in obj["files"]],
            phase=str(obj.get("phase", WRITING)),
            started=float(obj.get("started", 0)),
            pid=int(obj.get("pid", 0)),
            engines=list(obj.get("engines", [])),
            undoes=list(obj.get("undoes", [])),
            undone_by=obj.get("undone_by"),
            made_dirs=[str(d) for d in obj.get("made_dirs", [])],
        )

    def summary(self) -> dict[str, Any]:
        """What `rollback --list` and the reports show (no file bytes)."""
        return {
            "id": self.id,
            "command": self.command,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "files": [e.shown for e in self.entries],
            "undoes": self.undoes,
            "undone_by": self.undone_by,
        }


def new_id() -> str:
    """Sortable by time, unique across concurrent hosts and runs."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
    return f"{stamp}.{now // 1000 % 10**6:06d}Z-{os.urandom(3).hex()}"


class Journal:
    """The state directory of one host (or one user), used under the transaction lock."""

    def __init__(self, directory: Path, home: Path | None = None) -> None:
        self.dir = directory
        self.home = home  # the user's home, for a per-user journal (inside --root)
        self.stack: ExitStack | None = None  # the locks of the running transaction
        self.held = False  # the host-wide transaction lock is taken

    @property
    def pending_path(self) -> Path:
        return self.dir / PENDING

    def ensure(self) -> None:
        """Create the state directory (0700) and its parents; in a user's tree they are that
        user's (dockercfg.ownership), and what an older run under sudo left root-owned there
        is given back to them, so that their own run can read its history."""
        missing = []
        parent = self.dir.parent
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        below_home = []
        if self.home is not None and self.home in parent.parents:
            below_home = [p for p in reversed(parent.parents) if self.home in p.parents]
            below_home.append(parent)
        wanted = [(d, 0o755, True) for d in below_home]
        wanted += [(d, 0o755, False) for d in reversed(missing)]
        wanted += [(self.dir, 0o700, True), (self.dir / HISTORY, 0o700, True)]
        for d, mode, reclaim in wanted:
            try:
                ownership.make_dir(d, mode, reclaim=reclaim)
            except OSError as err:
                raise EnvironmentProblem(
                    f"cannot create {d}: {os.strerror(err.errno or errno.EIO).lower()}"
                    + ("; this needs root: try again with sudo" if os.geteuid() != 0 else "")
                ) from None
        if not self.dir.is_dir() or self.dir.is_symlink():
            raise EnvironmentProblem(f"cannot use {self.dir}: it is not a directory")
        if self.home is not None:
            for d in (self.dir, self.dir / HISTORY):
                ownership.reclaim_files(d)

    def lock_anchor(self) -> Path:
        """The path whose lock serialises transactions on this host."""
        return self.dir / "transaction"

    def write(self, manifest: Manifest, where: Path | None = None) -> None:
        data = json.dumps(manifest.to_json(), indent=1).encode() + b"\n"
        safefile.atomic_write(where or self.pending_path, data, mode=0o600, kind="journal")

    def pending(self) -> Manifest | None:
        """The unfinished transaction, if any. An unreadable manifest is an environment error."""
        return self._read(self.pending_path)

    def _read(self, path: Path) -> Manifest | None:
        data = safefile.read_bytes(path)
        if data is None:
            return None
        try:
            return Manifest.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError) as err:
            raise EnvironmentProblem(f"cannot read the journal {path}: {err}") from None

    def finish(self, manifest: Manifest) -> None:
        """Move the manifest into the history (atomic rename), then prune old history."""
        self.write(manifest)
        os.replace(self.pending_path, self.dir / HISTORY / f"{manifest.id}.json")
        safefile.fsync_dir(self.dir)
        for old in self.history()[KEEP_HISTORY:]:
            with contextlib.suppress(OSError):
                os.unlink(self.dir / HISTORY / f"{old.id}.json")

    def discard(self) -> None:
        """Drop a pending manifest whose files are all back to their old bytes."""
        try:
            os.unlink(self.pending_path)
        except FileNotFoundError:
            return
        safefile.fsync_dir(self.dir)

    def history(self) -> list[Manifest]:
        """Finished transactions, newest first."""
        try:
            names = os.listdir(self.dir / HISTORY)
        except OSError:
            return []
        found = []
        for name in sorted((n for n in names if n.endswith(".json")), reverse=True):
            try:
                manifest = self._read(self.dir / HISTORY / name)
            except EnvironmentProblem:
                continue  # a damaged old record must not block anything
            if manifest is not None:
                found.append(manifest)
        return found

    def save_history(self, manifest: Manifest) -> None:
        self.write(manifest, self.dir / HISTORY / f"{manifest.id}.json")
