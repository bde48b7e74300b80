"""Pids and the init script's settings: which dockerd a pidfile names, and what
/etc/default/docker tells Debian's init script (DOCKER_PIDFILE, DOCKER_SSD_PIDFILE, DOCKER_LOGFILE,
a pidfile flag in DOCKER_OPTS). Read by the command-driven services and by detection; it runs
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

LIVE = Path("/")
DEFAULT_PIDFILE = "/var/run/docker.pid"  # dockerd's own default, and the init script's
DEFAULT_SSD_PIDFILE = "/var/run/docker-ssd.pid"  # written by start-stop-daemon
DEFAULT_LOGFILE = "/var/log/docker.log"
DEFAULTS_FILE = "/etc/default/docker"

PidLookup = Callable[[], Optional[int]]


def inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/") if root != LIVE else Path(path)


def stat_fields(pid: int) -> tuple[str, str] | None:
    """(comm, state) of a process, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = stat[stat.find("(") + 1 : stat.rfind(")")]
    return comm, stat[stat.rfind(")") + 2 : stat.rfind(")") + 3]


def process_alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[1] not in ("Z", "X")  # a zombie has exited


def dockerd_alive(pid: int) -> bool:
    """A live dockerd with this pid that sees our files: a stale pidfile may name any process,
    or none, or one in another mount namespace (a container)."""
    from dockercfg.hostfacts import sees_our_files

    fields = stat_fields(pid)
    alive = process_alive(pid) and fields is not None and fields[0] == "dockerd"
    return alive and sees_our_files(Path(f"/proc/{pid}"))


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def pidfile_lookup(path: Path) -> PidLookup:
    """The live dockerd whose pid is in `path`, or None."""

    def lookup() -> int | None:
        pid = read_pid(path)
        return pid if pid is not None and dockerd_alive(pid) else None

    return lookup


# sysvinit ----------------------------------------------------------------------------------------


@dataclass
class SysvSettings:
    """What /etc/default/docker tells the init script (paths as the host sees them)."""

    pidfile: str = DEFAULT_PIDFILE  # the pidfile dockerd writes (its -p, or the last --pidfile)
    ssd_pidfile: str = DEFAULT_SSD_PIDFILE  # start-stop-daemon's
    logfile: str = DEFAULT_LOGFILE
    evidence: list[str] = field(default_factory=list)


def sysv_settings(root: Path = LIVE) -> SysvSettings:
    """Read DOCKER_PIDFILE, DOCKER_SSD_PIDFILE, DOCKER_LOGFILE and DOCKER_OPTS' -p/--pidfile.

    The file is parsed, never sourced. Debian's init script runs `dockerd -p "$DOCKER_PIDFILE"
    $DOCKER_OPTS`, so a pidfile flag in DOCKER_OPTS comes later and wins. A value that is not a
    plain absolute path (other than the script's own `$BASE`, which is "docker") is not used.
    """
    settings = SysvSettings()
    path = inside(root, DEFAULTS_FILE)
    try:
        data = path.read_bytes()
    except OSError:
        settings.evidence.append(f"no readable {DEFAULTS_FILE}: the init script's defaults")
        return settings
    from dockercfg.formats.sh_assign import words as sh_words

    for variable, attr in (
        ("DOCKER_PIDFILE", "pidfile"),
        ("DOCKER_SSD_PIDFILE", "ssd_pidfile"),
        ("DOCKER_LOGFILE", "logfile"),
    ):
        words = sh_words(path, data, variable)
        if not words:
            continue
        value = re.sub(r"\$\{?BASE\}?", "docker", words[-1]) if len(words) == 1 else ""
        if value.startswith("/") and not re.search(r"[$`\\*?~]", value):
            setattr(settings, attr, value)
            settings.evidence.append(f"{variable}={value} in {DEFAULTS_FILE}")
        else:
            settings.evidence.append(
                f"{variable} in {DEFAULTS_FILE} is not a plain path ({' '.join(words)});"
                f" using {getattr(settings, attr)}"
            )
    flag = pidfile_flag(sh_words(path, data, "DOCKER_OPTS"))
    if flag:
        settings.pidfile = flag
        settings.evidence.append(f"DOCKER_OPTS in {DEFAULTS_FILE} sets the pidfile {flag}")
    return settings


def pidfile_flag(words: list[str]) -> str | None:
    """The last `-p X`, `-p=X`, `-pX`, `--pidfile X` or `--pidfile=X` among dockerd's words."""
    found = None
    for i, word in enumerate(words):
        if word in ("-p", "--pidfile"):
            found = words[i + 1] if i + 1 < len(words) else found
        elif word.startswith("--pidfile="):
            found = word[len("--pidfile=") :]
        elif word.startswith("-p") and not word.startswith("--"):
            found = word[2:].lstrip("=")
    return found or None
