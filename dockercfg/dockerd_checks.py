"""dockerd's rules for a change, before anything is written: command-line values normalised
with moby's rules, the owned lists' new contents, and every problem dockerd would have with the
result (schema, value rules, flag/file conflicts, `dockerd --validate`).
"""

from __future__ import annotations

from dockercfg import safefile
from dockercfg.detect import Host
from dockercfg.errors import ConfigInvalid, UsageError
from dockercfg.problems import Problem
from dockercfg.result import Result
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY

OWNED = [INSECURE_KEY, MIRRORS_KEY]


def newest_version():
    """The rules of the newest dockerd, for values judged without an installed one."""
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
                normalized = normalize_insecure(raw, typed=True)  # as a person types it
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
        return normalize_mirror(value, newest_version())
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


# Validation before any write --------------------------------------------------------------------


def daemon_json_value(host: Host) -> dict:
    """The daemon.json a shell-variable target's dockerd also reads ({} when absent)."""
    from dockercfg.targets.daemon_json import parse

    if host.daemon_json is None:
        return {}
    data = safefile.read_bytes(host.daemon_json)
    return parse(host.daemon_json, data).value if data else {}


def effective_settings(host: Host, doc) -> tuple[dict, list[str], str]:
    """(daemon.json value, dockerd flags, where the flags come from) once `doc` is in force."""
    if host.is_json:
        sources = [s.where for s in host.flag_sources if s.argv]
        return doc.value, host.flags(), "; ".join(sources) or "no flags"
    return (
        daemon_json_value(host),
        ["dockerd", *doc.flags],
        f"{host.variable} in {host.shown_path}",
    )


def check_config(host: Host, doc) -> list[Problem]:
    """Everything dockerd would reject, found before the file is written."""
    from dockercfg.conflicts import find_conflicts, flag_settings
    from dockercfg.validate import dockerd_validate, validate_bytes

    version = host.dockerd_version or newest_version()
    config, flags, source = effective_settings(host, doc)
    # The bytes, not just the value: duplicate keys, a BOM or an empty file matter to dockerd.
    problems = (
        validate_bytes(doc.render(), source=host.shown_path, version=version)
        if host.is_json
        else []
    )
    problems += list(getattr(doc, "problems", []))
    json_file = host.shown_path if host.is_json else "/etc/docker/daemon.json"
    problems += find_conflicts(
        config, flag_settings(flags), file=json_file, source=source, version=version
    )
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
