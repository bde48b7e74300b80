"""Every engine dockercfg can configure besides dockerd, by name (the CLI's `--engine`).

An explicit registry: adding an engine is one line here, and nothing branches on the names.
"""

from __future__ import annotations

from pathlib import Path

from dockercfg.engines.base import Engine, Found
from dockercfg.engines.buildkit import Buildkit
from dockercfg.engines.containerd import Containerd
from dockercfg.engines.k3s import K3s, Rke2
from dockercfg.engines.podman import Podman

ENGINES: dict[str, type[Engine]] = {
    "containerd": Containerd,
    "podman": Podman,
    "buildkit": Buildkit,
    "k3s": K3s,
    "rke2": Rke2,
}


def find_all(root: Path = Path("/")) -> dict[str, Found]:
    """The engines present under `root` (name -> Found, with evidence)."""
    found: dict[str, Found] = {}
    for name, kind in ENGINES.items():
        hit = kind().find(root)
        if hit is not None:
            found[name] = hit
    return found
