"""Every problem dockerd would have with a daemon.json, plus the traps it silently accepts.

Rules follow moby's daemon/config/config.go (decoding, unknown-key check), registry/config.go
(insecure registries, mirrors), the keys-by-version tables behind dockercfg/schemas/, and
dockercfg.startup_rules; tests/corpus pins them to real dockerd verdicts.
Nothing heavy is imported at module level: jsonschema loads only when a config is checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from dockercfg.model import _q, _s
from dockercfg.problems import ERROR, WARNING, Problem
from dockercfg.startup_rules import (
    LENIENT_DECODE_SINCE,
    UNKNOWN,
    is_flattened,
    nested_problems,
    number_problems,
    value_problems,
)
from dockercfg.versions import NEWEST, Version, format_version, parse_version

VALIDATE_FLAG_SINCE: Version = (23, 0, 0)  # `dockerd --validate`, moby#42393
HOST_GATEWAY_IPS_SINCE: Version = (28, 0, 0)
DOCKERD_VALIDATE_TIMEOUT = 10.0

# opts.MemBytes.UnmarshalJSON fails on null, unlike plain fields, which keep their default.
_NULL_FAILS = frozenset({"default-shm-size"})


def _dockerd(version: Version) -> str:
    return "current dockerd" if version == NEWEST else f"dockerd {format_version(version)}"


def validate_bytes(
    data: bytes, *, source: str, version: Version = NEWEST, platform: str = "linux"
) -> list[Problem]:
    """Check a daemon.json as read from disk: syntax, encoding, duplicates, keys, types, values."""
    from dockercfg.jsontext import JSONSyntaxError, parse_config

    try:
        parsed = parse_config(data, source)
    except JSONSyntaxError as err:
        message, hint = err.message, None
        if "after top-level value" in message and version < LENIENT_DECODE_SINCE:
            # json.Decoder stops after one value: this dockerd starts and drops the rest unread.
            message += f"; {_dockerd(version)} reads only the first value and ignores the rest"
            hint = "merge everything into one object"
        return [Problem("syntax", f"{err.source}:{err.line}:{err.column}", message, hint=hint)]
    problems = []
    old = version < LENIENT_DECODE_SINCE
    severity = ERROR if old else WARNING
    if parsed.had_bom:
        if old:
            message = (
                f"{_dockerd(version)} fails on a file that starts with a byte-order mark"
                " (invalid character 'ï' looking for beginning of value)"
            )
        else:
            message = "the file starts with a byte-order mark, which dockerd before 23.0 rejects"
        hint = "save it as UTF-8 without a byte-order mark"
        if parsed.encoding != "utf-8":
            hint += f" (it is {parsed.encoding.upper()} now)"
        problems.append(Problem("bom", source, message, severity, hint))
    if parsed.was_empty:
        if old:
            message = (
                f"{_dockerd(version)} fails on an empty file"
                f" (unable to configure the Docker daemon with file {source}: EOF)"
            )
        else:
            message = "the file is empty: dockerd 23.0+ reads it as {}, older dockerd fails on it"
        problems.append(Problem("empty-file", source, message, severity, 'write "{}" instead'))
    if old and not parsed.was_empty:
        problems += _loose_space_problems(parsed.text, source, version)
    problems += _duplicate_problems(parsed.duplicates)
    problems += validate_config(parsed.value, version=version, platform=platform)
    return problems


def _loose_space_problems(text: str, source: str, version: Version) -> list[Problem]:
    """Unicode white space before the object: dockerd < 23.0 decodes the file as it is and fails.

    (White space after the object is harmless there: Go's json.Decoder stops after one value.)
    """
    from dockercfg.jsontext import _GO_SPACE, quote_char

    start = 0
    while start < len(text) and text[start] in _GO_SPACE:
        start += 1
    loose = next((ch for ch in text[:start] if ch not in " \t\r\n"), None)
    if loose is None:
        return []
    # Go reports the first byte of the UTF-8 sequence, as a rune: U+00A0 gives 'Â'.
    first = chr(loose.encode("utf-8", "surrogatepass")[0])
    message = (
        f"{_dockerd(version)} fails on white space other than JSON's before the object"
        f" (invalid character {quote_char(first)} looking for beginning of value)"
    )
    hint = f"remove the U+{ord(loose):04X} at the start of the file"
    return [Problem("unicode-space", source, message, ERROR, hint)]


def _duplicate_problems(duplicates: list[tuple[str, int, int]]) -> list[Problem]:
    places: dict[str, list[tuple[int, int]]] = {}
    for path, line, column in duplicates:
        places.setdefault(path, []).append((line, column))
    problems = []
    for path, where in places.items():
        spots = ", ".join(f"{line}:{column}" for line, column in where)
        problems.append(
            Problem(
                "duplicate-key",
                path,
                f"key given {len(where)} times (at {spots}); dockerd silently uses the last one,"
                f" on line {where[-1][0]}, and ignores the others",
                hint="keep one of them",
            )
        )
    return problems


def validate_config(
    value: dict[str, Any], *, version: Version = NEWEST, platform: str = "linux"
) -> list[Problem]:
    """Check a decoded config (also used on in-memory results before they are written)."""
    if not isinstance(value, dict):
        return [Problem("type", "", "top-level value must be a JSON object")]
    from dockercfg.schema import key_info, schema_problems

    problems: list[Problem] = []
    typed: dict[str, Any] = {}
    for key, item in value.items():
        info = key_info(key)
        if is_flattened(key, item, version) and not (info and info.accepted_by(version, platform)):
            problems.append(_wrapper_problem(key, version, info.since if info else None))
            continue
        problem, accepted = _key_problem(key, version, platform)
        if problem is not None:
            problems.append(problem)
        if item is None and accepted and key not in _NULL_FAILS:
            problems.append(
                Problem(
                    "null-value",
                    key,
                    "null: dockerd keeps its default for this key",
                    WARNING,
                    "remove the key or give it a value",
                )
            )
        elif accepted:
            typed[key] = item
    problems += schema_problems(typed)
    problems += number_problems(value)
    problems += value_problems(value, version)
    problems += nested_problems(value, version, platform)
    problems += _registry_problems(value, version)
    both = "host-gateway-ip" in value and "host-gateway-ips" in value
    if both and version >= HOST_GATEWAY_IPS_SINCE:
        message = (
            "host-gateway-ip and host-gateway-ips must not both be specified in the config file"
        )
        problems.append(Problem("conflict", "host-gateway-ip", message))
    # Before 23.0 "graph" still worked, as an alias that must not meet "data-root".
    if "graph" in value and "data-root" in value and version < (23, 0, 0):
        message = 'cannot specify both "graph" and "data-root" config file options'
        problems.append(Problem("conflict", "graph", message))
    return problems


def _wrapper_problem(key: str, version: Version, since: Version | None) -> Problem:
    """An unknown key holding an object: dockerd checks only the keys inside it."""
    what = f"added in {format_version(since)}" if since and since > version else "no key"
    message = (
        f"{_s(key)} is unknown to {_dockerd(version)} ({what}), and it does not say so: it"
        " checks only the keys inside the object, then ignores all of it"
    )
    hint = _did_you_mean(key, version, "linux") or "move the keys inside it to the top level"
    return Problem("ignored-key", key, message, hint=hint)


def _key_problem(key: str, version: Version, platform: str) -> tuple[Problem | None, bool]:
    """What dockerd `version` makes of a top-level key, and whether its value is then decoded."""
    from dockercfg.schema import flag_only_key, key_info, rejected_field_hint

    dockerd = _dockerd(version)
    info = key_info(key)
    shown = _s(key)
    if info is not None and not info.on_platform(platform, version):
        message = f"{UNKNOWN}: {shown} (Linux-only in {dockerd})"
        return Problem("unknown-key", key, message, hint="remove the key"), False
    if info is not None and not info.added_by(version):
        since = format_version(info.since)
        message = f"{UNKNOWN}: {shown} (not known to {dockerd}; added in {since})"
        hint = f"upgrade dockerd to {since} or later, or remove the key"
        return Problem("unknown-key", key, message, hint=hint), False
    if info is not None and info.removed is not None and version >= info.removed:
        if info.removed_message and (info.unknown_since is None or version < info.unknown_since):
            message = f"{dockerd} refuses this key: {info.removed_message}"
        else:
            gone = format_version(info.unknown_since or info.removed)
            message = f"{UNKNOWN}: {shown} (removed in {gone})"
        hint = f'use "{info.use}" instead' if info.use else "remove the key"
        return Problem("removed-key", key, message, hint=hint), False
    if info is not None:
        if info.ignored_since is not None and version >= info.ignored_since:
            message = f"{dockerd} accepts this key but it has no effect"
            return Problem("no-effect", key, message, WARNING, "remove the key"), True
        if info.deprecated is not None and version >= info.deprecated:
            message = f"deprecated since dockerd {format_version(info.deprecated)}"
            hint = f'use "{info.use}" instead' if info.use else "plan to remove the key"
            return Problem("deprecated-key", key, message, WARNING, hint), True
        return None, True
    trap = flag_only_key(key)
    if trap is not None and trap.accepted_by(version, platform):
        message = (
            f"{_q(key)} is a dockerd flag name, not a daemon.json key:"
            f" {dockerd} accepts it and silently ignores it"
        )
        hint = _suggestion(trap.use) if trap.use else trap.hint
        return Problem("ignored-key", key, message, hint=hint), False
    message = f"{UNKNOWN}: {shown}"
    hint = rejected_field_hint(key) or _did_you_mean(key, version, platform)
    if trap is not None and trap.use and version < trap.since:
        since = format_version(trap.since)
        message += f" (not known to {dockerd}; added in {since})"
        hint = f"from dockerd {since} on: " + _suggestion(trap.use)
    return Problem("unknown-key", key, message, hint=hint), False


def _suggestion(key: str) -> str:
    if "." in key:
        parent, child = key.split(".", 1)
        return f'did you mean "{parent}": {{"{child}": ...}}?'
    return f'did you mean "{key}"?'


def _did_you_mean(key: str, version: Version, platform: str) -> str | None:
    """The closest known key, comparing against key names and flag names (mapped to keys)."""
    import difflib

    from dockercfg.schema import flag_names, known_keys

    candidates = {name: name for name in known_keys(version, platform)}
    for flag, target in flag_names(version, platform).items():
        candidates.setdefault(flag, target)
    wanted = key.strip().lower().replace("_", "-").replace(" ", "-").lstrip("-")
    target = candidates.get(wanted)
    if target is None:
        close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.75)
        target = candidates[close[0]] if close else None
    return _suggestion(target) if target and target != key else None


def _registry_problems(value: dict[str, Any], version: Version) -> list[Problem]:
    """dockerd's rules for insecure-registries and registry-mirrors entries (dockercfg.model)."""
    from dockercfg import model

    problems: list[Problem] = []
    for key in ("insecure-registries", "registry-mirrors"):
        entries = value.get(key)
        if not isinstance(entries, list):
            continue
        seen: dict[str, str] = {}
        for index, raw in enumerate(entries):
            if not isinstance(raw, str):
                continue  # the schema check reports it
            path = f"{key}[{index}]"
            try:
                if key == "insecure-registries":
                    result = model.normalize_insecure(raw)
                    normal, warnings = result.value, list(result.warnings)
                else:
                    normal, warnings = model.normalize_mirror(raw, version), []
                    if _RESERVED_HOST.search(normal):
                        problems.append(_placeholder_problem(path, raw))
            except model.InvalidValue as err:
                if key == "registry-mirrors" and _PLACEHOLDER.search(raw):
                    problems.append(_placeholder_problem(path, raw))
                    continue
                code = "invalid-registry" if key == "insecure-registries" else "invalid-mirror"
                problems.append(Problem(code, path, err.message))
                continue
            for warning in warnings:
                # moby's wording for a stripped http:// or https:// ("should not contain ...")
                code = "stripped-scheme" if "should not contain" in warning else "registry-warning"
                problems.append(Problem(code, path, warning, WARNING))
            if normal in seen:
                message = f"same as {seen[normal]} once normalised ({normal}); dockerd keeps one"
                problems.append(Problem("duplicate-entry", path, message, WARNING, "remove it"))
            else:
                seen[normal] = path
    return problems


# A documentation placeholder left in: dockerd takes it (Go's URL parser allows <...> in a host)
# and every pull then tries a host that can never resolve before it falls back to Docker Hub.
_PLACEHOLDER = re.compile(r"<[^<>]*>")
# RFC 2606 / 6761 names that never resolve on any network (".test" may, through /etc/hosts).
_RESERVED_HOST = re.compile(
    r"^[a-z]+://(?:[^/@]*@)?(?:[^/:]+\.)?(?:example(?:\.com|\.net|\.org)?|invalid)(?:[:/]|$)",
    re.IGNORECASE,
)


def _placeholder_problem(path: str, raw: str) -> Problem:
    message = (
        f"{_s(raw)} looks like a placeholder: dockerd accepts it, but its host never"
        " resolves, and every pull tries it before it falls back to Docker Hub"
    )
    return Problem("mirror-placeholder", path, message, WARNING, "put your mirror's URL here")


def dockerd_validate(
    data: bytes,
    *,
    dockerd: str = "dockerd",
    version: Version | None = None,
    extra_flags: Sequence[str] = (),
    source: str | None = None,
    timeout: float = DOCKERD_VALIDATE_TIMEOUT,
) -> Problem | None:
    """Ask the installed dockerd (>= 23.0) to check `data` with `dockerd --validate`.

    One more signal, never the verdict: 26.1's --validate says "configuration OK" to files its
    real start refuses (bad insecure registries and mirrors, log-opts the driver refuses,
    ip6tables without experimental; 15 of them in tests/corpus), so its OK proves nothing and
    is asked only after validate_bytes() found no error. Its refusals are real ones.

    None on success, or when that is impossible (no dockerd, older than 23.0, cannot run); a
    Problem carrying dockerd's message otherwise. Never raises: this check is a bonus.
    """
    # Imported here: only mutating commands and `validate` run dockerd; keep start-up fast.
    import shutil
    import subprocess
    import tempfile

    try:
        exe = shutil.which(dockerd)
        if exe is None:
            return None
        installed = _installed_version(exe, timeout)
        if version is not None and installed is not None and installed[:2] != version[:2]:
            return None  # judged as another version (--docker-version): this binary's verdict
        version = version or installed  # would be by its own rules, not that version's
        if version is None or version < VALIDATE_FLAG_SINCE:
            return None
        # A private directory (mode 0700): the config may hold proxy credentials.
        with tempfile.TemporaryDirectory(prefix="dockercfg-validate-") as tmp:
            path = os.path.join(tmp, "daemon.json")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            argv = [exe, "--validate", "--config-file", path, *extra_flags]
            try:
                done = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                message = f"`dockerd --validate` gave no answer within {timeout:g} s"
                return Problem("dockerd-validate", source or "", message, WARNING)
        output = (done.stderr or done.stdout).decode("utf-8", "replace")
        if done.returncode == 0 or "unknown flag: --validate" in output:
            return None  # fine, or the caller's version was wrong and this dockerd is too old
        lines = output.splitlines()
        lines = [line.strip() for line in lines if line.strip()]
        message = lines[-1] if lines else f"exited with status {done.returncode}"
        message = message.replace(path, source or "daemon.json")
        return Problem(
            "dockerd-validate", source or "", message, hint=f"reported by {exe} --validate"
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _installed_version(exe: str, timeout: float) -> Version | None:
    """The binary's version: remembered (dockercfg.versioncache), else asked and remembered."""
    import subprocess

    from dockercfg import versioncache

    said = versioncache.lookup(exe)
    if said is None:
        done = subprocess.run(
            [exe, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
        if done.returncode != 0:
            return None
        said = done.stdout.decode("utf-8", "replace")
        versioncache.remember(exe, said)
    return parse_version(said)
