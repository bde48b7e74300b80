"""The targets: one class per kind of file dockerd's registry settings live in, each
implementing the Target protocol of targets/base.py, and the one registry that maps the detected
target name (hostmodel.Host.target) to its class. A new file kind adds its module and one line
in TARGETS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dockercfg.targets.base import Document, Target
from dockercfg.targets.daemon_json import DaemonJsonTarget
from dockercfg.targets.docker_opts import DockerOptsTarget

if TYPE_CHECKING:
    from dockercfg.hostmodel import Host

__all__ = ["TARGETS", "Document", "Target", "for_host", "load", "text_of"]

TARGETS: dict[str, Callable[[Host], Target]] = {
    "daemon-json": DaemonJsonTarget,
    "rootless": DaemonJsonTarget,
    "snap": DaemonJsonTarget,
    "desktop": DaemonJsonTarget,
    "docker-opts": DockerOptsTarget,  # DOCKER_OPTS in /etc/default/docker
    "sysconfig": DockerOptsTarget,  # OPTIONS (and INSECURE_REGISTRY...) in /etc/sysconfig/docker
}


def for_host(host: Host) -> Target:
    """The target detection chose for this host."""
    return TARGETS[host.target](host)


def load(host: Host, data: bytes, path: Path | None = None) -> Document:
    """Parse the host's target file (or `path` in the same format)."""
    return for_host(host).read(data, path)


def text_of(doc: Document) -> str:
    return doc.render().decode("utf-8", "replace")
