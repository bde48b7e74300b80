"""systemd: reload or restart docker.service over D-Bus (pydbus), or with systemctl as a fallback.

D-Bus is the primary path because it gives typed unit properties (ExecStart argv, MainPID) and
explicit call timeouts; pydbus needs PyGObject, which not every Python has, so `systemctl` is the
fallback rather than a crash. Both honour DBUS_SYSTEM_BUS_ADDRESS.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field

from dockercfg.services.base import ServiceError

SD_BUS_NAME = "org.freedesktop.systemd1"
SD_PATH = "/org/freedesktop/systemd1"
CALL_TIMEOUT = 15  # seconds for one D-Bus call; pydbus has no timeout by default


@dataclass
class UnitInfo:
    unit: str
    active_state: str = "unknown"
    main_pid: int = 0
    can_reload: bool = False
    exec_start: list[list[str]] = field(default_factory=list)  # argv of each ExecStart line
    environment_files: list[str] = field(default_factory=list)
    drop_in_paths: list[str] = field(default_factory=list)
    fragment_path: str = ""


def wait_for(check, timeout: float, what: str) -> None:
    """Poll `check()` with exponential backoff until it returns True; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not check():
        if time.monotonic() >= deadline:
            raise ServiceError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)


class _SystemdBase:
    unit: str
    name: str
    can_restart = True
    restart_by_hand = ""

    def info(self) -> UnitInfo:
        raise NotImplementedError

    def _start_job(self, verb: str, timeout: float) -> None:
        raise NotImplementedError

    def _job_pending(self) -> bool:
        raise NotImplementedError

    def main_pid(self) -> int | None:
        return self.info().main_pid or None

    def can_reload(self) -> bool:
        return self.info().can_reload

    def reload(self, timeout: float) -> None:
        self._run_job("reload", timeout)

    def restart(self, timeout: float) -> None:
        self._run_job("restart", timeout)

    def _run_job(self, verb: str, timeout: float) -> None:
        started = time.monotonic()
        self._start_job(verb, timeout)
        remaining = max(1.0, timeout - (time.monotonic() - started))
        wait_for(lambda: not self._job_pending(), remaining, f"the {verb} job of {self.unit}")
        state = self.info().active_state
        if state != "active":
            raise ServiceError(f"{self.unit} is {state} after {verb}")


class DbusSystemd(_SystemdBase):
    """docker.service through systemd's D-Bus API (pydbus)."""

    def __init__(self, unit: str = "docker.service") -> None:
        from pydbus import SystemBus  # lazy: pulls in GObject

        self.unit = unit
        self.name = f"systemd ({unit} via D-Bus)"
        try:
            self._bus = SystemBus()
            self._mgr = self._bus.get(SD_BUS_NAME, SD_PATH)
            self._path = self._mgr.LoadUnit(unit, timeout=CALL_TIMEOUT)
            self._obj = self._bus.get(SD_BUS_NAME, self._path)
        except Exception as err:  # GLib.Error has no stable import path across versions
            raise ServiceError(f"cannot reach systemd over D-Bus: {_dbus_message(err)}") from None

    def info(self) -> UnitInfo:
        try:
            unit = self._obj["org.freedesktop.systemd1.Unit"]
            info = UnitInfo(
                unit=self.unit,
                active_state=unit.ActiveState,
                can_reload=bool(unit.CanReload),
                drop_in_paths=list(unit.DropInPaths),
                fragment_path=unit.FragmentPath,
            )
            if info.fragment_path or info.active_state != "inactive":
                service = self._obj["org.freedesktop.systemd1.Service"]
                info.main_pid = int(service.MainPID)
                info.exec_start = [list(line[1]) for line in service.ExecStart]
                info.environment_files = [f for f, _optional in service.EnvironmentFiles]
            return info
        except Exception as err:
            raise ServiceError(
                f"cannot read {self.unit} from systemd: {_dbus_message(err)}"
            ) from None

    def _start_job(self, verb: str, timeout: float) -> None:
        method = {"reload": self._mgr.ReloadUnit, "restart": self._mgr.RestartUnit}[verb]
        try:
            method(self.unit, "replace", timeout=min(timeout, CALL_TIMEOUT))
        except Exception as err:
            raise ServiceError(
                f"systemd refused to {verb} {self.unit}: {_dbus_message(err)}"
            ) from None

    def _job_pending(self) -> bool:
        job_id, _path = self._obj["org.freedesktop.systemd1.Unit"].Job
        return job_id != 0


class SystemctlSystemd(_SystemdBase):
    """The same through the `systemctl` command, for Pythons without PyGObject."""

    def __init__(self, unit: str = "docker.service", reason: str = "") -> None:
        self.unit = unit
        self.name = f"systemd ({unit} via systemctl{'; ' + reason if reason else ''})"

    def _systemctl(self, *args: str, timeout: float = CALL_TIMEOUT) -> str:
        try:
            done = subprocess.run(
                ["systemctl", *args], capture_output=True, text=True, timeout=timeout
            )
        except FileNotFoundError:
            raise ServiceError("systemctl not found") from None
        except subprocess.TimeoutExpired:
            raise ServiceError(
                f"systemctl {' '.join(args)} timed out after {timeout:.0f}s"
            ) from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ServiceError(
                f"systemctl {' '.join(args)} failed: {detail[-1] if detail else done.returncode}"
            )
        return done.stdout

    def info(self) -> UnitInfo:
        props = "ActiveState,MainPID,CanReload,ExecStart,EnvironmentFiles,DropInPaths,FragmentPath"
        out = self._systemctl("show", self.unit, f"--property={props}")
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return UnitInfo(
            unit=self.unit,
            active_state=values.get("ActiveState", "unknown"),
            main_pid=int(values.get("MainPID") or 0),
            can_reload=values.get("CanReload") == "yes",
            exec_start=_parse_exec_start(values.get("ExecStart", "")),
            environment_files=[
                f.split(" (")[0] for f in values.get("EnvironmentFiles", "").split()
            ],
            drop_in_paths=values.get("DropInPaths", "").split(),
            fragment_path=values.get("FragmentPath", ""),
        )

    def _start_job(self, verb: str, timeout: float) -> None:
        # --no-block: we wait on the job ourselves, with the same bounded poll as the D-Bus path.
        self._systemctl(verb, "--no-block", self.unit, timeout=timeout)

    def _job_pending(self) -> bool:
        out = self._systemctl("list-jobs", "--no-legend", "--plain", self.unit)
        return bool(out.strip())


def _parse_exec_start(value: str) -> list[list[str]]:
    """`{ path=… ; argv[]=/usr/sbin/dockerd -H fd:// … ; … }` -> argv lists (split on spaces)."""
    lines = []
    for chunk in value.split("argv[]=")[1:]:
        lines.append(chunk.split(" ; ", 1)[0].split())
    return lines


def _dbus_message(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.replace("GDBus.Error:", "").strip()


def connect(unit: str = "docker.service") -> _SystemdBase:
    """D-Bus when pydbus and gi import, systemctl otherwise (the reason is kept in `name`)."""
    try:
        import pydbus  # noqa: F401
    except ImportError as err:
        return SystemctlSystemd(unit, reason=f"pydbus unavailable: {err}")
    return DbusSystemd(unit)
