"""The one transaction that changes a host: detect, lock, load, change, validate, write, apply,
verify, roll back. Nothing else in dockercfg writes files or touches the daemon.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dockercfg import safefile
from dockercfg.detect import Host, Options, detect, service_for
from dockercfg.errors import ApplyFailed, ConfigInvalid, DockercfgError, UsageError
from dockercfg.problems import Problem
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY, DaemonJson, parse

APPLY_MODES = ("auto", "reload", "restart", "none")
RELOAD_TIMEOUT = 30.0  # seconds for the service manager's job
RESTART_TIMEOUT = 120.0
VERIFY_TIMEOUT = {"reload": 10.0, "restart": 60.0}


@dataclass
class Result:
    """What every command reports; rendered as text or as the one --json object."""

    command: str
    changed: bool = False
    target: str | None = None
    file: str | None = None
    backup: str | None = None
    diff: str | None = None
    applied: str | None = None  # "reload" | "restart" | "none" | None (nothing to apply)
    verified: bool | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["problems"] = [p.to_json() for p in self.problems]
        return out


@dataclass
class Change:
    """One mutating command: which key, add or remove, and the normalised values."""

    key: str
    add: bool
    values: list[str]


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


def _normalized(key: str, value: str) -> str:
    from dockercfg.model import InvalidValue, normalize_insecure, normalize_mirror
    from dockercfg.versions import NEWEST

    try:
        if key == INSECURE_KEY:
            return normalize_insecure(value).value
        return normalize_mirror(value, NEWEST)
    except InvalidValue:
        return value


def changed_list(doc: DaemonJson, change: Change) -> list[str] | None:
    """The key's new list, or None when the command changes nothing (idempotent)."""
    current = doc.get_list(change.key)
    present = [_normalized(change.key, v) for v in current or []]
    if change.add:
        new = list(current or []) + [v for v in change.values if v not in present]
        return new if (current is None or len(new) != len(current)) else None
    if current is None:
        return None
    kept = [v for v, norm in zip(current, present) if norm not in change.values]
    return kept if len(kept) != len(current) else None


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), path, path
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def check_config(host: Host, doc: DaemonJson, data: bytes) -> list[Problem]:
    """Everything dockerd would reject, found before the file is written."""
    from dockercfg.conflicts import find_conflicts, flag_settings
    from dockercfg.validate import dockerd_validate, validate_config

    version = host.dockerd_version
    problems = list(validate_config(doc.value, version=version or _newest()))
    if host.dockerd_argv:
        problems += find_conflicts(
            doc.value,
            flag_settings(host.dockerd_argv),
            file=host.shown_path,
            source=f"command line of the running dockerd, pid {host.dockerd_pid}",
        )
    if not any(p.is_error for p in problems):
        found = dockerd_validate(data, version=version)
        if found is not None:
            problems.append(found)
    return problems


def _newest():
    from dockercfg.versions import NEWEST

    return NEWEST


def mutate(
    opts: Options,
    command: str,
    change_spec: tuple[str, bool, list[str]],
    *,
    apply: str = "auto",
    dry_run: bool = False,
) -> Result:
    """add-insecure / remove-insecure / add-mirror / remove-mirror."""
    if apply not in APPLY_MODES:
        raise UsageError(f"--apply must be one of {', '.join(APPLY_MODES)}, not {apply!r}")
    key, add, raw_values = change_spec
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command=command, target=host.target, file=host.shown_path)
    change = Change(
        key, add, parse_values(key, raw_values, host.dockerd_version or _newest(), result.warnings)
    )
    with safefile.lock(host.config_path):
        before = safefile.read_bytes(host.config_path)
        doc = parse(host.config_path, before or b"")
        result.warnings += doc.warnings
        new_items = changed_list(doc, change)
        if new_items is None:
            return result
        new_doc = doc.with_list(key, new_items)
        new_data = new_doc.render()
        result.changed = True
        result.diff = unified_diff(
            host.shown_path, (before or b"").decode("utf-8", "replace"), new_doc.text
        )
        _require_valid(result, check_config(host, new_doc, new_data))
        if dry_run:
            result.data["dry_run"] = True
            return result
        backup = safefile.backup(host.config_path)
        result.backup = str(backup) if backup else None
        safefile.atomic_write(host.config_path, new_data)
        try:
            _apply_and_verify(host, new_doc.value, apply, [key], result)
        except DockercfgError as err:
            _roll_back(host, before, backup, apply, result, err)
    return result


def _require_valid(result: Result, problems: list[Problem]) -> None:
    result.problems = problems
    errors = [p for p in problems if p.is_error]
    result.warnings += [p.render() for p in problems if not p.is_error]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigInvalid(
            f"{first.path + ': ' if first.path else ''}{first.message}{more}; nothing was written",
            problems=problems,
        )


def choose_mode(host: Host, apply: str, keys: list[str], service, expected, result: Result) -> str:
    """reload when every changed key reloads on SIGHUP and the service can do it; else restart."""
    if apply != "auto":
        return apply
    from dockercfg.schema import is_reloadable

    version = host.dockerd_version or _newest()
    if not all(is_reloadable(k, version) for k in keys):
        return "restart"
    can_reload = getattr(service, "can_reload", lambda: True)
    if not can_reload():
        result.warnings.append(f"{service.name} cannot reload dockerd; restarting it")
        return "restart"
    stale = _stale_after_reload(expected)
    if stale:
        result.warnings.append(
            "a reload keeps the old value of a key missing from the file, so dockerd is"
            f" restarted ({'; '.join(stale)})"
        )
        return "restart"
    return "reload"


def _stale_after_reload(expected) -> list[str]:
    from dockercfg.engine import Engine, socket_path
    from dockercfg.verify import stale_after_reload

    if not expected.absent:
        return []
    try:
        return stale_after_reload(expected, Engine(socket_path()).info())
    except DockercfgError:
        return []  # the daemon is not answering: the reload and verification will say so


def _expected(host: Host, config: dict):
    from dockercfg.conflicts import flag_settings
    from dockercfg.verify import expected_from

    return expected_from(config, flag_settings(host.dockerd_argv))


def _apply_and_verify(
    host: Host, config: dict, apply: str, keys: list[str], result: Result
) -> None:
    if apply == "none":
        result.applied = "none"
        return
    service = service_for(host)
    if service is None:
        result.applied = "none"
        result.warnings.append(
            f"--root {host.root} is set: no running dockerd is changed"
            if host.root != Path("/")
            else "no running dockerd was found; the change takes effect when dockerd starts"
        )
        return
    expected = _expected(host, config)
    mode = choose_mode(host, apply, keys, service, expected, result)
    if mode == "reload":
        service.reload(RELOAD_TIMEOUT)
    else:
        service.restart(RESTART_TIMEOUT)
    result.applied = mode
    verify_live(expected, VERIFY_TIMEOUT[mode])
    result.verified = True


def verify_live(expected, timeout: float) -> None:
    """Wait (bounded, with backoff) until /info matches the file; raise ApplyFailed otherwise."""
    from dockercfg.engine import Engine, socket_path, wait_until
    from dockercfg.verify import mismatches

    engine = Engine(socket_path())
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


def _roll_back(
    host: Host,
    before: bytes | None,
    backup: Path | None,
    apply: str,
    result: Result,
    failure: DockercfgError,
) -> None:
    """Put the previous file back, apply it again, and report both what failed and the outcome."""
    try:
        if before is None:
            safefile.remove(host.config_path)
        else:
            # An empty file means "{}" to dockerd >= 23 and is never written (older ones refuse it).
            safefile.atomic_write(host.config_path, before if before.strip() else b"{}\n")
        restored = f"restored the previous {host.shown_path}"
        if backup:
            restored += f" (backup {backup})"
        old = parse(host.config_path, before or b"")
        result.applied = result.verified = None
        _apply_and_verify(host, old.value, "restart" if apply == "restart" else "auto", [], result)
        state = f"{restored}; dockerd is running with it again"
    except DockercfgError as second:
        state = f"rollback also failed: {second.message}; check dockerd now (backup: {backup})"
    raise ApplyFailed(f"{failure.message}; {state}", problems=result.problems)


# Read-only commands ---------------------------------------------------------------------------


def validate_file(opts: Options, path: str | None) -> Result:
    """`dockercfg validate [FILE]`: every problem at once; exit 1 when any is an error."""
    from dockercfg.conflicts import find_conflicts, flag_settings
    from dockercfg.validate import dockerd_validate, validate_bytes

    host = detect(opts, want_service=False)
    target = Path(path) if path else host.config_path
    shown = path or host.shown_path
    result = Result(command="validate", target=host.target, file=shown)
    data = safefile.read_bytes(target)
    if data is None:
        if path:
            raise UsageError(f"{shown}: no such file")
        result.warnings.append(f"{shown} does not exist: dockerd uses its defaults")
        return result
    version = host.dockerd_version or _newest()
    problems = validate_bytes(data, source=shown, version=version)
    if not path and host.dockerd_argv and not any(p.code == "syntax" for p in problems):
        doc = parse(target, data)
        problems += find_conflicts(
            doc.value,
            flag_settings(host.dockerd_argv),
            file=shown,
            source=f"running dockerd, pid {host.dockerd_pid}",
        )
    if not any(p.is_error for p in problems):
        found = dockerd_validate(data, version=host.dockerd_version)
        if found:
            problems.append(found)
    result.problems = problems
    result.data["docker_version"] = host.to_json()["dockerd_version"]
    if any(p.is_error for p in problems):
        raise ConfigInvalid(
            f"{shown}: {sum(p.is_error for p in problems)} error(s)", problems=problems
        )
    return result


def run_detect(opts: Options) -> Result:
    host = detect(opts)
    result = Result(command="detect", target=host.target, file=host.shown_path)
    result.data = host.to_json()
    return result


def show(opts: Options) -> Result:
    """Configured and live registries, each with where it comes from."""
    from dockercfg.conflicts import flag_settings
    from dockercfg.engine import Engine, registry_state, socket_path
    from dockercfg.model import default_insecure_cidrs

    host = detect(opts, want_service=False)
    result = Result(command="show", target=host.target, file=host.shown_path)
    doc = parse(host.config_path, safefile.read_bytes(host.config_path) or b"")
    flags = flag_settings(host.dockerd_argv)
    entries: dict[str, list[dict[str, str]]] = {"insecure_registries": [], "registry_mirrors": []}
    for out_key, key in (("insecure_registries", INSECURE_KEY), ("registry_mirrors", MIRRORS_KEY)):
        for value in doc.get_list(key) or []:
            entries[out_key].append({"value": value, "source": host.shown_path})
        for value in flags.get(key, []):
            entries[out_key].append({"value": value, "source": "dockerd flag"})
    for cidr in default_insecure_cidrs(host.dockerd_version or _newest()):
        entries["insecure_registries"].append({"value": cidr, "source": "built-in default"})
    result.data.update(entries)
    live = None
    if host.dockerd_pid or opts.root == Path("/"):
        try:
            info = Engine(socket_path()).info()
            state = registry_state(info)
            live = {
                "insecure_cidrs": state.insecure_cidrs,
                "insecure_names": state.insecure_names,
                "mirrors": state.mirrors,
            }
            from dockercfg.verify import expected_from, mismatches

            pending = mismatches(expected_from(doc.value, flags), info)
            result.data["pending"] = pending
            if pending:
                result.warnings.append(
                    "the file differs from the live daemon (run `dockercfg apply`): "
                    + "; ".join(pending)
                )
        except DockercfgError as err:
            result.warnings.append(f"live daemon not queried: {err.message}")
    result.data["live"] = live
    return result


def apply_current(opts: Options, apply: str = "auto") -> Result:
    """`dockercfg apply`: make the file on disk live, and prove it."""
    host = detect(opts)
    result = Result(command="apply", target=host.target, file=host.shown_path)
    with safefile.lock(host.config_path):
        data = safefile.read_bytes(host.config_path) or b""
        doc = parse(host.config_path, data)
        _require_valid(result, check_config(host, doc, data))
        try:
            _apply_and_verify(host, doc.value, apply, [INSECURE_KEY, MIRRORS_KEY], result)
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
    with safefile.lock(host.config_path):
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
        doc = parse(host.config_path, wanted)
        _require_valid(result, check_config(host, doc, wanted))
        result.changed = True
        result.diff = unified_diff(
            host.shown_path, (before or b"").decode("utf-8", "replace"), doc.text
        )
        backup = safefile.backup(host.config_path)
        result.backup = str(backup) if backup else None
        result.data["restored_from"] = str(source)
        safefile.atomic_write(host.config_path, wanted)
        try:
            _apply_and_verify(host, doc.value, apply, [INSECURE_KEY, MIRRORS_KEY], result)
        except DockercfgError as err:
            _roll_back(host, before, backup, apply, result, err)
    return result


OPERATIONS: dict[str, Callable[..., Result]] = {
    "validate": validate_file,
    "detect": run_detect,
    "show": show,
    "apply": apply_current,
    "rollback": rollback,
}
