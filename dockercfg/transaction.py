"""The one writer: every file dockercfg changes goes through `commit`.

Order (DESIGN.md): the caller takes `locked()` (host-wide transaction lock, then each file's lock;
an unfinished journal is recovered first), reads and plans FileChanges, validates, and then either
previews (`--dry-run`: nothing below happens) or calls `commit`:

  journal (old and new bytes, fsynced) → write each file atomically (with a backup) → apply every
  engine → verify every engine → finalize (the journal moves into the history)

or, on any failure or signal: restore every file, apply the old files again, and say exactly what
state the host is left in. SIGINT, SIGTERM and SIGHUP raise `Interrupted` at the next safe point;
during the journal writes, each file write and the whole rollback they are only remembered, so a
second signal cannot abandon a rollback. Exit code for a signal: 128 + its number.

Fault points for the crash tests (DOCKERCFG_FAULT, see dockercfg.fserrors): `tx-journaled`,
`tx-written-N` (after the N-th file, from 1), `tx-applied`, `tx-verified`, `tx-restored`.
"""

from __future__ import annotations

import contextlib
import difflib
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockercfg import filelock, journal, ownership, safefile, txdirs
from dockercfg.engines.base import Applier, FileChange
from dockercfg.errors import ApplyFailed, DockercfgError, EnvironmentProblem, Interrupted
from dockercfg.fserrors import fault
from dockercfg.result import Result

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Signals:
    """SIGINT/SIGTERM/SIGHUP raise Interrupted, except inside `deferred()`, where they are kept."""

    def __init__(self) -> None:
        self.caught: int | None = None
        self._deferred = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.caught is None:
            self.caught = signum
        if not self._deferred:
            raise Interrupted(signum)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def check(self) -> None:
        """Raise for a signal that arrived during a deferred section."""
        if self.caught is not None and not self._deferred:
            raise Interrupted(self.caught)


@dataclass
class Plan:
    """What one command changes: the files, and the engines that must take them."""

    command: str
    changes: list[FileChange]
    appliers: list[Applier] = field(default_factory=list)
    undoes: list[str] = field(default_factory=list)  # transaction ids a rollback undoes
    made_dirs: list[Path] = field(default_factory=list)  # created for it just before the lock
    drop_dirs: list[Path] = field(default_factory=list)  # a rollback: what the undone ones made

    @property
    def effective(self) -> list[FileChange]:
        return [c for c in self.changes if c.before != c.after]


def unified_diff(shown: str, before: bytes | None, after: bytes | None) -> str:
    old = (before or b"").decode("utf-8", "replace")
    new = (after or b"").decode("utf-8", "replace")
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True), shown, shown)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def preview(plan: Plan, result: Result) -> None:
    """Fill the result with what the plan changes: `changed`, the diff, each file's texts."""
    changes = plan.effective
    result.changed = bool(changes)
    if not changes:
        return
    result.diff = "".join(unified_diff(c.shown, c.before, c.after) for c in changes)
    result.data["files"] = [
        {"path": c.shown, "before": _text(c.before), "after": _text(c.after)} for c in changes
    ]


@contextlib.contextmanager
def locked(book: journal.Journal, paths: list[Path], recover: Any = None) -> Iterator[None]:
    """Hold every file's lock (in one order, so two runs cannot deadlock), then the host's
    transaction lock; `recover(manifest)` is called first when an earlier run left a journal.

    The state directory and its lock are created only by the first change that is written
    (`commit`): a refused or no-op command leaves no trace on the host."""
    with ExitStack() as stack:
        for path in sorted(set(paths), key=str):
            stack.enter_context(filelock.lock(path))
        book.stack = stack
        if book.dir.is_dir():
            hold_host_lock(book)
            txdirs.sweep_intents(book.dir)
            pending = book.pending()
            if pending is not None and recover is None:
                raise EnvironmentProblem(
                    f"an earlier change did not finish (transaction {pending.id},"
                    f" {pending.command}): run `dockercfg recover` first"
                )
            if pending is not None:
                recover(pending)
        try:
            yield
        finally:
            book.stack = None
            book.held = False


def hold_host_lock(book: journal.Journal) -> None:
    """Take the host-wide transaction lock (last of all locks), creating the state dir."""
    if book.held:
        return
    if book.stack is None:
        raise RuntimeError("a transaction must run inside transaction.locked()")
    book.ensure()
    book.stack.enter_context(filelock.lock(book.lock_anchor()))
    book.held = True


def _write(change: FileChange) -> Path | None:
    for directory in change.missing_dirs():  # e.g. certs.d/HOST:PORT/ for a new registry
        ownership.make_dir(directory, 0o755)  # in a user's tree: theirs
    backup = safefile.backup(change.path)
    if change.after is None:
        safefile.remove(change.path)
    else:
        safefile.atomic_write(change.path, change.after, mode=change.mode, owner=change.owner)
    return backup


def restore_entry(entry: journal.Entry) -> None:
    """Put a file's old bytes back (or remove it when it did not exist)."""
    if entry.before is None:
        safefile.remove(entry.path)
        return
    txdirs.make_parents(entry.path)  # a rollback of its creation removed its directory
    if entry.before.strip() or not entry.shown.endswith(".json"):
        # a file that was empty stays empty, except daemon.json: dockerd < 23 refuses an empty
        # one, and to every version "{}" means the same
        if entry.before:
            safefile.atomic_write(entry.path, entry.before, mode=entry.mode, owner=entry.owner)
        else:
            safefile.remove(entry.path)
            entry.path.touch(entry.mode or 0o644)
    else:
        safefile.atomic_write(entry.path, b"{}\n", mode=entry.mode, owner=entry.owner)


def restore_all(entries: list[journal.Entry], manifest: journal.Manifest | None = None) -> None:
    """Every entry's old bytes back; then the directories `manifest` made for its new files go
    again (with what dockercfg kept there for them: their locks, a killed write's temp file)."""
    for entry in reversed(entries):
        restore_entry(entry)
    if manifest is not None:
        gone = [e.path for e in manifest.entries if e.before is None]
        txdirs.remove_emptied(manifest.made_dirs, gone)


def files_shown(entries: list[journal.Entry], backups: dict[str, Path | None]) -> str:
    def one(entry: journal.Entry) -> str:
        if entry.before is None:
            return f"{entry.shown} (removed: it did not exist before)"
        backup = backups.get(entry.shown)
        return entry.shown + (f" (backup {backup})" if backup else "")

    return ", ".join(one(e) for e in entries)


def commit(book: journal.Journal, plan: Plan, result: Result) -> journal.Manifest | None:
    """Journal, write, apply, verify, finalize; or restore everything and raise (exit 4 or the
    signal's code). The caller holds `locked()`. Returns the finished manifest (None: no change)."""
    changes = plan.effective
    if not changes:
        return None
    manifest = journal.Manifest(
        id=journal.new_id(),
        command=plan.command,
        entries=[journal.Entry.of(c) for c in changes],
        engines=[a.name for a in plan.appliers],
        undoes=list(plan.undoes),
        made_dirs=[str(d) for d in txdirs.made_for([c.path for c in changes], plan.made_dirs)],
    )
    backups: dict[str, Path | None] = {}
    hold_host_lock(book)
    with _Signals() as signals:
        with signals.deferred():
            book.write(manifest)
            fault("tx-journaled")
        try:
            _write_all(changes, backups, signals)
            with signals.deferred():
                gone = [c.path for c in changes if c.after is None]
                txdirs.remove_emptied(plan.drop_dirs, gone)
        except DockercfgError as failure:
            # Nothing was applied: put back what was written, and report the write's own error.
            with signals.deferred():
                written = [e for e in manifest.entries if e.state_now() != "old"]
                state = _restore(book, manifest, written, backups)
            if not written and state is None:
                raise
            raise type(failure)(f"{failure.message}; {state}") from None
        result.backup = next((str(b) for b in backups.values() if b), None)
        result.data["backups"] = [str(b) for b in backups.values() if b]
        try:
            with signals.deferred():
                manifest.phase = journal.APPLYING
                book.write(manifest)
            signals.check()
            for applier in plan.appliers:
                applier.apply("forward", result)
                fault("tx-applied")
                applier.verify("forward", result)
            with signals.deferred():
                manifest.phase = journal.VERIFIED
                book.write(manifest)
                fault("tx-verified")
        except DockercfgError as failure:
            with signals.deferred():  # a second signal must not abandon the rollback
                state = _roll_back(book, manifest, plan.appliers, backups, result, failure)
            if isinstance(failure, Interrupted):
                raise Interrupted(failure.signum, f"{failure.message}; {state}") from None
            raise ApplyFailed(f"{failure.message}; {state}", problems=result.problems) from None
        with signals.deferred():
            book.finish(manifest)
        result.data["transaction"] = manifest.id
        if signals.caught is not None:
            name = signal.Signals(signals.caught).name
            raise Interrupted(
                signals.caught,
                f"interrupted by {name} after the change was live and verified: it is kept"
                f" (transaction {manifest.id})",
            )
    return manifest


def _write_all(
    changes: list[FileChange], backups: dict[str, Path | None], signals: _Signals
) -> None:
    for number, change in enumerate(changes, 1):
        with signals.deferred():  # each write is atomic: finish it before reacting
            backups[change.shown] = _write(change)
            fault(f"tx-written-{number}")
        signals.check()


def _restore(
    book: journal.Journal,
    manifest: journal.Manifest,
    entries: list[journal.Entry],
    backups: dict[str, Path | None],
) -> str | None:
    """Put `entries` back and drop the journal; a sentence on what happened (None: nothing to
    restore, or an error sentence when restoring failed and the journal is kept)."""
    files = files_shown(entries, backups)
    manifest.phase = journal.ROLLING_BACK
    try:
        if entries:
            book.write(manifest)
        restore_all(entries, manifest)
        fault("tx-restored")
    except DockercfgError as err:
        return (
            f"could not restore {files}: {err.message}; the journal {book.pending_path} keeps"
            " the old bytes: `dockercfg recover` finishes the job"
        )
    book.discard()
    return put_back(entries, backups) if entries else None


def put_back(entries: list[journal.Entry], backups: dict[str, Path | None]) -> str:
    """What restoring did: a file that existed got its bytes back; one that did not is gone."""
    restored = [e for e in entries if e.before is not None]
    removed = [e.shown for e in entries if e.before is None]
    said = [f"restored {files_shown(restored, backups)}"] if restored else []
    said += [f"removed {', '.join(removed)} (it did not exist before)"] if removed else []
    return "; ".join(said)


def _roll_back(
    book: journal.Journal,
    manifest: journal.Manifest,
    appliers: list[Applier],
    backups: dict[str, Path | None],
    result: Result,
    failure: DockercfgError | None = None,
) -> str:
    """Restore every file, apply the old files again, and say exactly what state the host is in
    (a re-apply that fails for the reason the change failed says so, not the reason again)."""
    changed = [e for e in manifest.entries if e.state_now() != "old"]
    state = _restore(book, manifest, changed, backups)
    if state is not None and state.startswith("could not restore"):
        return state
    result.applied = result.verified = None
    restored = state or f"{files_shown(manifest.entries, backups)} unchanged"
    said = reapply(appliers, result)
    if failure is not None and failure.message:
        said = said.replace(f"failed: {failure.message}", "failed the same way")
    return f"{restored}; {said}"


def reapply(appliers: list[Applier], result: Result) -> str:
    """Apply the restored files again; one clause per engine on how it ended."""
    said = []
    for applier in appliers:
        try:
            applier.apply("revert", result)
            applier.verify("revert", result)
        except ApplyFailed as unverified:
            said.append(
                f"re-applied it to {applier.name}, but could not verify it: {unverified.message}"
            )
        except DockercfgError as second:
            said.append(f"re-applying it to {applier.name} failed: {second.message}")
        else:
            said.append(f"{applier.name} is running with it again")
    return "; ".join(said) or "nothing needed re-applying"
