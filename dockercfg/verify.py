"""Does the live daemon hold what the file says? dockerd keeps its old config when a reload fails,
so the service manager's "done" proves nothing; only /info does (`live`).

And does the daemon reach the registry with that config (`reachable`)? round_trip() asks dockerd
to resolve a manifest with its own registry client (GET /distribution/REF/json, read-only).
"""

from __future__ import annotations

import re
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


# Round trip ------------------------------------------------------------------------------------

# A repository nobody has: any registry answers "manifest unknown", "name unknown" or
# "unauthorized" for it, and that answer proves the daemon got there.
PROBE_REPOSITORY = "dockercfg-round-trip/probe:latest"

# What dockerd 20.10 and 26.1 (graph drivers and the containerd image store) say, checked in
# tests/integration/test_round_trip.py. First match wins.
_NOT_HTTPS = "server gave HTTP response to HTTPS client"
_REACHED = re.compile(
    r"manifest unknown|name unknown|not found|unauthorized|denied|authentication required"
    r"|no basic auth credentials|pull access denied|does not exist",
    re.IGNORECASE,
)
_TLS = re.compile(r"x509:|certificate|tls:", re.IGNORECASE)
_NETWORK = re.compile(
    r"dial tcp|connection refused|no such host|lookup |i/o timeout|network is unreachable"
    r"|no route to host|connection reset|deadline exceeded|EOF",
    re.IGNORECASE,
)


@dataclass
class Reachability:
    """`reachable`: True = the daemon's registry client got an answer from the registry; False =
    it did not (`said` is why); None = not tried or not known (a CIDR, dockerd did not answer).
    `kind`: reached | not-https | live-but-unused | tls | network | cidr | unknown."""

    reachable: bool | None
    said: str
    hint: str | None
    kind: str = "unknown"

    def to_json(self) -> dict:
        return {"reachable": self.reachable, "kind": self.kind, "said": self.said,
                "hint": self.hint}  # fmt: skip


def round_trip(socket: str, registry: str, timeout: float = 10.0) -> Reachability:
    """Make the daemon at `socket` resolve a manifest on `registry` (host[:port] or a CIDR)."""
    from dockercfg.engine import Engine, EngineUnavailable, registry_state
    from dockercfg.model import is_cidr

    probe = f"`dockercfg probe {registry}`"
    if is_cidr(registry):
        return Reachability(
            None, f"{registry} is a range of addresses, not a registry: there is no host to try",
            f"run `dockercfg probe HOST:PORT` for a registry in {registry}", "cidr",
        )  # fmt: skip
    engine = Engine(socket, timeout=timeout)
    try:
        status, message = engine.distribution(f"{registry}/{PROBE_REPOSITORY}")
    except EngineUnavailable as err:
        return Reachability(None, str(err), f"check dockerd, then run {probe}", "unknown")
    said = message or f"HTTP {status}"
    if status == 200 or _REACHED.search(message):
        return Reachability(
            True, said if status != 200 else "the manifest resolved", None, "reached"
        )
    if _NOT_HTTPS in message:
        try:
            listed = registry in registry_state(engine.info()).insecure_names
        except EngineUnavailable:
            listed = False
        if listed:
            return Reachability(False, said, _unused_hint(registry), "live-but-unused")
        return Reachability(
            False, said, f"the registry speaks plain HTTP: `dockercfg add-insecure {registry}`",
            "not-https",
        )  # fmt: skip
    if _TLS.search(message):
        return Reachability(
            False, said, f"run {probe}; trust its CA with `dockercfg trust-ca {registry}`", "tls"
        )
    if _NETWORK.search(message):
        return Reachability(
            False, said, f"is the registry up, on this port? run {probe}", "network"
        )
    return Reachability(None, said, f"run {probe}", "unknown")


def _unused_hint(registry: str) -> str:
    """The daemon lists `registry` as insecure but still speaks HTTPS to it: the containerd
    image store, which also reads /etc/docker/certs.d/<host:port>/hosts.toml."""
    return (
        f"dockerd lists {registry} as insecure but does not use that setting (the containerd image"
        f' store): write /etc/docker/certs.d/{registry}/hosts.toml with server = "http://{registry}"'
        f' and [host."http://{registry}"] capabilities = ["pull", "resolve", "push"]'
    )
