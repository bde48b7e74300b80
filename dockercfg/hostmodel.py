"""What detection decides about a host (Host, with its flag sources) and the options it starts
from; also the late-collected `dockerd --version` and dockerd's argv helpers. Data only: the
decisions are made in detect.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockercfg import hostfacts as facts
from dockercfg.versions import Version, format_version, parse_version


@dataclass
class Options:
    """Global command-line options, shared by every command."""

    root: Path = Path("/")
    target: str = "auto"
    config: str | None = None
    docker_version: str | None = None
    verbose: bool = False


@dataclass
class FlagSource:
    """A place dockerd flags come from: the running command line, a unit, a shell-variable file."""

    where: str
    argv: list[str]
    file: Path | None = None  # editable file holding them (DOCKER_OPTS / sysconfig), if any
    variable: str | None = None
    origins: list[str] = field(default_factory=list)  # `file:line` of each word of argv


@dataclass
class Host:
    target: str
    config_path: Path  # where to read/write, inside --root
    shown_path: str  # the same path as the host sees it
    root: Path
    variable: str | None = None  # DOCKER_OPTS / OPTIONS for shell-variable targets
    service_kind: str = "none"  # systemd|systemd-user|sysv|upstart|snap|desktop|signal|none
    unit: str | None = None
    init: str = "unknown"
    dockerd_pid: int | None = None
    dockerd_argv: list[str] = field(default_factory=list)
    flag_sources: list[FlagSource] = field(default_factory=list)
    daemon_json: Path | None = None  # the daemon.json dockerd also reads, for shell targets
    evidence: list[str] = field(default_factory=list)
    default_socket: str | None = None  # the target's usual socket when dockerd does not say
    version_override: Version | None = None
    flags_override: list[str] | None = None
    service: object | None = None  # the service manager connection, once made
    launch: Any = None  # dockercfg.launch.Launch: the next start's command line, word by word
    launch_overrides: dict = field(default_factory=dict)  # planned bytes of the files it reads
    made_dirs: list[Path] = field(default_factory=list)  # created for this change before its lock
    _probe: VersionProbe | None = None

    @property
    def dockerd_version(self) -> Version | None:
        """Resolved on first use: `dockerd --version` runs in parallel with everything before it."""
        if self.version_override is not None:
            return self.version_override
        if self._probe is not None:
            version, self._probe = self._probe.result(), None
            self.version_override = version or ()  # () = looked, none found
            self.evidence.append(
                f"installed dockerd is {format_version(version)} (dockerd --version)"
                if version
                else "no dockerd binary found: the newest dockerd rules apply"
            )
        return self.version_override or None

    @property
    def socket(self) -> str:
        """Where the daemon answers: DOCKER_HOST, else its own `-H unix://…`, else per target."""
        from dockercfg.engine import DEFAULT_SOCKET, socket_path

        listen = [
            a for a in all_values(self.dockerd_argv, "-H", "--host") if a.startswith("unix://")
        ]
        default = listen[0][len("unix://") :] if listen else self.default_socket or DEFAULT_SOCKET
        return socket_path(default=default)

    def flags(self) -> list[str]:
        """Every dockerd flag in force, from all sources (for flag/file conflict checks)."""
        if self.flags_override is not None:
            return self.flags_override
        return [arg for source in self.flag_sources for arg in source.argv]

    def to_json(self) -> dict:
        version = self.dockerd_version
        return {
            "target": self.target,
            "file": self.shown_path,
            "variable": self.variable,
            "service": self.service_kind,
            "unit": self.unit,
            "init": self.init,
            "dockerd_pid": self.dockerd_pid,
            "dockerd_argv": self.dockerd_argv,
            "dockerd_version": format_version(version) if version else None,
            "flag_sources": [{"where": s.where, "argv": s.argv} for s in self.flag_sources],
            "next_start": self.launch.to_json() if self.launch is not None else None,
            "evidence": self.evidence,
        }


class VersionProbe:
    """`dockerd --version` started early and collected late: it costs ~40 ms of wall time."""

    def __init__(self, root: Path) -> None:
        self.proc: subprocess.Popen | None = None
        if root == facts.LIVE:
            from dockercfg import earlyprobe

            self.proc = earlyprobe.take()
            if self.proc is not None:
                return
        binary = "dockerd" if root == facts.LIVE else str(facts.inside(root, "/usr/bin/dockerd"))
        try:
            self.proc = subprocess.Popen(
                [binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        except OSError:
            self.proc = None

    def result(self) -> Version | None:
        if self.proc is None:
            return None
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return parse_version(out) if self.proc.returncode == 0 else None


def flag_value(argv: list[str], *names: str) -> str | None:
    """The last value of a flag given as `--name value` or `--name=value` (last one wins)."""
    found = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                found = argv[i + 1]
            elif arg.startswith(name + "="):
                found = arg[len(name) + 1 :]
    return found


def all_values(argv: list[str], *names: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                values.append(argv[i + 1])
            elif arg.startswith(name + "="):
                values.append(arg[len(name) + 1 :])
    return values
