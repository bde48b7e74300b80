"""One containerd `certs.d/<host[:port]>/hosts.toml` (containerd docs/hosts.md): read what it
says about its registry, and edit only the keys dockercfg owns, keeping every other byte.

Hosts are tried in file order and `server` last, so mirrors come first, then the registry's own
entries: for an insecure registry HTTPS without verification, then plain HTTP — the order
dockerd uses for an insecure registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockercfg.engines.base import DOCKER_HUB
from dockercfg.errors import ConfigInvalid
from dockercfg.formats import toml_rt

TOP_KEYS = {"server", "capabilities", "ca", "client", "skip_verify", "override_path", "header"}
HOST_KEYS = TOP_KEYS - {"server"} | {"dial_timeout"}
MIRROR_CAPS = ["pull", "resolve"]
OWN_CAPS = ["pull", "resolve", "push"]
HEADER = "Written by dockercfg for {reg}: hosts are tried in order, then `server`."


@dataclass
class HostsState:
    """What dockercfg manages in one hosts.toml."""

    insecure: bool = False
    mirrors: list[str] = field(default_factory=list)
    ca: str | None = None  # the host path in `ca` of the registry's own HTTPS entry


def server_url(registry: str) -> str:
    return "https://registry-1.docker.io" if registry == DOCKER_HUB else f"https://{registry}"


def own_urls(registry: str) -> tuple[str, str]:
    https = server_url(registry)
    return https, "http://" + https.split("://", 1)[1]


def check_keys(doc: Any, shown: str) -> None:
    """containerd ignores what it does not know; a misspelt key silently does nothing, so it is
    refused (exit 1) before anything is written."""
    for key in doc:
        if key == "host":
            continue
        if key not in TOP_KEYS:
            known = ", ".join(sorted(TOP_KEYS | {"host"}))
            raise ConfigInvalid(f"{shown}: unknown key {key!r} (known: {known})")
    hosts = doc.get("host", {})
    if not isinstance(hosts, dict):
        raise ConfigInvalid(f'{shown}: `host` must be a table of [host."URL"] sections')
    for url, entry in hosts.items():
        if not isinstance(entry, dict):
            raise ConfigInvalid(f"{shown}: host {url!r} must be a table")
        for key in entry:
            if key not in HOST_KEYS:
                raise ConfigInvalid(f"{shown}: unknown key {key!r} in [host.{url!r}]")


def state_of(doc: Any, registry: str) -> HostsState:
    https, http = own_urls(registry)
    hosts = toml_rt.plain(doc.get("host", {})) or {}
    entry = hosts.get(https, {})
    insecure = (
        bool(entry.get("skip_verify"))
        or http in hosts
        or str(doc.get("server", "")).startswith("http://")
    )
    mirrors = [u for u in hosts if u.rstrip("/") not in (https, http)]
    ca = entry.get("ca") if isinstance(entry.get("ca"), str) else None
    return HostsState(insecure=insecure, mirrors=mirrors, ca=ca)


def render(text: bytes | None, shown: str, registry: str, want: HostsState) -> bytes | None:
    """The file with `want` in force (None: nothing of ours or anyone's is left)."""
    import tomlkit

    doc = toml_rt.parse(text, shown)
    check_keys(doc, shown)
    if text is None:
        doc.add(tomlkit.comment(HEADER.format(reg=registry)))
    https, http = own_urls(registry)
    if "server" not in doc:
        doc["server"] = https
    if "host" not in doc:
        doc["host"] = tomlkit.table(is_super_table=True)
    hosts = doc["host"]
    have = state_of(doc, registry)
    for url in have.mirrors:
        if url not in want.mirrors:
            del hosts[url]
    own = hosts.get(https)
    if (want.insecure or want.ca) and own is None:
        own = hosts[https] = _entry(OWN_CAPS)
    if own is not None:
        _set(own, "skip_verify", True if want.insecure else None)
        _set(own, "ca", want.ca)
    if want.insecure and http not in hosts:
        hosts[http] = _entry(OWN_CAPS)
    if not want.insecure and http in hosts and set(hosts[http]) <= {"capabilities"}:
        del hosts[http]
    if own is not None and set(own) <= {"capabilities"} and not want.insecure:
        del hosts[https]
    for url in want.mirrors:
        if url not in hosts:
            hosts[url] = _entry(MIRROR_CAPS)
    _reorder(hosts, want.mirrors)
    if not hosts:
        del doc["host"]
    if _only_defaults(doc, registry):
        return None
    return toml_rt.dump(doc)


def _entry(caps: list[str]) -> Any:
    import tomlkit

    entry = tomlkit.table()
    entry["capabilities"] = caps
    return entry


def _set(table: Any, key: str, value: Any) -> None:
    if value is None:
        if key in table:
            del table[key]
    else:
        table[key] = value


def _reorder(hosts: Any, mirrors: list[str]) -> None:
    """Mirrors first, in the order asked, then every other entry in its own order."""
    keys = list(hosts.keys())
    wanted = [k for k in mirrors if k in hosts] + [k for k in keys if k not in mirrors]
    if wanted == keys:
        return
    saved = [(k, hosts[k]) for k in wanted]
    for k in keys:
        del hosts[k]
    for k, v in saved:
        hosts[k] = v


def _only_defaults(doc: Any, registry: str) -> bool:
    keys = [k for k in doc if k != "host"]
    return keys == ["server"] and doc["server"] == server_url(registry) and "host" not in doc
