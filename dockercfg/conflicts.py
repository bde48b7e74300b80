"""Settings given both as a dockerd flag and in daemon.json: dockerd refuses to start or reload.

moby: daemon/config/config.go findConfigurationConflicts. Values are irrelevant: any key set in
both places is fatal, except `runtimes` (moby skips duplicates there).
"""

from __future__ import annotations

from functools import lru_cache

from dockercfg.problems import Problem
from dockercfg.versions import NEWEST, Version

# Flags whose names are not derivable from the schema's "x-flag" (short forms).
_SHORT_FLAGS = {
    "-H": "hosts",
    "-D": "debug",
    "-l": "log-level",
    "-p": "pidfile",
    "-b": "bridge",
    "-G": "group",
    "-s": "storage-driver",
}
_NOT_KEYS = {"--config-file", "--validate", "--help", "--version", "-v", "-h"}
_EXEMPT = {"runtimes"}  # moby: skipDuplicates


@lru_cache(maxsize=1)
def _flag_table() -> tuple[dict[str, str], frozenset[str]]:
    """flag name -> config key, and the set of boolean keys (their flags take no separate value)."""
    from dockercfg.schema import load_schema

    flags: dict[str, str] = dict(_SHORT_FLAGS)
    booleans = set()
    for key, spec in load_schema().get("properties", {}).items():
        if spec.get("type") == "boolean":
            booleans.add(key)
        names = spec.get("x-flag") or f"--{key}"
        for name in names if isinstance(names, list) else str(names).split("/"):
            name = name.strip()
            if name.startswith("-"):
                flags.setdefault(name, key)
        flags.setdefault(f"--{key}", key)
    return flags, frozenset(booleans)


def flag_settings(argv: list[str]) -> dict[str, list[str]]:
    """Config keys set by dockerd command-line flags -> their values, in order."""
    return flag_settings_at(argv, [""] * len(argv))[0]


def flag_settings_at(
    argv: list[str], origins: list[str]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """flag_settings, and for each key the origin (`file:line`) of the first flag setting it."""
    flags, booleans = _flag_table()
    settings: dict[str, list[str]] = {}
    places: dict[str, str] = {}
    i = 1 if argv and not argv[0].startswith("-") else 0  # skip the program name
    while i < len(argv):
        arg, origin = argv[i], origins[i] if i < len(origins) else ""
        i += 1
        if not arg.startswith("-") or arg in _NOT_KEYS:
            if arg == "--config-file":
                i += 1
            continue
        name, has_value, value = arg.partition("=")
        key = flags.get(name)
        if key is None and not name.startswith("--") and len(name) > 2:
            key, value, has_value = flags.get(name[:2]), name[2:], "="  # -Hunix://…
        if key is None:
            continue
        if not has_value and key not in booleans and i < len(argv):
            value = argv[i]
            i += 1
        settings.setdefault(key, []).append(value if (has_value or key not in booleans) else "true")
        places.setdefault(key, origin)
    return settings, places


_WRONG_FLAGS = {"--insecure-registries": "--insecure-registry",
                "--registry-mirrors": "--registry-mirror"}  # fmt: skip
_LIST_FLAGS = ("--insecure-registry", "--registry-mirror")
_NO_VALUE = frozenset({"--validate", "--help", "--version", "-v", "-h"})


def command_line_problems(argv: list[str], origins: list[str]) -> list[Problem]:
    """What dockerd's own flag parsing refuses at start-up, each at the `file:line` it comes
    from: a word that is no flag nor a flag's value ("accepts no argument(s)"), the plural flag
    names, comma lists (one value to dockerd), a flag missing its value at the end."""
    flags, booleans = _flag_table()
    problems: list[Problem] = []
    i = 1 if argv and not argv[0].startswith("-") else 0
    while i < len(argv):
        arg, where = argv[i], origins[i] if i < len(origins) else ""
        i += 1
        if arg == "--":
            continue
        if not arg.startswith("-") or arg == "-":
            hint = "remove it"
            if arg.startswith("$"):
                hint = (
                    "systemd passes it as it is: an EnvironmentFile= is not a shell script and"
                    f" does not expand {arg}; write the flags themselves"
                )
            message = f'"dockerd" accepts no argument(s): it gets the word {arg!r}'
            problems.append(Problem("dockerd-argument", where, message, hint=hint))
            continue
        name, has_value, value = arg.partition("=")
        key = flags.get(name)
        takes_value = name in _WRONG_FLAGS or (key is not None and key not in booleans)
        if key is None and name not in _WRONG_FLAGS and name not in _NO_VALUE:
            # A flag this table does not know: a following word may be its value.
            takes_value = i < len(argv) and not argv[i].startswith("-")
        if takes_value and not has_value:
            if i >= len(argv):
                message = f"flag needs an argument: {name}"
                problems.append(Problem("missing-value", where, message, hint=f"{name} VALUE"))
                break
            value = argv[i]
            i += 1
        if name in _WRONG_FLAGS:
            right = _WRONG_FLAGS[name]
            fixed = " ".join(f"{right} {v}" for v in value.split(",") if v) or right
            problems.append(Problem("unknown-flag", where, f"unknown flag: {name}",
                                    hint=f"use {fixed}"))  # fmt: skip
        elif name in _LIST_FLAGS and "," in value:
            fixed = " ".join(f"{name} {v}" for v in value.split(",") if v)
            message = f"dockerd does not split {name} on commas: {value} is one value"
            problems.append(Problem("comma-list", where, message, hint=f"repeat the flag: {fixed}"))
    return problems


def find_conflicts(
    config: dict,
    flag_values: dict[str, list[str]],
    *,
    file: str,
    source: str,
    version: Version = NEWEST,
    places: dict[str, str] | None = None,
) -> list[Problem]:
    """One error per key set both in the file and by a flag; `places` names the `file:line`
    each key's flag comes from (else `source` is named).

    dockerd compares the members of most objects as keys too (configValuesSet), so
    {"default-network-opts": {"bridge": ...}} meets `-b` on a dockerd that lacks that key.
    """
    from dockercfg.schema import key_info
    from dockercfg.startup_rules import is_flattened

    keys: list[tuple[str, str]] = []
    for key, item in config.items():
        if is_flattened(key, item, version):
            keys += [(member, f"{key}.{member}") for member in item]
        else:
            keys.append((key, key))
    problems = []
    for key, path in keys:
        if key in flag_values and key not in _EXEMPT:
            info = key_info(key)
            flag = (info.flag if info and info.flag else f"--{key}").split("/")[0]
            problems.append(
                Problem(
                    code="flag-conflict",
                    path=path,
                    message=(
                        f"{key} is set both in {file} and by the dockerd flag {flag} "
                        f"{' '.join(flag_values[key])} ({(places or {}).get(key) or source});"
                        " dockerd refuses to start or"
                        " reload with a setting given in both places"
                    ),
                    hint="remove the flag, or keep the setting only as a flag",
                )
            )
    return problems
