"""The contract every engine (dockerd, containerd, podman, BuildKit, k3s, …) fulfils.

An engine knows its own files and its own service; it never writes: it returns FileChanges, and
the one transaction (dockercfg.transaction) writes them, journals them, applies and verifies
through the engine's Applier, and rolls every file back if any engine fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

INSECURE = "insecure-registries"
MIRRORS = "registry-mirrors"
CAS = "registry-cas"  # values: PEM texts of CA certificates trusted for `for_registry`
DOCKER_HUB = "docker.io"


@dataclass
class RegistryEdit:
    """One requested change of an owned list.

    mode: "add" | "remove" | "set" (the list becomes exactly `values`).
    values: normalised registry addresses (`host[:port]`, CIDR), mirror URLs, or (CAS) PEM texts.
    for_registry: for mirrors and CAs, the registry they serve (None: Docker Hub, `docker.io`).
    """

    key: str  # INSECURE | MIRRORS | CAS
    mode: str
    values: list[str]
    for_registry: str | None = None


@dataclass
class FileChange:
    """One file of a transaction. `before` is read under the lock; None means absent.
    `after` None removes the file. A new file gets `mode` and, when given, `owner` (uid, gid);
    an existing file keeps its own mode and owner. A new file's missing parent directories
    (e.g. containerd's `certs.d/<host>/`) are the writer's to create (0755) and to remove again
    on rollback: `missing_dirs()` lists them, outermost first."""

    path: Path  # the real path (inside --root)
    shown: str  # the path as the host sees it: messages, diffs, the journal
    before: bytes | None
    after: bytes | None
    mode: int = 0o644
    owner: tuple[int, int] | None = None

    def missing_dirs(self) -> list[Path]:
        missing = []
        parent = self.path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        return missing[::-1]


@dataclass
class Found:
    """An engine present on this host: where its settings live and how it is run."""

    engine: str  # the registry name, e.g. "containerd"
    files: dict[str, Path]  # role -> real path, e.g. {"config": …/config.toml, "hosts_dir": …}
    root: Path = Path("/")
    service: str | None = None  # how it is applied, e.g. "systemd containerd.service", "none"
    evidence: list[str] = field(default_factory=list)
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Why a command without --engine changes this engine too (it pulls for this node's
    # Kubernetes); None: only when named or with --engine all.
    default: str | None = None
    # Asks the binary for `version` when first needed: most commands never need it.
    version_probe: Any = None

    def resolved_version(self) -> str | None:
        if self.version is None and self.version_probe is not None:
            self.version, self.version_probe = self.version_probe(), None
        return self.version


class Applier(Protocol):
    """Makes one engine take the files now on disk, and proves it."""

    name: str

    def apply(self, phase: str, result: Any) -> str:
        """phase "forward" (new files) or "revert" (old files restored): reload, restart or
        nothing. Returns "reload" | "restart" | "none". Bounded in time; raises DockercfgError."""
        ...

    def verify(self, phase: str, result: Any) -> None:
        """Raise ApplyFailed when the engine does not use the files on disk (bounded)."""
        ...


class Engine(Protocol):
    """An engine behind the registry in dockercfg.engines (name -> class)."""

    name: str

    def find(self, root: Path) -> Found | None:
        """This engine on this host (binary, service, config files, with evidence), or None."""
        ...

    def owned(self, found: Found) -> dict[str, Any]:
        """The registry settings this engine has now, normalised: {INSECURE: [...], MIRRORS:
        {registry: [urls]}} — for show and the --json before/after."""
        ...

    def plan(self, found: Found, edits: list[RegistryEdit]) -> list[FileChange]:
        """The file changes that carry out `edits` (empty: nothing to do). Reads, never writes.
        Unparsable input raises EnvironmentProblem (exit 3) naming file:line:column."""
        ...

    def problems(self, found: Found, changes: list[FileChange]) -> list[Any]:
        """What the engine would refuse or ignore once `changes` are in place (Problem list)."""
        ...

    def applier(self, found: Found, changes: list[FileChange]) -> Applier:
        """How to make `changes` live and check them."""
        ...

    def validate(self, found: Found) -> list[Any]:
        """`dockercfg validate`: every file of this engine parses as the engine reads it, and
        none has a known trap (Problem list). Unparsable input may raise DockercfgError."""
        ...
