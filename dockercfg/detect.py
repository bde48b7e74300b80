"""Host facts: which file the running dockerd reads, what manages it, its version and flags.

Decisions come from the running system (/proc, systemd, the socket), each with a line of evidence,
so `dockercfg detect` can show why it chose what it chose.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dockercfg.errors import UsageError
from dockercfg.versions import Version, format_version, parse_version

DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
TARGETS = ("auto", "daemon-json")


@dataclass
class Options:
    """Global command-line options, shared by every command."""

    root: Path = Path("/")
    target: str = "auto"
    config: str | None = None
    docker_version: str | None = None
    verbose: bool = False


@dataclass
class Host:
    target: str  # "daemon-json"
    config_path: Path  # where to read/write, inside --root
    shown_path: str  # the same path as the host sees it (without --root)
    root: Path
    dockerd_pid: int | None = None
    dockerd_argv: list[str] = field(default_factory=list)
    dockerd_version: Version | None = None
    service_kind: str = "none"  # "systemd" | "signal" | "none"
    unit: str | None = None
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "file": self.shown_path,
            "service": self.service_kind,
            "unit": self.unit,
            "dockerd_pid": self.dockerd_pid,
            "dockerd_argv": self.dockerd_argv,
            "dockerd_version": format_version(self.dockerd_version)
            if self.dockerd_version
            else None,
            "evidence": self.evidence,
        }


class _VersionProbe:
    """`dockerd --version` started early and collected late: it costs ~40 ms of wall time."""

    def __init__(self, root: Path) -> None:
        self.proc: subprocess.Popen | None = None
        binary = "dockerd" if root == Path("/") else str(root / "usr/bin/dockerd")
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


def find_dockerd_pids(root: Path = Path("/")) -> list[int]:
    """Running dockerd processes, found by scanning /proc (no service manager needed)."""
    if root != Path("/"):
        return []  # processes under a --root prefix are not that root's
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "dockerd":
            pids.append(int(entry))
    return sorted(pids)


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


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


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. permission denied on a parent: not evidence of anything
        return False


def within_root(root: Path, path: str) -> Path:
    return root / path.lstrip("/") if root != Path("/") else Path(path)


def detect(opts: Options, *, want_service: bool = True) -> Host:
    """Decide the config file and service manager; `want_service=False` skips D-Bus (validate)."""
    if opts.target not in TARGETS:
        raise UsageError(f"unknown --target {opts.target!r}; choose one of: {', '.join(TARGETS)}")
    root = opts.root
    probe = None if opts.docker_version else _VersionProbe(root)
    evidence: list[str] = []
    systemd = root == Path("/") and _is_dir(root / "run/systemd/system")
    unit_info = None
    if systemd and want_service:
        from dockercfg.services.systemd import connect

        service = connect()
        unit_info = service.info()
        evidence.append(f"systemd runs this host (/run/systemd/system); {service.name}")
        evidence.append(
            f"docker.service is {unit_info.active_state}, MainPID {unit_info.main_pid or '-'}"
        )
    pid = unit_info.main_pid if unit_info and unit_info.main_pid else None
    if pid is None:
        pids = find_dockerd_pids(root)
        if len(pids) == 1:
            pid = pids[0]
            evidence.append(f"dockerd found running as pid {pid} (/proc scan)")
        elif len(pids) > 1:
            evidence.append(f"several dockerd processes run ({pids}); none is used for flags")
    argv = read_cmdline(pid) if pid else []
    if argv:
        evidence.append(f"dockerd command line: {' '.join(argv)}")

    if opts.config:
        shown = opts.config
        evidence.append(f"config file given with --config: {shown}")
    elif flag_value(argv, "--config-file"):
        shown = flag_value(argv, "--config-file") or DEFAULT_DAEMON_JSON
        evidence.append(f"the running dockerd was started with --config-file {shown}")
    else:
        shown = DEFAULT_DAEMON_JSON
        evidence.append(f"dockerd reads the default {shown} (no --config-file)")

    if opts.docker_version:
        version = parse_version(opts.docker_version)
        if version is None:
            raise UsageError(f"--docker-version {opts.docker_version!r} is not a version number")
        evidence.append(f"dockerd version {format_version(version)} given with --docker-version")
    else:
        version = probe.result() if probe else None
        evidence.append(
            f"installed dockerd is {format_version(version)} (dockerd --version)"
            if version
            else "no dockerd binary found: the newest dockerd rules apply"
        )

    if systemd and unit_info and unit_info.fragment_path:
        kind = "systemd"
    elif pid is not None and root == Path("/"):
        kind = "signal"
    else:
        kind = "none"
    return Host(
        target="daemon-json",
        config_path=within_root(root, shown),
        shown_path=shown,
        root=root,
        dockerd_pid=pid,
        dockerd_argv=argv,
        dockerd_version=version,
        service_kind=kind,
        unit="docker.service" if kind == "systemd" else None,
        evidence=evidence,
    )


def service_for(host: Host):
    """The Service object for a detected host, or None when nothing can apply a change."""
    if host.service_kind == "systemd":
        from dockercfg.services.systemd import connect

        return connect(host.unit or "docker.service")
    if host.service_kind == "signal" and host.dockerd_pid:
        from dockercfg.services import SignalService

        return SignalService(host.dockerd_pid)
    return None
