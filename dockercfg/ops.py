"""The one transaction that changes a host: detect, lock, load, change, validate, write, apply,
verify, roll back. Nothing else in dockercfg writes config files or touches the daemon.
"""

from __future__ import annotations

import difflib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockercfg import filelock, safefile, targets
from dockercfg.detect import Host, Options, detect
from dockercfg.errors import ApplyFailed, ConfigInvalid, DockercfgError, UsageError
from dockercfg.problems import Problem
from dockercfg.result import Result
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY

APPLY_MODES = ("auto", "reload", "restart", "none")
OWNED = [INSECURE_KEY, MIRRORS_KEY]
RELOAD_TIMEOUT = 30.0  # seconds for the service manager's job
RESTART_TIMEOUT = 120.0
VERIFY_TIMEOUT = {"reload": 10.0, "restart": 60.0}


@dataclass
class Edit:
    """One file of a transaction: its bytes before, the new document, and its backup."""

    path: Path
    shown: str
    before: bytes | None
    after: Any  # a target document
    backup: Path | None = None


def _newest():
    from dockercfg.versions import NEWEST

    return NEWEST


def parse_values(key: str, raw_values: list[str], version, warnings: list[str]) -> list[str]:
    """Normalise command-line values with moby's rules; a bad value is a usage error (exit 2)."""
    from dockercfg.model import (
        MIRROR_HUB_ONLY_NOTE,
        InvalidValue,
        normalize_insecure,
        normalize_mirror,
    )

    values = []
    for raw in raw_values:
        try:
            if key == INSECURE_KEY:
                normalized = normalize_insecure(raw)
                warnings.extend(normalized.warnings)
                values.append(normalized.value)
            else:
                values.append(normalize_mirror(raw, version))
        except InvalidValue as err:
            raise UsageError(err.message) from None
    if key == MIRRORS_KEY:
        warnings.append(MIRROR_HUB_ONLY_NOTE)
    return list(dict.fromkeys(values))


def normalized(key: str, value: str, strict: bool = False) -> str:
    """The comparable form of a value already in a file (kept as is when invalid, unless strict)."""
    from dockercfg.model import InvalidValue, normalize_insecure, normalize_mirror

    try:
        if key == INSECURE_KEY:
            return normalize_insecure(value).value
        return normalize_mirror(value, _newest())
    except InvalidValue:
        if strict:
            raise
        return value


def changed_list(current: list[str] | None, add: bool, values: list[str], key: str):
    """The key's new list, or None when the command changes nothing (idempotent)."""
    present = [normalized(key, v) for v in current or []]
    if add:
        new = list(current or []) + [v for v in values if v not in present]
        return new if (current is None or len(new) != len(current)) else None
    if current is None:
        return None
    kept = [v for v, norm in zip(current, present) if norm not in values]
    return kept if len(kept) != len(current) else None


def unified_diff(path: str, before: bytes | None, after: str) -> str:
    old = (before or b"").decode("utf-8", "replace")
    lines = difflib.unified_diff(old.splitlines(True), after.splitlines(True), path, path)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# Validation before any write --------------------------------------------------------------------


def _daemon_json_value(host: Host) -> dict:
    """The daemon.json a shell-variable target's dockerd also reads ({} when absent)."""
    from dockercfg.targets.daemon_json import parse

    if host.daemon_json is None:
        return {}
    data = safefile.read_bytes(host.daemon_json)
    return parse(host.daemon_json, data).value if data else {}


def _effective(host: Host, doc) -> tuple[dict, list[str], str]:
    """(daemon.json value, dockerd flags, where the flags come from) once `doc` is in force."""
    if host.is_json:
        sources = [s.where for s in host.flag_sources if s.argv]
        return doc.value, host.flags(), "; ".join(sources) or "no flags"
    return (
        _daemon_json_value(host),
        ["dockerd", *doc.flags],
        f"{host.variable} in {host.shown_path}",
    )


def check_config(host: Host, doc) -> list[Problem]:
    """Everything dockerd would reject, found before the file is written."""
    from dockercfg.conflicts import find_conflicts, flag_settings
    from dockercfg.validate import dockerd_validate, validate_bytes

    version = host.dockerd_version or _newest()
    config, flags, source = _effective(host, doc)
    # The bytes, not just the value: duplicate keys, a BOM or an empty file matter to dockerd.
    problems = (
        validate_bytes(doc.render(), source=host.shown_path, version=version)
        if host.is_json
        else []
    )
    problems += list(getattr(doc, "problems", []))
    json_file = host.shown_path if host.is_json else "/etc/docker/daemon.json"
    problems += find_conflicts(config, flag_settings(flags), file=json_file, source=source)
    if host.is_json and not any(p.is_error for p in problems):
        found = dockerd_validate(doc.render(), version=host.dockerd_version)
        if found is not None:
            problems.append(found)
    return problems


def require_valid(result: Result, problems: list[Problem]) -> None:
    result.problems = problems
    errors = [p for p in problems if p.is_error]
    result.warnings += [p.render() for p in problems if not p.is_error]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        hint = f"; {first.hint}" if first.hint else ""
        fixable = first.code == "ignored-key" and first.path in (
            "insecure-registry",
            "registry-mirror",
        )
        if fixable or first.code in ("unknown-flag", "comma-list"):
            hint += " (`dockercfg fix` does this)"
        raise ConfigInvalid(
            f"{first.path + ': ' if first.path else ''}{first.message}{hint}{more};"
            " nothing was written",
            problems=problems,
        )


# Applying and verifying -------------------------------------------------------------------------


def _expected(host: Host, doc):
    from dockercfg.conflicts import flag_settings
    from dockercfg.verify import expected_from

    config, flags, _ = _effective(host, doc)
    return expected_from(config, flag_settings(flags))


def choose_mode(host: Host, apply: str, keys: list[str], service, expected, result: Result) -> str:
    """reload when every changed key reloads on SIGHUP and the service can do it; else restart."""
    if not host.is_json:
        if apply == "reload":
            raise UsageError(
                f"{host.variable} flags are read only when dockerd starts: use --apply restart"
            )
        return "restart"
    if apply != "auto":
        return apply
    from dockercfg.schema import is_reloadable

    if not all(is_reloadable(k, host.dockerd_version or _newest()) for k in keys):
        return "restart"
    can_reload = getattr(service, "can_reload", lambda: True)
    if not can_reload():
        result.warnings.append(f"{service.name} cannot reload dockerd; restarting it")
        return "restart"
    stale = _stale_after_reload(host, expected)
    if stale:
        result.warnings.append(
            "a reload keeps the old value of a key missing from the file, so dockerd is"
            f" restarted ({'; '.join(stale)})"
        )
        return "restart"
    return "reload"


def _stale_after_reload(host: Host, expected) -> list[str]:
    from dockercfg.engine import Engine
    from dockercfg.verify import stale_after_reload

    if not expected.absent:
        return []
    try:
        return stale_after_reload(expected, Engine(host.socket).info())
    except DockercfgError:
        return []  # the daemon is not answering: the reload and verification will say so


def apply_and_verify(host: Host, doc, apply: str, keys: list[str], result: Result) -> None:
    from dockercfg.services import for_host

    if apply == "none":
        result.applied = "none"
        return
    service = for_host(host)
    if service is None:
        result.applied = "none"
        result.warnings.append(
            f"--root {host.root} is set: no running dockerd is changed"
            if host.root != Path("/")
            else "no running dockerd was found; the change takes effect when dockerd starts"
        )
        return
    if getattr(service, "can_restart", True) is False:
        from dockercfg.services.command import DESKTOP_CLICK

        result.applied = "none"
        result.warnings.append(f"{service.name} cannot be restarted from here: {DESKTOP_CLICK}")
        return
    expected = _expected(host, doc)
    mode = choose_mode(host, apply, keys, service, expected, result)
    if mode == "reload":
        service.reload(RELOAD_TIMEOUT)
    else:
        service.restart(RESTART_TIMEOUT)
    result.applied = mode
    verify_live(host, expected, VERIFY_TIMEOUT[mode])
    result.verified = True


def verify_live(host: Host, expected, timeout: float) -> None:
    """Wait (bounded, with backoff) until /info matches the file; raise ApplyFailed otherwise."""
    from dockercfg.engine import Engine, wait_until
    from dockercfg.verify import mismatches

    engine = Engine(host.socket)
    last: list[str] = ["the daemon did not answer on its socket"]

    def matches() -> bool:
        try:
            last[:] = mismatches(expected, engine.info())
        except DockercfgError as err:
            last[:] = [err.message]
            return False
        return not last

    if not wait_until(matches, timeout):
        raise ApplyFailed(f"dockerd did not take the new configuration: {'; '.join(last)}")


# The transaction --------------------------------------------------------------------------------


def _write_all(edits: list[Edit], result: Result) -> None:
    for edit in edits:
        edit.backup = safefile.backup(edit.path)
        safefile.atomic_write(edit.path, edit.after.render())
    result.backup = str(edits[0].backup) if edits and edits[0].backup else None
    result.data["backups"] = [str(e.backup) for e in edits if e.backup]


def _restore_all(edits: list[Edit]) -> None:
    for edit in reversed(edits):
        if edit.before is None:
            safefile.remove(edit.path)
        else:
            # An empty file means "{}" to dockerd >= 23 and is never written (older ones refuse it).
            safefile.atomic_write(edit.path, edit.before if edit.before.strip() else b"{}\n")


def commit(host: Host, edits: list[Edit], apply: str, keys: list[str], result: Result) -> None:
    """Write every edit (with backups), apply, verify; on failure restore all and re-apply."""
    _write_all(edits, result)
    try:
        apply_and_verify(host, edits[0].after, apply, keys, result)
    except DockercfgError as failure:
        raise ApplyFailed(
            f"{failure.message}; {_roll_back(host, edits, apply, result)}", problems=result.problems
        ) from None


def _roll_back(host: Host, edits: list[Edit], apply: str, result: Result) -> str:
    """Restore every file, apply again, and say exactly what state the host is left in."""
    from dockercfg.engine import Engine

    files = ", ".join(e.shown + (f" (backup {e.backup})" if e.backup else "") for e in edits)
    try:
        _restore_all(edits)
    except DockercfgError as err:
        return f"could not restore {files}: {err.message}; the new file is still in place"
    old = targets.load(host, edits[0].before or b"")
    host.flags_override = None  # the restored files bring their flags back
    result.applied = result.verified = None
    try:
        apply_and_verify(host, old, "restart" if apply == "restart" else "auto", [], result)
    except ApplyFailed as unverified:
        return f"restored {files} and re-applied it, but could not verify it: {unverified.message}"
    except DockercfgError as second:
        running = Engine(host.socket, timeout=2).ping()
        daemon = "dockerd is running" if running else "dockerd is not running: check dockerd now"
        return f"restored {files}, but re-applying it failed: {second.message}; {daemon}"
    return f"restored {files}; dockerd is running with it again"


def mutate(
    opts: Options,
    command: str,
    change: tuple[str, bool, list[str]],
    *,
    apply: str = "auto",
    dry_run: bool = False,
    migrate: bool = False,
) -> Result:
    """add-insecure / remove-insecure / add-mirror / remove-mirror."""
    if apply not in APPLY_MODES:
        raise UsageError(f"--apply must be one of {', '.join(APPLY_MODES)}, not {apply!r}")
    key, add, raw_values = change
    parse_values(key, raw_values, _newest(), [])  # a bad argument is exit 2 on any host
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command=command, target=host.target, file=host.shown_path)
    values = parse_values(key, raw_values, host.dockerd_version or _newest(), result.warnings)
    from dockercfg.migration import migration_edits

    with ExitStack() as stack:
        if not dry_run:  # a preview writes nothing: every write is an atomic rename anyway
            stack.enter_context(filelock.lock(host.config_path))
        moved = migration_edits(host, stack, result, dry_run) if migrate else []
        before = safefile.read_bytes(host.config_path)
        doc = moved[0].after if moved else targets.load(host, before or b"")
        result.warnings += doc.warnings
        new_items = changed_list(doc.get_list(key), add, values, key)
        if new_items is None and not moved:
            return result
        new_doc = doc.with_list(key, new_items) if new_items is not None else doc
        edits = [Edit(host.config_path, host.shown_path, before, new_doc), *moved[1:]]
        result.changed = True
        result.diff = "".join(
            unified_diff(e.shown, e.before, targets.text_of(e.after)) for e in edits
        )
        require_valid(result, check_config(host, new_doc))
        if dry_run:
            result.data["dry_run"] = True
            return result
        commit(host, edits, "restart" if moved and apply == "auto" else apply, [key], result)
    return result


def apply_current(opts: Options, apply: str = "auto") -> Result:
    """`dockercfg apply`: make the file on disk live, and prove it."""
    host = detect(opts)
    result = Result(command="apply", target=host.target, file=host.shown_path)
    with filelock.lock(host.config_path):
        doc = targets.load(host, safefile.read_bytes(host.config_path) or b"")
        require_valid(result, check_config(host, doc))
        try:
            apply_and_verify(host, doc, apply, OWNED, result)
        except DockercfgError as err:
            raise ApplyFailed(
                f"{err.message}; {host.shown_path} was not changed (dockerd keeps its previous"
                " configuration when a reload fails)"
            ) from None
    return result


def rollback(opts: Options, to: str | None = None, apply: str = "auto") -> Result:
    """Restore the newest backup (or --to FILE), keeping a backup of the current file, and apply."""
    host = detect(opts)
    result = Result(command="rollback", target=host.target, file=host.shown_path)
    with filelock.lock(host.config_path):
        if to:
            source = Path(to)
        else:
            backups = safefile.list_backups(host.config_path)
            if not backups:
                raise UsageError(f"no backup of {host.shown_path} to roll back to")
            source = backups[0]
        wanted = safefile.read_bytes(source)
        if wanted is None:
            raise UsageError(f"{source}: no such backup file")
        before = safefile.read_bytes(host.config_path)
        if wanted == before:
            return result
        doc = targets.load(host, wanted)
        require_valid(result, check_config(host, doc))
        result.changed = True
        result.diff = unified_diff(host.shown_path, before, targets.text_of(doc))
        result.data["restored_from"] = str(source)
        commit(host, [Edit(host.config_path, host.shown_path, before, doc)], apply, OWNED, result)
    return result
