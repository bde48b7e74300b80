"""Service managers: how to make dockerd re-read its configuration.

A service knows a process manager, nothing about config files. `reload()` asks dockerd to re-read
daemon.json (SIGHUP) and `restart()` stops and starts it. Both wait, bounded, for the manager to
finish; neither proves dockerd accepted the new config: ops.py verifies that against /info.
"""

from __future__ import annotations

import os
import signal
from typing import Callable

from dockercfg.services.base import Service, ServiceError, ServiceHost

__all__ = ["Service", "ServiceError", "SignalService", "for_host"]


class SignalService:
    """A dockerd with no service manager we know: SIGHUP reloads it; a restart is not ours to do."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.name = f"signal (dockerd pid {pid}, no service manager)"
        self.can_restart = False
        self.restart_by_hand = "restart it"

    def main_pid(self) -> int | None:
        return self.pid

    def can_reload(self) -> bool:
        return True  # SIGHUP is exactly dockerd's reload

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


def _systemd(host: ServiceHost) -> Service:
    from dockercfg.services.systemd import connect

    return connect(host.unit or "docker.service")


def _sysv(host: ServiceHost) -> Service:
    from dockercfg.services import command

    return command.sysv(host)


def _upstart(host: ServiceHost) -> Service:
    from dockercfg.services import command

    return command.upstart(host)


def _snap(host: ServiceHost) -> Service:
    from dockercfg.services import command

    return command.snap(host)


def _desktop(host: ServiceHost) -> Service:
    from dockercfg.services import command

    return command.desktop(host)


def _systemd_user(host: ServiceHost) -> Service:
    from dockercfg.services import command

    return command.systemd_user(host)


def _signal(host: ServiceHost) -> Service | None:
    return SignalService(host.dockerd_pid) if host.dockerd_pid else None


# Detected service kind -> factory. A new service manager adds its module and one line here.
# The factories import their module on use: pydbus/gi load only when systemd is the manager.
FACTORIES: dict[str, Callable[[ServiceHost], Service | None]] = {
    "systemd": _systemd,
    "sysv": _sysv,
    "upstart": _upstart,
    "snap": _snap,
    "desktop": _desktop,
    "systemd-user": _systemd_user,
    "signal": _signal,
}


def for_host(host: ServiceHost) -> Service | None:
    """The service that applies changes on a detected host, or None when nothing can."""
    if host.service is not None:
        return host.service
    factory = FACTORIES.get(host.service_kind)
    return factory(host) if factory is not None else None
