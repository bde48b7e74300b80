"""What dockerd knows about each daemon.json key, read from dockercfg/schemas/daemon.schema.json.

The schema file is the single source of truth: JSON types for jsonschema, plus x- annotations
(first version, removal, reload, platform, flag) that this module turns into KeyInfo records.
jsonschema itself is imported only by schema_validator(), so importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dockercfg.problems import Problem
from dockercfg.schema_fast import (  # noqa: F401  (re-exported: tests and callers use them here)
    _FAST_DIALECTS,
    _FAST_TYPES,
    Check,
    _compile,
    _go_integer,
    _never,
)
from dockercfg.versions import NEWEST, Version, parse_version

# The oldest release whose keys were checked (reference keys-by-version). "x-since": "20.10.0"
# means "in 20.10.0 or earlier", so such keys count as known on any older dockerd too.
OLDEST_CHECKED: Version = (20, 10, 0)
_TYPE_NAMES = {
    "array": "an array",
    "object": "an object",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@dataclass(frozen=True)
class KeyInfo:
    key: str
    since: Version  # first dockerd version that accepts the key
    removed: Version | None  # first version that refuses it (hard error or unknown directive)
    reloadable: bool  # applied by SIGHUP / systemctl reload
    platform: str  # "both" or "linux"
    flag: str | None  # e.g. "--insecure-registry"; None for file-only keys
    reloadable_since: Version | None = None
    deprecated: Version | None = None
    ignored_since: Version | None = None  # accepted, but has no effect from this version on
    unknown_since: Version | None = None  # reported as an unknown directive from this version on
    removed_message: str | None = None  # dockerd's own error between `removed` and unknown_since
    use: str | None = None  # the replacement key, where there is one
    json_type: str | None = None
    windows_since: Version | None = None  # Linux-only before this version
    windows_until: Version | None = None  # also on Windows before this version

    def on_platform(self, platform: str, version: Version = NEWEST) -> bool:
        if platform != "windows":
            return True  # no key is Windows-only
        if self.windows_until is not None and version < self.windows_until:
            return True
        if self.windows_since is not None and version < self.windows_since:
            return False
        return self.platform == "both"

    def added_by(self, version: Version) -> bool:
        return self.since <= version or self.since == OLDEST_CHECKED

    def accepted_by(self, version: Version, platform: str = "linux") -> bool:
        """dockerd `version` on `platform` takes the key without error."""
        gone = self.removed is not None and version >= self.removed
        return self.on_platform(platform, version) and self.added_by(version) and not gone


@dataclass(frozen=True)
class FlagOnlyKey:
    """A dockerd flag name that is no daemon.json field: dockerd accepts the key and ignores it."""

    key: str
    use: str | None  # the key that works, e.g. "insecure-registries" or "proxies.http-proxy"
    since: Version
    removed: Version | None
    platform: str
    hint: str | None

    def accepted_by(self, version: Version, platform: str = "linux") -> bool:
        gone = self.removed is not None and version >= self.removed
        added = self.since <= version or self.since == OLDEST_CHECKED
        return self.platform in ("both", platform) and added and not gone


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The parsed schema (cached: treat it as read-only)."""
    from importlib.resources import files

    text = files("dockercfg.schemas").joinpath("daemon.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _version(text: Any) -> Version | None:
    return parse_version(text) if isinstance(text, str) else None


def _flag_text(flag: Any) -> str | None:
    if isinstance(flag, list):
        return "/".join(flag) or None
    return flag or None


@lru_cache(maxsize=1)
def _key_table() -> dict[str, KeyInfo]:
    table = {}
    for key, spec in load_schema()["properties"].items():
        table[key] = KeyInfo(
            key=key,
            since=_version(spec.get("x-since")) or OLDEST_CHECKED,
            removed=_version(spec.get("x-removed")),
            reloadable=bool(spec.get("x-reloadable")),
            platform=spec.get("x-platform", "both"),
            flag=_flag_text(spec.get("x-flag")),
            reloadable_since=_version(spec.get("x-reloadable-since")),
            deprecated=_version(spec.get("x-deprecated")),
            ignored_since=_version(spec.get("x-ignored-since")),
            unknown_since=_version(spec.get("x-unknown-since")),
            removed_message=spec.get("x-removed-message"),
            use=spec.get("x-use"),
            json_type=spec.get("type"),
            windows_since=_version(spec.get("x-windows-since")),
            windows_until=_version(spec.get("x-windows-until")),
        )
    return table


@lru_cache(maxsize=1)
def _flag_only_table() -> dict[str, FlagOnlyKey]:
    table = {}
    for key, spec in load_schema().get("x-flag-only-keys", {}).items():
        table[key] = FlagOnlyKey(
            key=key,
            use=spec.get("x-use"),
            since=_version(spec.get("x-since")) or OLDEST_CHECKED,
            removed=_version(spec.get("x-removed")),
            platform=spec.get("x-platform", "both"),
            hint=spec.get("x-hint"),
        )
    return table


def key_info(key: str) -> KeyInfo | None:
    """The schema's record for a daemon.json key, or None for keys no dockerd version has."""
    return _key_table().get(key)


def all_keys() -> list[str]:
    return list(_key_table())


def flag_only_key(key: str) -> FlagOnlyKey | None:
    """Flag names such as "insecure-registry" that pass dockerd's key check and do nothing."""
    return _flag_only_table().get(key)


def rejected_field_hint(key: str) -> str | None:
    """Config-struct fields with no flag of the same name, which dockerd rejects as unknown."""
    return load_schema().get("x-rejected-fields", {}).get(key)


def known_keys(version: Version, platform: str = "linux") -> set[str]:
    """Keys that dockerd `version` on `platform` accepts (deprecated and no-op keys included)."""
    return {key for key, info in _key_table().items() if info.accepted_by(version, platform)}


def flag_names(version: Version, platform: str = "linux") -> dict[str, str]:
    """Long flag name (without "--") -> the daemon.json key to use for it, for did-you-mean."""
    names: dict[str, str] = {}
    # Flag-only entries first: they are the precise ones ("http-proxy" -> "proxies.http-proxy").
    for key, trap in _flag_only_table().items():
        if trap.use and trap.accepted_by(version, platform):
            names[key] = trap.use
    for key, info in _key_table().items():
        if info.flag and info.accepted_by(version, platform):
            for flag in info.flag.split("/"):
                names.setdefault(flag.lstrip("-"), key)
    return names


def is_reloadable(key: str, version: Version) -> bool:
    """True when a SIGHUP makes dockerd `version` apply a change of `key` (no restart needed)."""
    info = key_info(key)
    if info is None or not info.reloadable or not info.accepted_by(version, "linux"):
        return False
    return info.reloadable_since is None or version >= info.reloadable_since


@lru_cache(maxsize=1)
def schema_validator() -> Any:
    """A jsonschema validator for the schema, with Go's idea of an integer.

    jsonschema counts 3.0 as an integer; Go's decoder refuses to put 3.0 (or true) into an int
    field, so "integer" here means a JSON number written without fraction or exponent.
    """
    from jsonschema import validators

    base = validators.validator_for(load_schema())
    checker = base.TYPE_CHECKER.redefine("integer", lambda _checker, value: _go_integer(value))
    strict = validators.extend(base, type_checker=checker)
    return strict(load_schema())


# Fast path ---------------------------------------------------------------------------------------
# Importing jsonschema and building its validator costs more than the rest of `dockercfg validate`.
# Most keys' schemas use a handful of keywords, which _compile() turns into plain predicates. When
# every key of a document has such a schema and every predicate holds, jsonschema could report
# nothing, so schema_problems() returns [] without importing it. Anything else (a keyword outside
# the subset, a predicate that fails) goes to jsonschema, which words every problem. A predicate
# may only be stricter than jsonschema, never more lenient: True must mean "jsonschema agrees".


FAST_PATH = True  # tests set this to False to compare against jsonschema alone


@lru_cache(maxsize=1)
def _fast_plan() -> tuple[Check, dict[str, Check | None], Check | None] | None:
    """(check of the document itself, check per schema key or None, check of other keys).

    None when the schema as a whole is outside the subset. Keys are compiled one by one so that
    a key outside the subset only sends documents that contain it to jsonschema.
    """
    schema = load_schema()
    if not isinstance(schema, dict) or schema.get("$schema") not in _FAST_DIALECTS:
        return None
    ignored = ("$schema", "$id", "properties", "additionalProperties")
    root = _compile({k: v for k, v in schema.items() if k not in ignored})
    properties = schema.get("properties", {})
    additional = schema.get("additionalProperties", True)
    if root is None or not isinstance(properties, dict):
        return None
    extra = _compile(additional) if additional is not False else _never
    per_key = {key: _compile(sub) for key, sub in properties.items()}
    return root, per_key, extra


def fast_ok(value: Any) -> bool:
    """True only if jsonschema would find no error in `value`; False means "ask jsonschema"."""
    plan = _fast_plan()
    if plan is None:
        return False
    root, per_key, extra = plan
    if not isinstance(value, dict) or not root(value):
        return False
    for key, item in value.items():
        check = per_key.get(key, extra)  # None: outside the subset
        if check is None or not check(item):
            return False
    return True


def schema_problems(value: dict[str, Any]) -> list[Problem]:
    """Type errors, each as a Problem whose path is like `insecure-registries[2]`.

    A document that passes fast_ok() has none, and is not shown to jsonschema at all.
    """
    if FAST_PATH and fast_ok(value):
        return []
    from dockercfg.jsontext import format_path

    order = {key: index for index, key in enumerate(value)}

    def file_order(error: Any) -> tuple:
        parts = list(error.absolute_path)
        first = order.get(parts[0], -1) if parts else -1
        return (first, [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts])

    errors = sorted(schema_validator().iter_errors(value), key=file_order)
    problems = []
    for error in errors:
        path = format_path(error.absolute_path)
        if error.validator == "type":
            problems.append(_type_problem(path, error.validator_value, error.instance))
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in error.instance:
                if extra not in allowed:
                    message = f"unknown option; dockerd accepts only {', '.join(sorted(allowed))}"
                    problems.append(
                        Problem("type", format_path([*error.absolute_path, extra]), message)
                    )
        elif error.validator == "minLength":
            problems.append(Problem("type", path, "must not be empty"))
        else:
            problems.append(Problem("type", path, error.message))
    return problems


def _type_problem(path: str, expected: Any, instance: Any) -> Problem:
    from dockercfg.jsontext import json_type

    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
    hint = None
    if "array" in names and isinstance(instance, str):
        hint = f"write a list: {json.dumps([instance])}"
    elif "boolean" in names and instance in ("true", "false"):
        hint = f"write {instance} without quotes"
    elif "integer" in names and isinstance(instance, float) and math.isfinite(instance):
        hint = "write the number without a fraction or exponent"
    elif "integer" in names and isinstance(instance, str) and instance.strip().isdigit():
        hint = "write the number without quotes"
    elif (
        "string" in names and isinstance(instance, (int, float)) and not isinstance(instance, bool)
    ):
        hint = f"write it as a string: {json.dumps(str(instance))}"
    message = f"wrong type: expected {wanted}, got {json_type(instance)}"
    return Problem("type", path, message, hint=hint)
