"""The Service protocol every service manager implements, and the error they raise.

Its own module so that the service modules (systemd.py, command.py) and the registry in
services/__init__.py all depend on it, never on each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from dockercfg.errors import EnvironmentProblem


class ServiceError(EnvironmentProblem):
    """The service manager could not carry out a reload or restart."""


class Service(Protocol):
    name: str  # shown to the user: "systemd (docker.service via D-Bus)"
    can_restart: bool  # False: no command restarts it here (a bare dockerd, old Docker Desktop)
    restart_by_hand: str  # what the person does instead when it cannot be restarted

    def main_pid(self) -> int | None: ...

    def can_reload(self) -> bool:
        """dockerd re-reads daemon.json on the manager's reload (SIGHUP)."""
        ...

    def reload(self, timeout: float) -> None: ...

    def restart(self, timeout: float) -> None: ...


class ServiceHost(Protocol):
    """What a service factory reads from the detected host (hostmodel.Host)."""

    service: Any  # a Service already connected during detection, or None
    service_kind: str
    unit: str | None
    dockerd_pid: int | None
    root: Path
