"""containerd (CRI, ctr, nerdctl): per-registry hosts.toml under `config_path`.

hosts.toml files are read on every pull: editing them needs no restart. Setting `config_path`
in config.toml (when it is missing) does: containerd reads config.toml only at start.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from dockercfg.engines import common
from dockercfg.engines import containerd_hosts as hosts_toml
from dockercfg.engines.base import CAS, INSECURE, MIRRORS, FileChange, Found, RegistryEdit
from dockercfg.errors import ApplyFailed, DockercfgError
from dockercfg.formats import toml_rt
from dockercfg.problems import ERROR, WARNING, Problem

CONFIG = "/etc/containerd/config.toml"
CERTS_D = "/etc/containerd/certs.d"
BINARIES = ("usr/bin/containerd", "usr/local/bin/containerd")
# The CRI registry table by config.toml `version`: 1 and 2 are containerd 1.x, 3 is 2.x.
REGISTRY_TABLE = {
    1: ("plugins", "cri", "registry"),
    2: ("plugins", "io.containerd.grpc.v1.cri", "registry"),
    3: ("plugins", "io.containerd.cri.v1.images", "registry"),
}


def binary_version(binary: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\bv?(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


def config_dump(found: Found) -> None:
    """containerd's own parser reads the new config.toml and shows the `config_path` set."""
    binary = found.extra.get("binary")
    if binary is None:
        return
    config = str(found.files["config"])
    try:
        done = subprocess.run(
            [str(binary), "--config", config, "config", "dump"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ApplyFailed(f"containerd config dump did not finish: {err}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ApplyFailed(f"containerd refuses {CONFIG}: {tail}")
    if "config_path" not in done.stdout or CERTS_D not in done.stdout:
        raise ApplyFailed(f"containerd config dump does not show config_path = {CERTS_D!r}")


def config_version(doc: Any, found: Found, existed: bool) -> int:
    if "version" in doc:
        return int(toml_rt.plain(doc["version"]))
    if existed:
        return 1  # containerd reads a file without `version` as the old version 1
    major = int((found.resolved_version() or "1").split(".")[0])
    return 3 if major >= 2 else 2


def registry_table(doc: Any, version: int, create: bool) -> Any:
    node = doc
    for key in REGISTRY_TABLE.get(version, REGISTRY_TABLE[2]):
        if key not in node:
            if not create:
                return None
            toml_rt.table(node, key)
        node = node[key]
    return node


CRI_DISABLED = re.compile(
    r"^\s*disabled_plugins\s*=.*[\"'](io\.containerd\.grpc\.v1\.)?cri[\"']", re.M
)


def _cri_default(config: Path, kubelet: str | None) -> str | None:
    """containerd is in the default set when a kubelet pulls through its CRI plugin. Without a
    kubelet it is typically only dockerd's runtime (Docker's containerd.io even ships it with
    `disabled_plugins = ["cri"]`): its registries are then dockerd's business."""
    if kubelet is None:
        return None
    text = (common.read(config) or b"").decode("utf-8", "replace")
    if CRI_DISABLED.search(text):
        return None
    return f"{kubelet} pulls through containerd's CRI plugin"


class Containerd:
    name = "containerd"

    def find(self, root: Path) -> Found | None:
        evidence = []
        binary = next((root / b for b in BINARIES if (root / b).exists()), None)
        if binary:
            evidence.append(f"binary {common.shown(root, binary)}")
        config = common.inside(root, CONFIG)
        if config.exists():
            evidence.append(f"config {CONFIG}")
        units = common.systemd_units(root, ["containerd"])
        if units:
            evidence.append("systemd unit containerd.service")
        if not evidence:
            return None
        node = common.kubelet(root)
        if node:
            evidence.append(node)
        return Found(
            engine=self.name,
            files={"config": config, "hosts_dir": common.inside(root, CERTS_D)},
            root=root,
            service="systemd containerd.service" if units else "none",
            evidence=evidence,
            version_probe=(lambda: binary_version(binary)) if binary else None,
            extra={"units": units, "binary": binary},
            default=_cri_default(config, node),
        )

    def _config(self, found: Found) -> tuple[bytes | None, Any]:
        path = found.files["config"]
        text = common.read(path)
        return text, toml_rt.parse(text, common.shown(found.root, path))

    def hosts_dir(self, found: Found, doc: Any) -> tuple[Path, str | None]:
        """The certs.d directory containerd uses, and its `config_path` (None: not set)."""
        version = config_version(doc, found, True)
        table = registry_table(doc, version, create=False)
        value = toml_rt.plain(table.get("config_path")) if table is not None else None
        if not value:
            return found.files["hosts_dir"], None
        first = str(value).split(":")[0]
        return common.inside(found.root, first), str(value)

    def _hosts_file(self, directory: Path, registry: str) -> Path:
        return directory / registry / "hosts.toml"

    def owned(self, found: Found) -> dict[str, Any]:
        _, doc = self._config(found)
        directory, _ = self.hosts_dir(found, doc)
        insecure: list[str] = []
        mirrors: dict[str, list[str]] = {}
        if directory.is_dir():
            for sub in sorted(directory.iterdir()):
                path = sub / "hosts.toml"
                text = common.read(path) if path.is_file() else None
                if text is None:
                    continue
                state = hosts_toml.state_of(
                    toml_rt.parse(text, common.shown(found.root, path)), sub.name
                )
                if state.insecure:
                    insecure.append(sub.name)
                if state.mirrors:
                    mirrors[sub.name] = state.mirrors
        return {INSECURE: insecure, MIRRORS: mirrors}

    def plan(self, found: Found, edits: list[RegistryEdit]) -> list[FileChange]:
        root = found.root
        before, doc = self._config(found)
        directory, config_value = self.hosts_dir(found, doc)
        wanted = self._wanted(found, directory, edits)
        changes: list[FileChange] = []
        for registry, want in wanted.items():
            path = self._hosts_file(directory, registry)
            old = common.read(path)
            shown = common.shown(root, path)
            have = hosts_toml.state_of(toml_rt.parse(old, shown), registry) if old else None
            if old is not None:
                hosts_toml.check_keys(toml_rt.parse(old, shown), shown)
            pem, want = want
            if pem is not None:
                ca_path = path.parent / "ca.crt"
                want.ca = common.shown(root, ca_path) if pem else None
                ca_old = common.read(ca_path)
                owned_ca = have is not None and have.ca == common.shown(root, ca_path)
                if pem or owned_ca:
                    c = common.change(root, ca_path, ca_old, pem.encode() if pem else None)
                    if c:
                        changes.append(c)
            new = hosts_toml.render(old, shown, registry, want)
            c = common.change(root, path, old, new)
            if c:
                changes.append(c)
        if changes and config_value is None:
            changes.append(self._set_config_path(found, before, doc))
        return changes

    def _wanted(
        self, found: Found, directory: Path, edits: list[RegistryEdit]
    ) -> dict[str, tuple[str | None, hosts_toml.HostsState]]:
        """registry -> (CA PEM: None untouched, "" removed; the state it must have)."""
        owned = self.owned(found)
        wanted: dict[str, tuple[str | None, hosts_toml.HostsState]] = {}

        def state(registry: str) -> tuple[str | None, hosts_toml.HostsState]:
            if registry not in wanted:
                path = self._hosts_file(directory, registry)
                text = common.read(path)
                have = (
                    hosts_toml.state_of(toml_rt.parse(text, str(path)), registry)
                    if text
                    else hosts_toml.HostsState()
                )
                wanted[registry] = (None, have)
            return wanted[registry]

        for edit in edits:
            if edit.key == INSECURE:
                now = common.edited(owned[INSECURE], edit)
                for registry in set(owned[INSECURE]) | set(now):
                    state(registry)[1].insecure = registry in now
                owned[INSECURE] = now
            elif edit.key == MIRRORS:
                registry = common.registry_of(edit)
                st = state(registry)[1]
                st.mirrors = [u.rstrip("/") for u in common.edited(st.mirrors, edit)]
            elif edit.key == CAS:
                registry = common.registry_of(edit)
                _, st = state(registry)
                pem = "" if edit.mode == "remove" else "".join(edit.values)
                wanted[registry] = (pem, st)
        return wanted

    def _set_config_path(self, found: Found, before: bytes | None, doc: Any) -> FileChange:
        import tomlkit

        existed = before is not None
        version = config_version(doc, found, existed)
        if not existed:
            doc.add(tomlkit.comment("containerd configuration; only `config_path` is set here."))
            doc["version"] = version
        table = registry_table(doc, version, create=True)
        table["config_path"] = CERTS_D
        change = common.change(found.root, found.files["config"], before, toml_rt.dump(doc))
        assert change is not None  # config_path was missing, so the bytes differ
        return change

    def problems(self, found: Found, changes: list[FileChange]) -> list[Problem]:
        config = found.files["config"]
        after = next((c.after for c in changes if c.path == config), None)
        text = after if after is not None else common.read(config)
        if text is None:
            return []
        shown = common.shown(found.root, config)
        doc = toml_rt.parse(text, shown)
        table = registry_table(doc, config_version(doc, found, True), create=False)
        if table is None or not toml_rt.plain(table.get("config_path")):
            return []
        out = []
        if table.get("mirrors"):
            out.append(
                Problem(
                    "containerd-mirrors-with-config-path",
                    shown,
                    "`mirrors` cannot be set when `config_path` is provided: containerd will not"
                    " start the CRI plugin",
                    ERROR,
                    "move each mirror to certs.d/<registry>/hosts.toml and delete `mirrors`",
                )
            )
        configs = toml_rt.plain(table.get("configs")) or {}
        if any("tls" in (v or {}) for v in configs.values()):
            out.append(
                Problem(
                    "containerd-configs-tls-with-config-path",
                    shown,
                    "`configs.tls` cannot be set when `config_path` is provided",
                    ERROR,
                    "move ca_file/insecure_skip_verify to hosts.toml (`ca`, `skip_verify`)",
                )
            )
        elif configs:
            out.append(
                Problem("containerd-configs-deprecated", shown, "`configs` is deprecated", WARNING)
            )
        return out

    def validate(self, found: Found) -> list[Problem]:
        _, doc = self._config(found)
        out = self.problems(found, [])
        directory, _ = self.hosts_dir(found, doc)
        for path in sorted(directory.glob("*/hosts.toml")) if directory.is_dir() else []:
            shown = common.shown(found.root, path)
            try:
                hosts_toml.check_keys(toml_rt.parse(common.read(path), shown), shown)
            except DockercfgError as err:
                message = err.message.removeprefix(f"{shown}: ")
                out.append(Problem("containerd-hosts-toml", shown, message, ERROR))
        return out

    def applier(self, found: Found, changes: list[FileChange]) -> common.NoApply:
        def check() -> None:
            for c in changes:
                if c.path.name.endswith(".toml") and c.path.exists():
                    doc = toml_rt.parse(common.read(c.path), c.shown)
                    if c.path.name == "hosts.toml":
                        hosts_toml.check_keys(doc, c.shown)

        def check_with_config() -> None:
            check()
            config_dump(found)

        if any(c.path == found.files["config"] for c in changes):
            units = found.extra.get("units", [])
            return common.UnitApplier(self.name, found.root, units, "restart", check_with_config)
        return common.NoApply(self.name, check)
