"""BuildKit: `buildkitd.toml` `[registry."host:port"]` (moby/buildkit docs/buildkitd.toml.md).

A standalone buildkitd reads it at start (restart). A buildx `docker-container` builder reads it
only when it is created: the command that recreates it is printed. BuildKit inside dockerd (the
default `docker` driver) follows dockerd's own settings instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockercfg.engines import common
from dockercfg.engines.base import CAS, INSECURE, MIRRORS, FileChange, Found, RegistryEdit
from dockercfg.formats import toml_rt
from dockercfg.problems import Problem

CONFIG = "/etc/buildkit/buildkitd.toml"
CERTS = "/etc/buildkit/certs"
BINARIES = ("usr/bin/buildkitd", "usr/local/bin/buildkitd")
RECREATE = (
    "buildx builders of the docker-container driver read {file} only when created: recreate"
    " each with `docker buildx rm NAME && docker buildx create --name NAME --driver"
    " docker-container --buildkitd-config {file}` (buildx before 0.13: --config {file})"
)


class Buildkit:
    name = "buildkit"

    def find(self, root: Path) -> Found | None:
        config = common.inside(root, CONFIG)
        evidence = [f"binary /{b}" for b in BINARIES if (root / b).exists()]
        if config.exists():
            evidence.append(f"config {CONFIG}")
        if not evidence:
            return None
        units = common.systemd_units(root, ["buildkit", "buildkitd"])
        files = {"config": config, "certs_dir": common.inside(root, CERTS)}
        return common.found_with_units(self.name, root, files, evidence, units)

    def _doc(self, found: Found) -> tuple[bytes | None, Any]:
        path = found.files["config"]
        text = common.read(path)
        return text, toml_rt.parse(text, common.shown(found.root, path))

    def owned(self, found: Found) -> dict[str, Any]:
        registries = toml_rt.plain(self._doc(found)[1].get("registry", {})) or {}
        insecure = [r for r, v in registries.items() if v.get("http") or v.get("insecure")]
        mirrors = {r: list(v["mirrors"]) for r, v in registries.items() if v.get("mirrors")}
        return {INSECURE: insecure, MIRRORS: mirrors}

    def plan(self, found: Found, edits: list[RegistryEdit]) -> list[FileChange]:
        import tomlkit

        before, doc = self._doc(found)
        if "registry" not in doc:
            doc["registry"] = tomlkit.table(is_super_table=True)
        registries = doc["registry"]
        owned = self.owned(found)
        changes: list[FileChange] = []

        def entry(registry: str) -> Any:
            if registry not in registries:
                registries[registry] = tomlkit.table()
            return registries[registry]

        for edit in edits:
            if edit.key == INSECURE:
                now = common.edited(owned[INSECURE], edit)
                for registry in set(owned[INSECURE]) | set(now):
                    for key in ("http", "insecure"):
                        _set(entry(registry), key, True if registry in now else None)
                owned[INSECURE] = now
            elif edit.key == MIRRORS:
                registry = common.registry_of(edit)
                have = owned[MIRRORS].get(registry, [])
                hosts = [common.url_host(u) for u in edit.values]  # BuildKit's form: no scheme
                now = common.edited(have, RegistryEdit(MIRRORS, edit.mode, hosts))
                _set(entry(registry), "mirrors", now or None)
            elif edit.key == CAS:
                registry = common.registry_of(edit)
                path = found.files["certs_dir"] / registry / "ca.crt"
                shown = common.shown(found.root, path)
                pem = None if edit.mode == "remove" else "".join(edit.values).encode()
                cas = [c for c in toml_rt.plain(entry(registry).get("ca", [])) if c != shown]
                _set(entry(registry), "ca", (cas + [shown] if pem else cas) or None)
                c = common.change(found.root, path, common.read(path), pem)
                if c:
                    changes.append(c)
        for registry in list(registries.keys()):
            if not registries[registry]:
                del registries[registry]
        if not registries:
            del doc["registry"]
        # a removed table leaves its blank separator line behind: end the file with one newline
        after = toml_rt.dump(doc).rstrip() + b"\n" if (doc or before is not None) else None
        c = common.change(found.root, found.files["config"], before, after)
        return ([c] if c else []) + changes

    def problems(self, found: Found, changes: list[FileChange]) -> list[Problem]:
        return []

    def validate(self, found: Found) -> list[Problem]:
        self._doc(found)  # parses, or raises naming file:line:column
        return []

    def applier(self, found: Found, changes: list[FileChange]) -> common.NoApply:
        note = RECREATE.format(file=CONFIG)
        units = found.extra.get("units", [])
        return common.UnitApplier(self.name, found.root, units, "restart", None, note)


def _set(table: Any, key: str, value: Any) -> None:
    if value is None:
        if key in table:
            del table[key]
    else:
        table[key] = value
