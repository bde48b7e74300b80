"""k3s and rke2: `registries.yaml` (k3s docs "Private Registry Configuration"), rendered into
containerd's hosts.toml when the service starts — so every change needs a restart.

An insecure registry gets plain-HTTP and HTTPS endpoints (HTTPS without verification), the
order dockerd uses; mirrors are further endpoints, tried first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockercfg.engines import common
from dockercfg.engines.base import CAS, INSECURE, MIRRORS, FileChange, Found, RegistryEdit
from dockercfg.formats import yaml_rt
from dockercfg.problems import Problem


class K3s:
    name = "k3s"
    units = ["k3s", "k3s-agent"]
    binaries = ("usr/local/bin/k3s", "usr/bin/k3s")

    @property
    def base(self) -> str:
        return f"/etc/rancher/{self.name}"

    def find(self, root: Path) -> Found | None:
        config = common.inside(root, f"{self.base}/registries.yaml")
        evidence = [f"binary /{b}" for b in self.binaries if (root / b).exists()]
        units = common.systemd_units(root, self.units)
        evidence += [f"systemd unit {u}.service" for u in units]
        if config.exists():
            evidence.append(f"config {self.base}/registries.yaml")
        if not evidence:
            return None
        files = {"config": config, "certs_dir": common.inside(root, f"{self.base}/certs")}
        default = f"{self.name} pulls every image of this Kubernetes node"
        return common.found_with_units(self.name, root, files, evidence, units, default)

    def _doc(self, found: Found) -> tuple[bytes | None, Any]:
        path = found.files["config"]
        text = common.read(path)
        return text, yaml_rt.parse(text, common.shown(found.root, path))

    def owned(self, found: Found) -> dict[str, Any]:
        return _owned(self._doc(found)[1])

    def plan(self, found: Found, edits: list[RegistryEdit]) -> list[FileChange]:
        before, doc = self._doc(found)
        owned = _owned(doc)
        changes: list[FileChange] = []
        for edit in edits:
            if edit.key == INSECURE:
                now = common.edited(owned[INSECURE], edit)
                for registry in set(owned[INSECURE]) | set(now):
                    _insecure(doc, registry, registry in now)
                owned[INSECURE] = now
            elif edit.key == MIRRORS:
                registry = common.registry_of(edit)
                have = owned[MIRRORS].get(registry, [])
                _mirrors(doc, registry, have, common.edited(have, edit))
            elif edit.key == CAS:
                registry = common.registry_of(edit)
                path = found.files["certs_dir"] / registry / "ca.crt"
                pem = None if edit.mode == "remove" else "".join(edit.values).encode()
                tls = _tls(doc, registry)
                if pem:
                    tls["ca_file"] = common.shown(found.root, path)
                else:
                    tls.pop("ca_file", None)
                c = common.change(found.root, path, common.read(path), pem)
                if c:
                    changes.append(c)
        _prune(doc)
        after = yaml_rt.dump(doc) if (doc or before is not None) else None
        c = common.change(found.root, found.files["config"], before, after)
        return ([c] if c else []) + changes

    def problems(self, found: Found, changes: list[FileChange]) -> list[Problem]:
        return []

    def validate(self, found: Found) -> list[Problem]:
        self._doc(found)  # parses, or raises naming file:line:column
        return []

    def applier(self, found: Found, changes: list[FileChange]) -> common.NoApply:
        units = found.extra.get("units", [])
        return common.UnitApplier(self.name, found.root, units, "restart")


class Rke2(K3s):
    name = "rke2"
    units = ["rke2-server", "rke2-agent"]
    binaries = ("usr/local/bin/rke2", "usr/bin/rke2")


def _owned(doc: Any) -> dict[str, Any]:
    mirrors_table = doc.get("mirrors") or {}
    configs = doc.get("configs") or {}
    insecure = [
        r for r, c in configs.items() if ((c or {}).get("tls") or {}).get("insecure_skip_verify")
    ]
    mirrors = {}
    for registry, entry in mirrors_table.items():
        own = _own_endpoints(registry)
        urls = [u for u in (entry or {}).get("endpoint") or [] if u.rstrip("/") not in own]
        if urls:
            mirrors[registry] = urls
    return {"insecure-registries": insecure, "registry-mirrors": mirrors}


def _own_endpoints(registry: str) -> tuple[str, str]:
    return f"http://{registry}", f"https://{registry}"


def _endpoints(doc: Any, registry: str) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    entry = yaml_rt.mapping(yaml_rt.mapping(doc, "mirrors"), registry)
    if not isinstance(entry.get("endpoint"), list):
        entry["endpoint"] = CommentedSeq()
    return entry["endpoint"]


def _insecure(doc: Any, registry: str, on: bool) -> None:
    endpoints = _endpoints(doc, registry)
    own = _own_endpoints(registry)
    for url in list(endpoints):
        if url.rstrip("/") in own:
            endpoints.remove(url)
    tls = _tls(doc, registry)
    if on:
        endpoints.extend(own[::-1])  # HTTPS without verification first, then plain HTTP
        tls["insecure_skip_verify"] = True
    else:
        tls.pop("insecure_skip_verify", None)


def _tls(doc: Any, registry: str) -> Any:
    return yaml_rt.mapping(yaml_rt.mapping(yaml_rt.mapping(doc, "configs"), registry), "tls")


def _mirrors(doc: Any, registry: str, have: list[str], now: list[str]) -> None:
    endpoints = _endpoints(doc, registry)
    own = [u for u in endpoints if u not in have]
    endpoints.clear()
    endpoints.extend(now + own)


def _prune(doc: Any) -> None:
    """Empty tables dockercfg created or emptied go; anything the admin wrote stays."""
    for top in ("mirrors", "configs"):
        table = doc.get(top)
        if not isinstance(table, dict):
            continue
        for registry in list(table):
            entry = table[registry]
            if isinstance(entry, dict):
                for key in list(entry):
                    if entry[key] in ({}, [], None):
                        del entry[key]
                if not entry:
                    del table[registry]
        if not table:
            del doc[top]
