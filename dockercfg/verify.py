"""Does the live daemon hold what the file says? dockerd keeps its old config when a reload fails,
so the service manager's "done" proves nothing; only /info does.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY
from dockercfg.versions import NEWEST, Version


@dataclass
class Expected:
    """Registry settings the daemon should show; None means "not set in the file: not checked"."""

    insecure: list[str] | None
    mirrors: list[str] | None


def expected_from(config: dict, flags: dict[str, list[str]], version: Version | None) -> Expected:
    """What /info must show for `config` (the file) plus values the daemon got as flags."""
    from dockercfg.model import InvalidValue, normalize_insecure, normalize_mirror

    def norm(values: list[str], fn) -> list[str]:
        out = []
        for value in values:
            try:
                out.append(fn(value))
            except InvalidValue:
                out.append(value)
        return out

    insecure = mirrors = None
    if isinstance(config.get(INSECURE_KEY), list):
        raw = list(config[INSECURE_KEY]) + flags.get(INSECURE_KEY, [])
        insecure = norm(raw, lambda v: normalize_insecure(v).value)
    if isinstance(config.get(MIRRORS_KEY), list):
        raw = list(config[MIRRORS_KEY]) + flags.get(MIRRORS_KEY, [])
        mirrors = norm(raw, lambda v: normalize_mirror(v, NEWEST))
    return Expected(insecure=insecure, mirrors=mirrors)


# Always insecure, whatever the file says (::1/128 only from dockerd 28.0).
BUILT_IN_CIDRS = {"127.0.0.0/8", "::1/128"}


def mismatches(expected: Expected, info: dict) -> list[str]:
    """Human-readable differences between `expected` and the daemon's /info; [] means verified."""
    from dockercfg.engine import registry_state
    from dockercfg.model import is_cidr

    state = registry_state(info)
    problems = []
    if expected.insecure is not None:
        want_cidrs = {v for v in expected.insecure if is_cidr(v)}
        want_names = {v for v in expected.insecure if not is_cidr(v)}
        live_cidrs = set(state.insecure_cidrs)
        live_names = set(state.insecure_names)
        missing = sorted((want_cidrs - live_cidrs) | (want_names - live_names))
        extra = sorted((live_cidrs - want_cidrs - BUILT_IN_CIDRS) | (live_names - want_names))
        if missing:
            problems.append(f"insecure registries missing from the daemon: {', '.join(missing)}")
        if extra:
            problems.append(f"the daemon still treats as insecure: {', '.join(extra)}")
    if expected.mirrors is not None:
        want = _unique(expected.mirrors)
        if _unique(state.mirrors) != want:
            problems.append(
                f"the daemon's mirrors are [{', '.join(state.mirrors)}],"
                f" expected [{', '.join(want)}]"
            )
    return problems


def _unique(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
