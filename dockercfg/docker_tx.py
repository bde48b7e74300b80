"""A dockerd change as one transaction: the edited files, the lock and recovery around them,
the preview, and the hand-over to dockercfg.transaction with dockerd as the engine to apply.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockercfg import certs, filelock, invoker, recovery, targets, transaction
from dockercfg.detect import Host, Options, detect
from dockercfg.dockerd_checks import OWNED, normalized
from dockercfg.engines.base import FileChange
from dockercfg.engines.docker import DockerApplier
from dockercfg.errors import UsageError
from dockercfg.result import Result

APPLY_MODES = ("auto", "reload", "restart", "none")


@dataclass
class Edit:
    """One file of a dockerd change: its bytes before and the new target document."""

    path: Path
    shown: str
    before: bytes | None
    after: Any  # a target document (daemon.json or a DOCKER_OPTS-style file)

    def change(self) -> FileChange:
        return FileChange(self.path, self.shown, self.before, self.after.render())


def check_apply_mode(apply: str) -> None:
    if apply not in APPLY_MODES:
        raise UsageError(f"--apply must be one of {', '.join(APPLY_MODES)}, not {apply!r}")


def owned_lists(doc) -> dict[str, list[str]]:
    """The file's owned lists, normalised: the --json envelope's `before` / `after`."""
    return {key: [normalized(key, v) for v in doc.get_list(key) or []] for key in OWNED}


@contextlib.contextmanager
def host_transaction(
    opts: Options, host: Host, paths: list[Path], result: Result, dry_run: bool
) -> Iterator[Host]:
    """The lock (and recovery of an unfinished earlier run) for a change; nothing for a preview.
    Yields the host, detected again when recovery changed its files."""
    if dry_run:  # a preview writes nothing: every write is an atomic rename anyway
        recovery.report_pending(host, result)
        yield host
        return
    book = recovery.journal_for(host)
    recovered: list[bool] = []
    made = _per_user_dirs(host)
    try:
        with transaction.locked(
            book,
            paths,
            recover=lambda m: recovered.append(recovery.recover(opts, host, book, m, result)),
        ):
            current = detect(opts, want_service=True) if any(recovered) else host
            current.made_dirs = made  # journaled with the change: undoing it removes them
            yield current
    finally:
        if made and not host.config_path.exists():  # nothing written: leave no trace
            with contextlib.suppress(OSError):
                filelock.lock_path(host.config_path).unlink()
            certs.remove_made_dirs(made)


def _per_user_dirs(host: Host) -> list[Path]:
    """A rootless or Desktop dockerd runs without a daemon.json, and often without
    ~/.config/docker: its missing directories are created inside the user's home (theirs,
    also under sudo); the ones made, outermost first. A system target's missing /etc/docker
    stays an error: dockerd is not installed there."""
    if host.target not in recovery.PER_USER_TARGETS:
        return []
    home = invoker.inside(host.root, invoker.invoker(host.root).home)
    missing = []
    parent = host.config_path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    if not missing or not (parent == home or home in parent.parents):
        return []
    return certs.make_dirs(missing[0])


def run_plan(
    host: Host,
    command: str,
    edits: list[Edit],
    apply: str,
    keys: list[str],
    result: Result,
    undoes: list[str] | None = None,
    reach: list[str] | None = None,
    extra: Any = None,
    drop_dirs: list[Path] | None = None,
) -> None:
    """Write the edits as one transaction and make them live on dockerd; then check that the
    daemon reaches each registry in `reach` (a read-only round trip through it)."""
    old = targets.load(host, edits[0].before or b"")
    applier = DockerApplier(host, edits[0].after, old, apply, keys, reach)
    changes = [e.change() for e in edits] + (extra.changes if extra else [])
    appliers = [applier, *(extra.appliers if extra else [])]  # other engines (engine_edits)
    plan = transaction.Plan(command, changes, appliers, list(undoes or []), host.made_dirs)
    plan.drop_dirs = list(drop_dirs or [])
    transaction.commit(recovery.journal_for(host), plan, result)


def describe(result: Result, edits: list[Edit], before_doc) -> None:
    plan = transaction.Plan(result.command, [e.change() for e in edits])
    transaction.preview(plan, result)
    result.data["before"] = owned_lists(before_doc)
    result.data["after"] = owned_lists(edits[0].after)
