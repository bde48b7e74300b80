"""trust-ca / untrust-ca for the engines besides dockerd (`--engine`, see dockercfg.engine_edits):
each engine's own CA file and the setting that points at it, planned behind the Engine protocol
and written in the same transaction as dockerd's certs.d.

- containerd: `certs.d/<host>/ca.crt` and `ca = "…/ca.crt"` in that host's hosts.toml;
- podman, buildah, skopeo, CRI-O: `/etc/containers/certs.d/<host>/ca.crt` (containers-certs.d(5));
- BuildKit: `/etc/buildkit/certs/<host>/ca.crt` listed in `[registry."<host>"] ca = [...]`;
- k3s, rke2: `/etc/rancher/<k3s|rke2>/certs/<host>/ca.crt` as `configs.<host>.tls.ca_file`.

A client certificate pair (`--client-cert`/`--client-key`) is installed for dockerd only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockercfg import engine_edits
from dockercfg.engine_edits import DOCKER
from dockercfg.engines.base import CAS, RegistryEdit
from dockercfg.result import Result


@dataclass
class Part:
    """The engines' share of one trust-ca (pem: the CA bundle) or untrust-ca (pem None)."""

    names: list[str]  # parsed --engine
    registry: str  # host[:port] as in image names
    pem: str | None  # None with adding: a client certificate pair alone
    adding: bool

    def select(self, root: Path, no_docker: bool = False) -> engine_edits.Selection:
        if self.names == [DOCKER]:  # dockerd's certs.d alone: no engine to look for
            return engine_edits.Selection(docker=True, named=[DOCKER])
        sel = engine_edits.select(root, self.names)
        if no_docker and sel.docker:
            sel.drop_docker(f"{engine_edits.NO_DOCKER} on this host")
        if self.adding and not self.pem:  # --client-cert alone
            for name in list(sel.found):
                del sel.found[name]
                sel.skipped[name] = "skipped: a client certificate pair is for dockerd only"
        return sel

    def plan(self, book: Any, sel: engine_edits.Selection) -> engine_edits.EnginePlan:
        """Under the files' locks: every engine's plan, read under the host-wide lock."""
        if not sel.found:
            return engine_edits.EnginePlan()
        values = [self.pem] if self.pem else []
        edit = RegistryEdit(CAS, "add" if self.adding else "remove", values, self.registry)
        return engine_edits.plan_locked(sel, edit, book)

    def report(
        self,
        outer: Result,
        sel: engine_edits.Selection,
        other: engine_edits.EnginePlan,
        docker_changes: list,
        done: Result,
    ) -> None:
        """data.engines (every engine and what happened), data.engine_files (their paths),
        and the transaction's id and warnings, into the command's own result."""
        if sel.named == [DOCKER]:
            return
        docker = ("changed" if docker_changes else "unchanged") if sel.docker else None
        engine_edits.report(outer, sel, other, docker)
        engine_edits.applied(other, done)
        outer.data["engine_files"] = [c.shown for c in other.changes]
        for key in ("transaction", "engines_applied"):
            if key in done.data:
                outer.data[key] = done.data[key]
        outer.warnings += done.warnings
