"""dockerd's start-up rules beyond key names and JSON types, per version.

From moby's daemon/config/config.go (Validate, configValuesSet, GetConflictFreeLabels),
daemon/logger (ValidateLogOpts and each driver's ValidateLogOpt) and daemon/daemon_unix.go
(verifyDaemonSettings), at v20.10 and v26.1; tests/corpus holds the files that pin each rule to
the real verdict of both versions.
"""

from __future__ import annotations

import math
from typing import Any

from dockercfg.model import _s
from dockercfg.problems import ERROR, WARNING, Problem
from dockercfg.versions import Version

UNKNOWN = "the following directives don't match any configuration option"
# moby 8f80e55111 + 0b2eecdc8a (both in v23.0.0): an empty or white-space-only file is read as {}
# and a byte-order mark is honoured. 20.10 fails on both ("EOF", "invalid character 'ï'").
LENIENT_DECODE_SINCE: Version = (23, 0, 0)
_LOG_LEVELS = frozenset({"panic", "fatal", "error", "warn", "warning", "info", "debug", "trace"})
_COUNTS = {
    "max-concurrent-downloads": "invalid max concurrent downloads",
    "max-concurrent-uploads": "invalid max concurrent uploads",
    "max-download-attempts": "invalid max download attempts",
}
# dockerd < 23.0 kept these as pointers and refused 0 download attempts too; later: negatives only.
_ZERO_ATTEMPTS_OK_SINCE: Version = (23, 0, 0)
_RESERVED_LABELS = ("com.docker.", "io.docker.", "org.dockerproject.")

# Log options per built-in driver, as each driver's ValidateLogOpt accepts them ("mode" and
# "max-buffer-size" are taken out by logger.ValidateLogOpts before the driver sees the rest).
_ATTRS = ("env", "env-regex", "labels", "labels-regex", "tag")
_LOG_OPTS: dict[str, frozenset[str]] = {
    "json-file": frozenset({"max-file", "max-size", "compress", *_ATTRS}),
    "local": frozenset({"max-file", "max-size", "compress"}),
    "journald": frozenset(_ATTRS),
    "syslog": frozenset(
        {
            "syslog-address",
            "syslog-facility",
            "syslog-tls-ca-cert",
            "syslog-tls-cert",
            "syslog-tls-key",
            "syslog-tls-skip-verify",
            "syslog-format",
            *_ATTRS,
        }
    ),
}
_ANY_DRIVER_OPTS = frozenset({"mode", "max-buffer-size"})
_BUILTIN_DRIVERS = frozenset(
    {"json-file", "local", "journald", "syslog", "gelf", "fluentd", "awslogs", "splunk"}
    | {"gcplogs", "logentries", "etwlogs", "none"}
)
_SYSLOG_SCHEMES = ("tcp", "udp", "tcp+tls", "unix", "unixgram")
# ip6tables left experimental in 27.0 (moby#47747).
IP6TABLES_STABLE_SINCE: Version = (27, 0, 0)
# CDI is on by default from 27.0; before, cdi-spec-dirs works only with "features": {"cdi": true}.
CDI_DEFAULT_SINCE: Version = (27, 0, 0)


def value_problems(value: dict[str, Any], version: Version) -> list[Problem]:
    """dockerd's value rules (daemon/config Validate): it refuses the whole file for these."""
    problems = _label_problems(value.get("labels"))
    level = value.get("log-level")
    if isinstance(level, str) and level and level.lower() not in _LOG_LEVELS:
        if version < LENIENT_DECODE_SINCE:
            message = f"unable to parse logging level: {_s(level)}"
        else:
            message = f"invalid logging level: {_s(level)}"
        hint = "one of panic, fatal, error, warn, info, debug, trace"
        problems.append(Problem("invalid-value", "log-level", message, hint=hint))
    for key, wording in _COUNTS.items():
        count = value.get(key)
        if not isinstance(count, int) or isinstance(count, bool):
            continue
        zero_bad = key == "max-download-attempts" and version < _ZERO_ATTEMPTS_OK_SINCE
        if count < 0 or (count == 0 and zero_bad):
            hint = "use a positive number" if zero_bad else "use 0 or a positive number"
            problems.append(Problem("invalid-value", key, f"{wording}: {count}", hint=hint))
    problems += _log_problems(value, version)
    problems += _gate_problems(value, version)
    return problems


def _label_problems(labels: Any) -> list[Problem]:
    if not isinstance(labels, list):
        return []
    problems = []
    seen: dict[str, str] = {}
    for index, label in enumerate(labels):
        if not isinstance(label, str):
            continue
        path = f"labels[{index}]"
        if "=" not in label:
            message = f"bad attribute format: {_s(label)}"
            problems.append(Problem("invalid-value", path, message, hint="labels are key=value"))
            continue
        key, _, val = label.partition("=")
        if key.lower().startswith(_RESERVED_LABELS):
            message = (
                f"label {_s(label)} is not allowed: the namespaces com.docker.*, io.docker.*,"
                " and org.dockerproject.* are reserved for internal use"
            )
            problems.append(Problem("invalid-value", path, message, hint="rename the label"))
        if key in seen and seen[key] != val:
            message = f"conflict labels for {_s(label)} and {_s(key + '=' + seen[key])}"
            hint = "give each label key one value"
            problems.append(Problem("label-conflict", path, message, hint=hint))
        seen.setdefault(key, val)
    return problems


def _log_problems(value: dict[str, Any], version: Version) -> list[Problem]:
    """Log options the configured (or default json-file) log driver refuses at start-up."""
    driver = value.get("log-driver")
    driver = driver if isinstance(driver, str) and driver else "json-file"
    opts = value.get("log-opts")
    problems = []
    if driver not in _BUILTIN_DRIVERS:
        message = (
            f"{_s(driver)} is no built-in log driver: dockerd starts, and every container"
            " fails to start unless a logging plugin of that name is installed"
        )
        problems.append(Problem("log-driver", "log-driver", message, WARNING))
    allowed = _LOG_OPTS.get(driver)
    if not isinstance(opts, dict) or allowed is None:
        return problems
    for name, item in opts.items():
        path = f"log-opts.{name}"
        if name not in allowed and name not in _ANY_DRIVER_OPTS:
            message = f"unknown log opt '{_s(name)}' for {driver} log driver"
            hint = "one of " + ", ".join(sorted(allowed))
            problems.append(Problem("log-opt", path, message, hint=hint))
        elif name == "syslog-address" and isinstance(item, str) and item:
            scheme = item.split("://", 1)[0] if "://" in item else ""
            if scheme not in _SYSLOG_SCHEMES:
                if version < LENIENT_DECODE_SINCE:
                    message = f"syslog-address should be in form proto://address, got {_s(item)}"
                else:
                    message = f"unsupported scheme: '{_s(scheme)}'"
                hint = "use udp://, tcp://, tcp+tls://, unix:// or unixgram://"
                problems.append(Problem("log-opt", path, message, hint=hint))
    return problems


def _gate_problems(value: dict[str, Any], version: Version) -> list[Problem]:
    """Options that need "experimental" (dockerd refuses) or a feature (dockerd ignores them)."""
    problems = []
    experimental = value.get("experimental") is True
    if value.get("ip6tables") is True and not experimental and version < IP6TABLES_STABLE_SINCE:
        message = "ip6tables rules are only available if experimental features are enabled"
        hint = 'add "experimental": true, or upgrade dockerd to 27.0 or later'
        problems.append(Problem("needs-experimental", "ip6tables", message, hint=hint))
    features = value.get("features")
    cdi = isinstance(features, dict) and features.get("cdi") is True
    if (
        "cdi-spec-dirs" in value
        and not cdi
        and version < CDI_DEFAULT_SINCE
        and _known("cdi-spec-dirs", version)
    ):
        message = (
            'dockerd accepts cdi-spec-dirs but ignores it unless "features": {"cdi": true}'
            " is set (CDI is on by default only from 27.0)"
        )
        hint = 'add "features": {"cdi": true}'
        problems.append(Problem("needs-feature", "cdi-spec-dirs", message, ERROR, hint))
    return problems


def _known(key: str, version: Version) -> bool:
    from dockercfg.schema import key_info

    info = key_info(key)
    return info is not None and info.accepted_by(version)


def number_problems(value: Any) -> list[Problem]:
    """Numbers Go's float64 cannot hold (1e999): dockerd fails to decode the file."""
    from dockercfg.jsontext import join_path

    problems = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:  # iterative: values may nest hundreds of levels deep
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((join_path(path, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((join_path(path, i), v) for i, v in reversed(list(enumerate(item))))
        elif _out_of_range(item):
            message = "number out of range: dockerd cannot decode it (more than a 64-bit float)"
            problems.append(Problem("number-range", path, message))
    return problems


def _out_of_range(item: Any) -> bool:
    if isinstance(item, float):
        return not math.isfinite(item)
    return isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > 1024


# configValuesSet: dockerd checks the members of an object value against its flags as if they
# were top-level keys (and not the object's own key), except for these objects, whose members
# are free-form. So {"docker": {"insecure-registries": [...]}} passes and does nothing.
_FLAT_OPTIONS = frozenset({"log-opts", "runtimes", "default-ulimits", "features", "builder"})
_FLAT_SINCE: dict[str, Version] = {"default-network-opts": (24, 0, 0), "nri-opts": (29, 2, 0)}
_FLAT_UNTIL: dict[str, Version] = {"cluster-store-opts": (23, 0, 0)}
_PROXY_KEYS = ("http-proxy", "https-proxy", "no-proxy")


def is_flattened(key: str, item: Any, version: Version) -> bool:
    """True when dockerd checks the members of `item` instead of `key` itself."""
    if not isinstance(item, dict) or key in _FLAT_OPTIONS:
        return False
    if key in _FLAT_SINCE and version >= _FLAT_SINCE[key]:
        return False
    return not (key in _FLAT_UNTIL and version < _FLAT_UNTIL[key])


def nested_problems(value: dict[str, Any], version: Version, platform: str) -> list[Problem]:
    """Members of flattened objects: unknown ones stop dockerd, known ones are silently ignored."""
    from dockercfg.jsontext import join_path
    from dockercfg.schema import flag_only_key, key_info

    problems = []
    proxies = key_info("proxies")
    proxies_known = proxies is not None and proxies.accepted_by(version, platform)
    problems += _struct_member_problems(value, version, platform)
    for key, item in value.items():
        if not is_flattened(key, item, version):
            continue
        works = _PROXY_KEYS if key == "proxies" and proxies_known else ()
        for sub in item:
            if sub in works:
                continue
            path = join_path(key, sub)
            other, trap = key_info(sub), flag_only_key(sub)
            if (other and other.accepted_by(version, platform)) or (
                trap and trap.accepted_by(version, platform)
            ):
                if works:
                    message = (
                        "dockerd accepts this key here but ignores it:"
                        f" only {', '.join(_PROXY_KEYS)} work"
                    )
                else:
                    message = (
                        f"dockerd accepts this key inside {_s(key)} but never reads it there:"
                        " it checks the members of an object as top-level keys, then ignores them"
                    )
                problems.append(Problem("ignored-key", path, message, hint="move it to the top"))
            else:
                problems.append(Problem("unknown-key", path, f"{UNKNOWN}: {_s(sub)}"))
    return problems


# Objects decoded into Go structs, which match member names case-insensitively and drop the rest
# without a word. A daemon.json key put inside one of them is a misplaced setting.
_STRUCT_FIELDS = {
    "builder": frozenset({"gc", "entitlements", "history"}),
    "runtimes.*": frozenset({"path", "runtimeargs", "runtimetype", "options"}),
}


def _struct_member_problems(
    value: dict[str, Any], version: Version, platform: str
) -> list[Problem]:
    from dockercfg.jsontext import join_path
    from dockercfg.schema import key_info

    places: list[tuple[str, Any, frozenset[str]]] = [
        ("builder", value.get("builder"), _STRUCT_FIELDS["builder"])
    ]
    runtimes = value.get("runtimes")
    if isinstance(runtimes, dict):
        for name, spec in runtimes.items():
            places.append((join_path("runtimes", name), spec, _STRUCT_FIELDS["runtimes.*"]))
    problems = []
    for where, item, fields in places:
        if not isinstance(item, dict):
            continue
        for sub in item:
            info = key_info(sub)
            if sub.lower() in fields or info is None or not info.accepted_by(version, platform):
                continue
            message = (
                f"{_s(sub)} is a top-level daemon.json key: inside {where} dockerd ignores it"
                " without a word"
            )
            path = join_path(where, sub)
            problems.append(Problem("ignored-key", path, message, hint="move it to the top level"))
    return problems
