"""`dockercfg rollback`: undo whole transactions (every file each one changed), newest first.

`rollback` undoes the newest change not yet undone; run again, it steps one change further back
(an undo is itself recorded, but never chosen as the change to undo). `--list` shows the
history; `--to ID` puts the host back to how it was right after transaction ID, undoing every
later change in one transaction. `--to FILE` (a backup file) restores that file's bytes into the
target file, as earlier releases did; a host with no history falls back to the newest backup.
"""

from __future__ import annotations

from pathlib import Path

from dockercfg import journal, safefile, targets
from dockercfg.detect import Options, detect
from dockercfg.docker_tx import (
    Edit,
    check_apply_mode,
    describe,
    host_transaction,
    run_plan,
)
from dockercfg.dockerd_checks import OWNED, check_config, require_valid
from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.recovery import journal_for
from dockercfg.result import Result
from dockercfg.transaction import Plan, commit, preview


def to_undo(history: list[journal.Manifest], to: str | None) -> list[journal.Manifest]:
    """The transactions to undo, newest first."""
    live = [m for m in history if m.undone_by is None and not m.undoes]
    if to is None:
        return live[:1]
    ids = [m.id for m in history]
    if to not in ids:
        raise UsageError(f"no transaction {to!r} in the history (see `dockercfg rollback --list`)")
    return [m for m in live if m.id > to]


def list_history(opts: Options) -> Result:
    host = detect(opts, want_service=False)
    result = Result(command="rollback", target=host.target, file=host.shown_path)
    result.data["transactions"] = [m.summary() for m in journal_for(host).history()]
    return result


def rollback(opts: Options, to: str | None = None, apply: str = "auto") -> Result:
    """Undo the newest change (or back to --to ID, or restore --to FILE), and apply."""
    check_apply_mode(apply)
    if to and ("/" in to or Path(to).exists()):
        return _restore_backup(opts, Path(to), apply)
    host = detect(opts)
    result = Result(command="rollback", target=host.target, file=host.shown_path)
    book = journal_for(host)
    with host_transaction(opts, host, [host.config_path], result, False) as host:
        undo = to_undo(book.history(), to)
        if not undo:
            if to is None and not book.history():
                return _restore_newest_backup(host, result, apply)
            if to is None:
                raise UsageError("every recorded change is already undone: nothing to roll back")
            return result
        # The files' bytes before the oldest undone change; each must still be as the newest
        # change left it, or someone edited it since and undoing would lose that edit.
        wanted: dict[str, journal.Entry] = {}
        for manifest in undo:  # newest first: the oldest `before` wins
            for entry in manifest.entries:
                newest_after = wanted[entry.shown].after if entry.shown in wanted else entry.after
                wanted[entry.shown] = journal.Entry(
                    entry.path, entry.shown, entry.before, newest_after, entry.mode, entry.owner
                )
        changes = []
        for entry in wanted.values():
            now = safefile.read_bytes(entry.path)
            if now != entry.after:
                raise EnvironmentProblem(
                    f"{entry.shown} was changed since transaction {undo[0].id}: not rolling"
                    " it back (restore a backup with `rollback --to FILE`)"
                )
            changes.append((entry, now))
        ids = [m.id for m in undo]
        result.data["undoes"] = ids
        made = [Path(d) for m in undo for d in m.made_dirs]  # undoing them removes them
        config = next((e for e, _ in changes if e.path == host.config_path), None)
        if config is None:
            changed = [_change(e, now) for e, now in changes]
            plan = Plan("rollback", changed, undoes=ids, drop_dirs=made)
            preview(plan, result)
            commit(book, plan, result)
        else:
            edits = [Edit(e.path, e.shown, now, _doc(host, e)) for e, now in changes]
            edits.sort(key=lambda e: e.path != host.config_path)  # dockerd's file first
            describe(result, edits, targets.load(host, config.after or b""))
            _flags_after(host, edits)
            if not isinstance(edits[0].after, _Absent):
                require_valid(result, check_config(host, edits[0].after))
            # Flags restored into a DOCKER_OPTS-style file are read only when dockerd starts;
            # other engines' files restored beside daemon.json need no restart of dockerd.
            flag_files = {s.file for s in host.flag_sources if s.file is not None}
            restores_flags = any(e.path in flag_files for e in edits[1:])
            mode = "restart" if restores_flags and apply in ("auto", "reload") else apply
            run_plan(host, "rollback", edits, mode, OWNED, result, undoes=ids, drop_dirs=made)
        _mark_undone(book, undo, result.data.get("transaction"))
    return result


class _Absent:
    """The document of a file that did not exist: rendering it removes the file."""

    def __init__(self) -> None:
        self.value: dict = {}
        self.warnings: list[str] = []

    def get_list(self, key: str) -> None:
        return None  # an absent file holds no list

    def render(self) -> None:
        return None


class _Bytes:
    """Another engine's file as it was: restored byte for byte."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def render(self) -> bytes:
        return self.data


def _doc(host, entry: journal.Entry):
    from dockercfg.targets.docker_opts import parse as parse_opts

    if entry.before is None:
        return _Absent()
    if entry.path == host.config_path:
        # A daemon.json that was empty comes back as "{}", as recovery restores it: an empty
        # file is never written (dockerd < 23 refuses it), and "{}" means the same to dockerd.
        blank = not entry.before.strip() and not targets.for_host(host).holds_flags
        return targets.load(host, b"{}\n" if blank else entry.before)
    source = next((s for s in host.flag_sources if s.file == entry.path), None)
    if source is None:
        return _Bytes(entry.before)  # another engine's file (containerd, k3s, ...): not shell
    return parse_opts(entry.path, entry.before, source.variable or "DOCKER_OPTS")


def _flags_after(host, edits: list[Edit]) -> None:
    """Once a DOCKER_OPTS-style file is restored, dockerd gets its flags again (undoing a
    migration): verification must expect them."""
    shell = [e for e in edits[1:] if not isinstance(e.after, (_Absent, _Bytes))]
    restored = {e.path: e.after for e in shell}
    if restored:
        flags: list[str] = []
        for source in host.flag_sources:
            doc = restored.get(source.file)
            flags += list(doc.flags) if doc is not None else source.argv
        host.flags_override = flags


def _change(entry: journal.Entry, now: bytes | None):
    from dockercfg.engines.base import FileChange

    return FileChange(entry.path, entry.shown, now, entry.before, entry.mode or 0o644, entry.owner)


def _mark_undone(book: journal.Journal, undone: list[journal.Manifest], by: str | None) -> None:
    if by is None:
        return
    for manifest in undone:
        manifest.undone_by = by
        book.save_history(manifest)


def _restore_newest_backup(host, result: Result, apply: str) -> Result:
    backups = safefile.list_backups(host.config_path)
    if not backups:
        raise UsageError(f"no backup of {host.shown_path} to roll back to")
    return _restore_bytes(host, result, backups[0], apply)


def _restore_backup(opts: Options, source: Path, apply: str) -> Result:
    host = detect(opts)
    result = Result(command="rollback", target=host.target, file=host.shown_path)
    with host_transaction(opts, host, [host.config_path], result, False) as host:
        return _restore_bytes(host, result, source, apply)


def _restore_bytes(host, result: Result, source: Path, apply: str) -> Result:
    wanted = safefile.read_bytes(source)
    if wanted is None:
        raise UsageError(f"{source}: no such backup file")
    before = safefile.read_bytes(host.config_path)
    if wanted == before:
        return result
    doc = targets.load(host, wanted)
    edits = [Edit(host.config_path, host.shown_path, before, doc)]
    describe(result, edits, targets.load(host, before or b""))
    require_valid(result, check_config(host, doc))
    result.data["restored_from"] = str(source)
    run_plan(host, "rollback", edits, apply, OWNED, result)
    return result
