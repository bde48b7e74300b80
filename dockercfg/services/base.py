"""The Service protocol every service manager implements, and the error they raise.

Its own module so that the service modules (systemd.py, command.py) and the registry in
services/__init__.py all depend on it, never on each other.
"""

from __future__ import annotations

from typing import Protocol

from dockercfg.errors import EnvironmentProblem


class ServiceError(EnvironmentProblem):
    """The service manager could not carry out a reload or restart."""


class Service(Protocol):
    name: str  # shown to the user: "systemd (docker.service via D-Bus)"

    def main_pid(self) -> int | None: ...

    def reload(self, timeout: float) -> None: ...

    def restart(self, timeout: float) -> None: ...
