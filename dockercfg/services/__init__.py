"""Service managers: how to make dockerd re-read its configuration.

A service knows a process manager, nothing about config files. `reload()` asks dockerd to re-read
daemon.json (SIGHUP) and `restart()` stops and starts it. Both wait, bounded, for the manager to
finish; neither proves dockerd accepted the new config: ops.py verifies that against /info.
"""

from __future__ import annotations

import os
import signal
from typing import Protocol

from dockercfg.errors import EnvironmentProblem


class ServiceError(EnvironmentProblem):
    """The service manager could not carry out a reload or restart."""


class Service(Protocol):
    name: str  # shown to the user: "systemd (docker.service via D-Bus)"

    def main_pid(self) -> int | None: ...

    def reload(self, timeout: float) -> None: ...

    def restart(self, timeout: float) -> None: ...


class SignalService:
    """A dockerd with no service manager we know: SIGHUP reloads it; a restart is not ours to do."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.name = f"signal (dockerd pid {pid}, no service manager)"
        self.can_restart = False

    def main_pid(self) -> int | None:
        return self.pid

    def reload(self, timeout: float) -> None:
        try:
            os.kill(self.pid, signal.SIGHUP)
        except OSError as err:
            raise ServiceError(
                f"cannot send SIGHUP to dockerd (pid {self.pid}): {err.strerror}"
            ) from None

    def restart(self, timeout: float) -> None:
        raise ServiceError(
            f"dockerd (pid {self.pid}) runs without a known service manager; restart it yourself"
        )


def for_host(host) -> Service | None:
    """The service that applies changes on a detected host, or None when nothing can."""
    kind = host.service_kind
    if getattr(host, "service", None) is not None:
        return host.service
    if kind == "systemd":
        from dockercfg.services.systemd import connect

        return connect(host.unit or "docker.service")
    if kind in ("sysv", "upstart", "snap", "desktop", "systemd-user"):
        from dockercfg.services import command

        return getattr(command, kind.replace("-", "_"))(host)
    if kind == "signal" and host.dockerd_pid:
        return SignalService(host.dockerd_pid)
    return None
