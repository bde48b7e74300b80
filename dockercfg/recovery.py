"""Recovery of a transaction a run left unfinished (killed, power lost, …).

Every mutating command, once it holds the lock, finds the journal and settles it first; read-only
commands report it; `dockercfg recover` does it on request. The rule, so that the host ends in the
old or the new state and never a mix:

- the journal says every engine had verified the new files, and every file still holds its new
  bytes: the change was live and proven, so it is completed (moved into the history);
- anything else (killed while writing, applying or verifying, or during a rollback): every file
  that holds its new bytes gets its old bytes back, and dockerd is applied again so that what runs
  matches the files. A file that holds neither (edited by hand since) is left alone and named.
"""

from __future__ import annotations

import time

from dockercfg import journal, targets, transaction
from dockercfg.detect import Host, Options, detect
from dockercfg.dockerd_checks import OWNED
from dockercfg.errors import DockercfgError
from dockercfg.invoker import inside, invoker
from dockercfg.result import Result

PER_USER_TARGETS = ("rootless", "desktop")
_JOURNALS: dict = {}


def journal_for(host: Host) -> journal.Journal:
    """The host's journal: /var/lib/dockercfg inside --root, or the invoking user's state dir
    for a per-user dockerd (rootless, Desktop)."""
    user = invoker(host.root) if host.target in PER_USER_TARGETS else None
    directory = journal.state_dir(host.root, user)
    home = inside(host.root, user.home) if user is not None else None
    # One object per directory: it carries the running transaction's locks.
    return _JOURNALS.setdefault(directory, journal.Journal(directory, home))


def _describe(manifest: journal.Manifest) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(manifest.started))
    files = ", ".join(e.shown for e in manifest.entries)
    return f"transaction {manifest.id} ({manifest.command}, pid {manifest.pid}, {when}, {files})"


def report_pending(host: Host, result: Result) -> None:
    """For commands that do not write: say that an earlier change is unfinished."""
    try:
        pending = journal_for(host).pending()
    except DockercfgError:
        return
    if pending is not None:
        result.warnings.append(
            f"an earlier change did not finish: {_describe(pending)}; the next change, or"
            " `dockercfg recover`, settles it"
        )
        result.data["unfinished"] = pending.summary()


def recover(
    opts: Options,
    host: Host,
    book: journal.Journal,
    manifest: journal.Manifest,
    result: Result,
) -> bool:
    """Complete or revert `manifest` (see the module docstring). True when files changed."""
    states = {e.shown: e.state_now() for e in manifest.entries}
    if manifest.phase == journal.VERIFIED and all(s == "new" for s in states.values()):
        book.finish(manifest)
        result.warnings.append(f"completed an unfinished change: {_describe(manifest)}")
        result.data["recovered"] = {"id": manifest.id, "outcome": "completed"}
        return False
    back = [e for e in manifest.entries if states[e.shown] == "new"]
    foreign = [e.shown for e in manifest.entries if states[e.shown] == "other"]
    transaction.restore_all(back, manifest)
    book.discard()
    said = f"reverted an unfinished change: {_describe(manifest)}"
    if foreign:
        said += f"; left alone, as it was changed since: {', '.join(foreign)}"
    outcome = {"id": manifest.id, "outcome": "reverted", "restored": [e.shown for e in back]}
    if back and manifest.phase != journal.WRITING and "dockerd" in manifest.engines:
        restart = len(manifest.entries) > 1 or targets.for_host(host).holds_flags  # flags: at start
        said += "; " + _reapply(detect(opts, want_service=True), result, restart)
    result.warnings.append(said)
    result.data["recovered"] = outcome
    return bool(back)


def _reapply(host: Host, result: Result, restart: bool) -> str:
    """dockerd may hold the new files' settings: make it take the restored ones."""
    from dockercfg import safefile
    from dockercfg.engines.docker import DockerApplier

    scratch = Result(command=result.command)
    doc = targets.load(host, safefile.read_bytes(host.config_path) or b"")
    applier = DockerApplier(host, doc, doc, "restart" if restart else "auto", OWNED)
    try:
        applier.apply("forward", scratch)
        applier.verify("forward", scratch)
    except DockercfgError as err:
        return f"dockerd did not take the restored files: {err.message}"
    if scratch.applied in (None, "none"):
        return "dockerd was not running"
    return f"dockerd runs with them again ({scratch.applied})"


def recover_command(opts: Options) -> Result:
    """`dockercfg recover`: settle an unfinished change now."""
    host = detect(opts, want_service=True)
    result = Result(command="recover", target=host.target, file=host.shown_path)
    book = journal_for(host)
    with transaction.locked(book, [], recover=lambda m: recover(opts, host, book, m, result)):
        pass  # recovery runs on taking the lock, when a journal is pending
    if "recovered" in result.data:
        result.changed = result.data["recovered"]["outcome"] == "reverted"
    return result
