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
    if key == MIRRORS_KEY:
        warnings.append(MIRROR_HUB_ONLY_NOTE)
    return list(dict.fromkeys(values))


# Validation before any write --------------------------------------------------------------------


def effective_settings(host: Host, doc) -> tuple[dict, list[str], str]:
    """(daemon.json value, dockerd flags, where the flags come from) once `doc` is in force."""
    return targets.for_host(host).settings(doc)


def check_config(host: Host, doc) -> list[Problem]:
    """Everything dockerd would reject, found before the file is written."""
    from dockercfg.conflicts import find_conflicts, flag_settings

    target = targets.for_host(host)
    version = host.dockerd_version or newest_version()
    config, flags, source = target.settings(doc)
    # The bytes, not just the value: duplicate keys, a BOM or an empty file matter to dockerd.
    data = doc.render()
    problems = target.file_problems(data, host.shown_path) + list(doc.problems)
    problems += find_conflicts(
        config, flag_settings(flags), file=target.json_shown, source=source, version=version
    )
    if not any(p.is_error for p in problems):
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
