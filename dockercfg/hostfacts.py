"""Raw facts about a host, each read cheaply and without side effects; detect.py decides from them.

Everything takes the --root prefix: under a prefix only files are read (its processes and
services are not this machine's), which is also how detection is tested on fixture trees.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

LIVE = Path("/")


def inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/") if root != LIVE else Path(path)


def read_text(path: Path, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # permission denied on a parent is not evidence of anything
        return False


def exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


# Init system ------------------------------------------------------------------------------------


def init_system(root: Path) -> tuple[str, str]:
    """("systemd" | "upstart" | "sysvinit" | "unknown", evidence)."""
    if is_dir(inside(root, "/run/systemd/system")):
        return "systemd", "/run/systemd/system exists (systemd is PID 1)"
    if exists(inside(root, "/etc/init/docker.conf")) and (
        exists(inside(root, "/sbin/initctl")) or "upstart" in _initctl_version(root)
    ):
        return "upstart", "/etc/init/docker.conf and initctl (upstart)"
    if exists(inside(root, "/etc/init.d/docker")):
        return "sysvinit", "/etc/init.d/docker and no systemd"
    return "unknown", "no systemd, upstart job or init script for docker"


def _initctl_version(root: Path) -> str:
    if root != LIVE:
        return ""
    import subprocess

    try:
        done = subprocess.run(["initctl", "--version"], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.lower()


def distribution(root: Path) -> str:
    """'ubuntu 22.04' etc., from os-release via the distro library (imported only here)."""
    try:
        import distro
    except ImportError:
        return "unknown"
    try:
        info = distro.LinuxDistribution(root_dir=str(root), include_lsb=False, include_uname=False)
        return f"{info.id() or 'unknown'} {info.version()}".strip()
    except (OSError, TypeError):
        return "unknown"


# systemd units, read from their files ----------------------------------------------------------


@dataclass
class UnitFile:
    """A unit as systemd merges its fragment and drop-ins: `paths` (host paths, fragment
    first), its ExecStart= commands (words before `$VAR` substitution) and EnvironmentFile=s."""

    path: Path
    exec_start: list[list[str]] = field(default_factory=list)
    environment_files: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def read_unit(
    root: Path, name: str = "docker.service", paths: list[str] | None = None
) -> UnitFile | None:
    """The unit from its files: `paths` as systemd reports them (FragmentPath, DropInPaths),
    else looked up in the system unit directories."""
    from dockercfg.formats.systemd_env import exec_start_argv
    from dockercfg.formats.systemd_unit import parse_unit, unit_paths

    paths = [p for p in paths or [] if p] or unit_paths(root, name)
    if not paths:
        return None
    unit = UnitFile(path=inside(root, paths[0]), paths=list(paths))
    for shown in paths:
        for d in parse_unit(read_text(inside(root, shown)) or ""):
            if d.section != "Service":
                continue
            if d.key == "ExecStart":
                # an empty ExecStart= resets the list (drop-in override idiom)
                unit.exec_start = [exec_start_argv(d.value)] if d.value else []
            elif d.key == "EnvironmentFile":
                unit.environment_files = unit.environment_files + [d.value] if d.value else []
    return unit


# Running dockerd processes ----------------------------------------------------------------------


@dataclass
class Process:
    pid: int
    argv: list[str]
    uid: int
    exe: str
    rootless: bool  # started by RootlessKit (moby: daemon/internal/rootless)


def dockerd_processes(root: Path) -> list[Process]:
    if root != LIVE:
        return []
    found = []
    for entry in _listdir("/proc"):
        if not entry.isdigit():
            continue
        base = Path("/proc") / entry
        if (read_text(base / "comm") or "").strip() != "dockerd":
            continue
        raw = _read_bytes(base / "cmdline")
        argv = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
        if not argv or argv[1:] in _NOT_DAEMONS or "--validate" in argv:
            # Not a daemon: a zombie (no command line), a `dockerd --version` such as the one
            # dockercfg itself starts early to learn the installed version, a `--validate` run.
            continue
        if not sees_our_files(base):
            continue  # another mount or PID namespace (a container, a chroot): not our daemon
        environ = _read_bytes(base / "environ")
        try:
            uid = base.stat().st_uid
            exe = os.readlink(base / "exe")
        except OSError:
            uid, exe = -1, argv[0] if argv else ""
        found.append(Process(int(entry), argv, uid, exe, b"ROOTLESSKIT_STATE_DIR=" in environ))
    return sorted(found, key=lambda p: p.pid)


_NOT_DAEMONS = (["--version"], ["-v"], ["--help"], ["-h"])


def sees_our_files(proc: Path) -> bool:
    """The process lives in our mount and PID namespaces with our root directory, so the files
    it reads are the ones we edit. Unreadable (another user's process): assumed so."""
    for ns in ("ns/mnt", "ns/pid"):
        try:
            if os.readlink(proc / ns) != os.readlink(f"/proc/self/{ns}"):
                return False
        except OSError:
            pass
    try:
        theirs, ours = os.stat(proc / "root"), os.stat("/")
    except OSError:
        return True
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def process_argv(pid: int) -> list[str]:
    raw = _read_bytes(Path(f"/proc/{pid}/cmdline"))
    return [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# Users, Docker Desktop, WSL, snap ---------------------------------------------------------------


def os_kind(root: Path) -> str:
    """'linux' | 'darwin' | 'windows' | 'wsl' (fixtures: a proc/version file under --root)."""
    if root == LIVE and platform.system() in ("Darwin", "Windows"):
        return platform.system().lower()
    if root != LIVE:  # a tree copied from another machine: its own system markers
        if exists(inside(root, "/System/Library/CoreServices/SystemVersion.plist")):
            return "darwin"
        if is_dir(inside(root, "/Windows/System32")):
            return "windows"
    version = read_text(inside(root, "/proc/version")) or ""
    return "wsl" if "microsoft" in version.lower() else "linux"


def desktop_markers(home: Path) -> list[str]:
    """Signs that Docker Desktop (Linux) owns this user's Docker: its data dir or its context."""
    marks = []
    if is_dir(home / ".docker/desktop"):
        marks.append(f"{home}/.docker/desktop exists")
    config = read_text(home / ".docker/config.json") or ""
    if re.search(r'"currentContext"\s*:\s*"desktop-linux"', config):
        marks.append("docker context is desktop-linux")
    return marks


def wsl_windows_home(root: Path) -> tuple[Path | None, str]:
    """The Windows user's profile seen from WSL (/mnt/c/Users/NAME), chosen without guessing."""
    users = inside(root, "/mnt/c/Users")
    skip = {"public", "default", "default user", "all users", "desktop.ini", "wsiaccount"}
    names = [n for n in _listdir(str(users)) if n.lower() not in skip]
    wanted = os.environ.get("SUDO_USER") or os.environ.get("USER") or ""
    for name in names:
        if name.lower() == wanted.lower():
            return users / name, f"Windows profile {name} matches the Linux user"
    if len(names) == 1:
        return users / names[0], f"the only Windows profile is {names[0]}"
    return None, f"Windows profiles under /mnt/c/Users: {', '.join(sorted(names)) or 'none'}"


def wsl_desktop(root: Path) -> bool:
    return is_dir(inside(root, "/mnt/wsl/docker-desktop")) or exists(
        inside(root, "/mnt/wsl/docker-desktop-bind-mounts")
    )


def snap_installed(root: Path) -> bool:
    return is_dir(inside(root, "/var/snap/docker/current")) or exists(
        inside(root, "/snap/bin/docker")
    )
