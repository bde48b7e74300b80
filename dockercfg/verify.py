"""Does the live daemon hold what the file says? dockerd keeps its old config when a reload fails,
so the service manager's "done" proves nothing; only /info does.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY
from dockercfg.versions import NEWEST


@dataclass
class Expected:
    """Registry settings the daemon should show after a fresh start with this file.

    A key missing from the file means "flags and built-in defaults only" after a restart, but a
    reload keeps the old list (moby: IsValueSet), so `absent` records which keys were missing.
    """

    insecure: list[str]
    mirrors: list[str]
    absent: tuple[str, ...] = ()


def expected_from(config: dict, flags: dict[str, list[str]]) -> Expected:
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

    def listed(key: str) -> list[str]:
        value = config.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    insecure = listed(INSECURE_KEY) + flags.get(INSECURE_KEY, [])
    mirrors = listed(MIRRORS_KEY) + flags.get(MIRRORS_KEY, [])
    return Expected(
        insecure=norm(insecure, lambda v: normalize_insecure(v).value),
        mirrors=norm(mirrors, lambda v: normalize_mirror(v, NEWEST)),
        absent=tuple(k for k in (INSECURE_KEY, MIRRORS_KEY) if not isinstance(config.get(k), list)),
    )


# Always insecure, whatever the file says (::1/128 only from dockerd 28.0).
BUILT_IN_CIDRS = {"127.0.0.0/8", "::1/128"}


def mismatches(
    expected: Expected, info: dict, keys: tuple[str, ...] = (INSECURE_KEY, MIRRORS_KEY)
) -> list[str]:
    """Human-readable differences between `expected` and the daemon's /info; [] means verified."""
    from dockercfg.engine import registry_state
    from dockercfg.model import is_cidr

    state = registry_state(info)
    problems = []
    if INSECURE_KEY in keys:
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
    if MIRRORS_KEY in keys:
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


def stale_after_reload(expected: Expected, info: dict) -> list[str]:
    """Differences a reload cannot fix: keys missing from the file keep their old live value."""
    return mismatches(expected, info, expected.absent) if expected.absent else []
