"""dockerd's rules for a change, before anything is written: command-line values normalised
with moby's rules, the owned lists' new contents, and every problem dockerd would have with the
result (schema, value rules, flag/file conflicts, `dockerd --validate`).
"""

from __future__ import annotations

from dockercfg import targets
from dockercfg.detect import Host
from dockercfg.errors import ConfigInvalid, UsageError
from dockercfg.problems import Problem
from dockercfg.result import Result
from dockercfg.targets.owned import INSECURE_KEY, MIRRORS_KEY
from dockercfg.targets.owned import changed_list as changed_list
from dockercfg.targets.owned import normalized as normalized

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
    if key == MIRRORS_KEY and values:  # not for remove-mirror --dead, which names none
        warnings.append(MIRROR_HUB_ONLY_NOTE)
    return list(dict.fromkeys(values))


# Validation before any write --------------------------------------------------------------------


def effective_settings(host: Host, doc) -> tuple[dict, list[str], str]:
    """(daemon.json value, dockerd flags, where the flags come from) once `doc` is in force."""
    return targets.for_host(host).settings(doc)


def _holds_flags(host: Host) -> bool:
    return targets.for_host(host).holds_flags


def next_start(host: Host, doc=None):
    """The next start's command line (dockercfg.launch.Launch) once `doc` and the other planned
    files (host.launch_overrides) are in place; None when no service manager starts dockerd."""
    if host.launch is None:
        return None
    overrides = dict(host.launch_overrides)
    if doc is not None and _holds_flags(host):
        overrides[host.config_path] = doc.render()
    return host.launch.rebuild(overrides) if overrides else host.launch


def flag_places(host: Host, doc=None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every config key dockerd flags set, with the `file:line` of the flag: the next start's
    command line first (as its reader reads it), then the running dockerd's own (a reload
    keeps it) for keys the next start does not set."""
    from dockercfg.conflicts import flag_settings_at

    launch = next_start(host, doc)
    lists = [(launch.argv, launch.origins)] if launch is not None else []
    holds_flags = _holds_flags(host)
    if holds_flags and launch is None:
        where = f"{host.variable} in {host.shown_path}"
        lists.append((["dockerd", *doc.flags], [where] * (len(doc.flags) + 1)))
    elif not holds_flags and host.flags_override is not None:
        lists.append((host.flags_override, ["the dockerd command line"] * len(host.flags_override)))
    elif not holds_flags:
        skip = launch.where if launch is not None else None
        lists += [(s.argv, [s.where] * len(s.argv)) for s in host.flag_sources if s.where != skip]
    settings: dict[str, list[str]] = {}
    places: dict[str, str] = {}
    for argv, origins in lists:
        found, where = flag_settings_at(argv, origins)
        for key, values in found.items():
            if key not in settings:
                settings[key], places[key] = values, where[key]
    return settings, places


def launch_problems(host: Host, doc=None) -> list[Problem]:
    """What stops the next start before daemon.json is even read: the service manager refusing
    an EnvironmentFile, dockerd refusing its command line; each at its `file:line`."""
    from dockercfg.conflicts import command_line_problems

    launch = next_start(host, doc)
    if launch is None:
        return []
    found = list(launch.problems)
    program = launch.argv[0].rsplit("/", 1)[-1] if launch.argv else ""
    if program.startswith("dockerd"):  # not a wrapper script: its arguments are its own
        found += command_line_problems(launch.argv, launch.origins)
    known = {p.code for p in doc.problems} if doc is not None and _holds_flags(host) else set()
    return [p for p in found if p.code not in known]


def check_config(host: Host, doc) -> list[Problem]:
    """Everything dockerd would reject, found before the file is written: in the file, on the
    command line the next start gets, and between the two."""
    from dockercfg.conflicts import find_conflicts

    target = targets.for_host(host)
    version = host.dockerd_version or newest_version()
    config, _flags, source = target.settings(doc)
    # The bytes, not just the value: duplicate keys, a BOM or an empty file matter to dockerd.
    data = doc.render()  # None: a file that stays absent (a fix of the other files only)
    problems = target.file_problems(data, host.shown_path) if data is not None else []
    problems += list(doc.problems) + launch_problems(host, doc)
    settings, places = flag_places(host, doc)
    problems += find_conflicts(
        config, settings, file=target.json_shown, source=source, version=version, places=places
    )
    if data is not None and not any(p.is_error for p in problems):
        found = target.dockerd_problem(data)
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
