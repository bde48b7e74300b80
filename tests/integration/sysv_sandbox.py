"""A real dockerd started by Debian's real /etc/init.d/docker, through `service docker start`.

Everything of sandbox.py's Sandbox but the systemd manager (`isolate()`: tmpfs /run, private
/etc/docker, /etc/default and /etc/hosts, the registry in a private network namespace; `ready()`:
image and registry checks), and no /run/systemd/system: `service` runs the init script itself
(not systemctl) and dockercfg sees a sysvinit host. On top of that, in the private mount namespace:

- /etc/init.d/docker: a copy of the real script whose `ulimit` lines are neutralised (`: ulimit`),
  because this sandbox cannot raise `ulimit -n` to 1048576. Nothing else differs (checked).
- /etc/fstab: a copy plus one cgroup line, so the script's cgroupfs_mount() returns at once. It
  would otherwise mkdir in, and mount cgroup v1 hierarchies on, the host's /sys/fs/cgroup, which a
  mount namespace does not make private.
- /etc/default/docker: Debian's text plus DOCKER_PIDFILE, DOCKER_SSD_PIDFILE and DOCKER_LOGFILE in
  T, and a DOCKER_OPTS with the isolated dockerd flags (written literally: no `$T`).

`service docker start|restart` and the tool run inside the network namespace and the sandbox's
cgroup, so the dockerd the init script starts (and restarts) inherits both: it reaches the
registry, and teardown finds and kills whatever is left.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from hostsetup import DOCKERD, SandboxUnavailable, bind, preflight, run, wait_until
from sandbox import REPO, START_TIMEOUT, Sandbox

INIT_SCRIPT = Path("/etc/init.d/docker")
SYSV_NEEDED = ("service", "start-stop-daemon", "ps", "sh")
FSTAB_LINE = (
    "# dockercfg sysv sandbox: cgroups are already mounted; this makes cgroupfs_mount() a no-op\n"
    "cgroup /sys/fs/cgroup cgroup defaults 0 0\n"
)
# What Ubuntu's /etc/default/docker shows: a commented-out example the tool must leave alone.
COMMENTED_EXAMPLE = '#DOCKER_OPTS="--dns 8.8.8.8 --dns 8.8.4.4"\n'


def sysv_preflight() -> None:
    preflight()
    missing = [b for b in SYSV_NEEDED if not shutil.which(b)]
    if missing:
        raise SandboxUnavailable(f"missing programs for the sysvinit sandbox: {', '.join(missing)}")
    for path in (INIT_SCRIPT, Path("/lib/lsb/init-functions"), Path("/etc/fstab")):
        if not path.is_file():
            raise SandboxUnavailable(f"{path} is missing (install docker.io and lsb-base)")
    if run(["getent", "group", "docker"], check=False, timeout=10).returncode != 0:
        raise SandboxUnavailable("no docker group (the init script chgrps its log to it)")


def neutralise_ulimits(script: str) -> str:
    """`ulimit ...` -> `: ulimit ...` (a no-op with the same line numbers); nothing else."""
    out = re.sub(r"(?m)^(\s*)ulimit ", r"\1: ulimit ", script)
    changed = [
        line for line in difflib.ndiff(script.splitlines(), out.splitlines()) if line[:1] in "+-"
    ]
    assert changed and all("ulimit" in line for line in changed), changed
    return out


class SysvSandbox(Sandbox):
    """Debian's init script manages dockerd; `service docker restart` is the only restart."""

    def __init__(self, dockerd: str = DOCKERD) -> None:
        super().__init__(dockerd)  # the init script runs /usr/sbin/dockerd: bind-mounted
        t = self.t
        self.env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)  # no systemd here, not even a fake one
        self.pidfile = t / "docker.pid"  # dockerd's -p "$DOCKER_PIDFILE"
        self.ssd_pidfile = t / "docker-ssd.pid"  # start-stop-daemon's --make-pidfile
        self.logfile = t / "dockerd.log"  # Sandbox.dockerd_log() reads it
        self.defaults = Path("/etc/default/docker")
        self.opts_flags = [
            f"-H unix://{t}/docker.sock", f"--data-root {t}/data", f"--exec-root {t}/exec",
            "--iptables=false", "--bridge=none", "--storage-driver=vfs",
            "--exec-opt native.cgroupdriver=cgroupfs",
            f"--cgroup-parent {self.cgroup.path}/containers",
        ]  # fmt: skip

    # Start and stop ----------------------------------------------------------------------------

    def start(self) -> None:
        self.isolate()  # /run is an empty tmpfs: no /run/systemd/system
        t = self.t
        script = t / "init.d-docker"
        script.write_text(neutralise_ulimits(INIT_SCRIPT.read_text()))
        script.chmod(0o755)
        self._mount(str(INIT_SCRIPT), lambda: bind(script, str(INIT_SCRIPT)))
        fstab = Path("/etc/fstab").read_text().rstrip("\n")
        (t / "fstab").write_text(f"{fstab}\n{FSTAB_LINE}")
        self._mount("/etc/fstab", lambda: bind(t / "fstab", "/etc/fstab"))
        self.default_docker = self.defaults_text().encode()
        self.defaults.write_bytes(self.default_docker)
        self.cgroup_root = sorted(os.listdir("/sys/fs/cgroup"))  # cgroupfs_mount() keeps it
        self.service("start")
        self.ready()

    def defaults_text(self) -> str:
        """Debian's /etc/default/docker (the host's copy, kept by isolate()) plus the sandbox's."""
        debian = self.default_docker.decode()
        debian = debian.rstrip("\n") + "\n\n" if debian.strip() else ""
        return (
            f"{debian}"
            "# dockercfg sysv sandbox\n"
            f"DOCKER_PIDFILE={self.pidfile}\n"
            f"DOCKER_SSD_PIDFILE={self.ssd_pidfile}\n"
            f"DOCKER_LOGFILE={self.logfile}\n"
            f"{COMMENTED_EXAMPLE}"
            f'DOCKER_OPTS="{" ".join(self.opts_flags)}"\n'
        )

    def stop_docker(self) -> None:
        self.service("stop", timeout=60, check=False)  # fails when dockerd is not running

    def restart_docker(self) -> None:
        self.service("restart")
        self.wait_for_docker()

    def reset(self) -> None:
        """Baseline /etc/default/docker, no daemon.json, no containers, a dockerd with neither."""
        if not self.ping():  # an earlier test left it stopped: containers need a daemon
            self.clear_etc()
            self.restart_docker()
        self.remove_containers()
        if self.clear_etc() or not self.ping():
            self.restart_docker()

    # Commands ----------------------------------------------------------------------------------

    def service(self, action: str, timeout: float = START_TIMEOUT + 30, check: bool = True):
        """`service docker ACTION`, as root on a sysvinit host would, in the netns and cgroup."""
        return run(
            ["nsenter", f"--net={self.netns}", "service", "docker", action],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}, timeout=timeout,
            check=check, stdin=subprocess.DEVNULL, preexec_fn=self.cgroup.mover("aux"),
        )  # fmt: skip

    def run_tool(
        self, *args: str, env: dict | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """`python -m dockercfg ARGS` as root, in the netns and cgroup (so is what it restarts)."""
        return self.run_python("-m", "dockercfg", *args, env=env, timeout=timeout)

    def run_python(
        self, *args: str, env: dict | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """This Python with ARGS, as the tool runs: root, netns, cgroup, the tool's environment."""
        cmd = ["nsenter", f"--net={self.netns}", sys.executable, *args]
        return run(cmd, env={**self.env, **(env or {})}, timeout=timeout, check=False, cwd=REPO,
                   stdin=subprocess.DEVNULL, preexec_fn=self.cgroup.mover("aux"))  # fmt: skip

    def opts_words(self) -> list[str]:
        """DOCKER_OPTS as the init script's shell splits it (sourced by a real sh, no globbing)."""
        script = (
            "set -f; . /etc/default/docker; for w in $DOCKER_OPTS; do printf '%s\\n' \"$w\"; done"
        )
        return run(["sh", "-c", script], timeout=10).stdout.splitlines()

    # Daemon state ------------------------------------------------------------------------------

    def dockerd_pid(self) -> int:
        return int(self.pidfile.read_text())

    def ssd_pid(self) -> int:
        return int(self.ssd_pidfile.read_text())

    def argv(self, pid: int) -> list[str]:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode() for part in raw.split(b"\0") if part]

    def expected_argv(self) -> list[str]:
        """What /etc/init.d/docker runs: dockerd -p "$DOCKER_PIDFILE" $DOCKER_OPTS."""
        return [DOCKERD, "-p", str(self.pidfile), *self.opts_words()]

    def gone(self, pid: int, timeout: float = 30) -> bool:
        def exited() -> bool:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return True
            return state in ("Z", "X")

        return wait_until(exited, timeout, f"pid {pid} to exit")
