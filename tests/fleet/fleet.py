"""A fleet of hosts on one test network, each reached by Ansible over SSH.

Layout (everything under a temp dir T; every mount lives in pytest's private mount namespace or in
a host's own one, so the machine's /etc, /run, /home and network are never touched):
- the fabric: a network namespace (T/ns/fabric) with bridge br0 at 10.77.0.1/24, the registry
  (docker-registry on 10.77.0.1:5000, named registry.fleet on every host) and the Ansible
  controller;
- host N: its own network namespace (T/ns/hN, eth0 at 10.77.0.(10+N), a veth pair on br0) and its
  own mount, PID and UTS namespaces. Inside, /run, /etc/init.d (empty: no init script, so dockercfg
  sees a dockerd with no service manager and reloads it by SIGHUP) and /etc/docker, /home,
  /usr/local/bin, /var/lib, /var/cache, /etc/passwd, /etc/shadow, /etc/group, /etc/hosts,
  /etc/hostname and /etc/sudoers.d are private copies: the `fleet` user, its SSH key and its
  sudo rule exist only there. PID 1 is the host's sshd; its dockerd (Debian 12's 20.10 or Debian
  13's 26.1) runs with --iptables=false --bridge=none --storage-driver=vfs and its data under T.
- dockercfg on a host is this checkout's .venv/bin/dockercfg, linked from its private
  /usr/local/bin; a host made with installed=False has none.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from hostsetup import mount_namespace_problem, run, wait_until  # noqa: E402

FABRIC_ADDR = "10.77.0.1"
REGISTRY = "registry.fleet:5000"
USER, UID = "fleet", 2100
DOCKER_CLIENT = "/usr/bin/docker"  # Debian 12's 20.10 client: API 1.41 against both daemons
IMAGE = "fleet-image:1"
NEEDED = ("ip", "nsenter", "unshare", "/usr/sbin/sshd", "ssh-keygen", "sudo", "docker-registry")
START_TIMEOUT = 60

SSHD_CONFIG = """\
ListenAddress {addr}
HostKey {h}/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
"""

# PID 1 of a host: its private mounts, its dockerd in the background, then sshd in the foreground.
HOST_INIT = """\
set -e
hostname {name}
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/lock
mount -t tmpfs -o mode=755 tmpfs /etc/init.d
for f in passwd shadow group hosts hostname; do mount --bind {h}/etc/$f /etc/$f; done
mount --bind {h}/etc/sudoers.d /etc/sudoers.d
mount --bind {h}/etc-docker /etc/docker
mount --bind {h}/home /home
mount --bind {h}/local-bin /usr/local/bin
mount -t tmpfs -o mode=755 tmpfs /var/lib
ip link set lo up
{dockerd}
# dockercfg keeps its history in /var/lib/dockercfg and a version cache in /var/cache/dockercfg:
# both private. /var/cache is covered only once this dockerd has started its containerd, which
# may come from Debian 13's tree under /var/cache.
i=0
while [ -n "{wait}" ] && [ ! -S /run/docker/containerd/containerd.sock ] && [ $i -lt 900 ]; do
  sleep 0.1; i=$((i + 1))
done
mount -t tmpfs -o mode=755 tmpfs /var/cache
exec /usr/sbin/sshd -D -e -f {h}/sshd_config
"""

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {t}/registry
http:
  addr: "{addr}:5000"
"""


class FleetUnavailable(Exception):
    """This machine cannot host the fleet; the message says why."""


def preflight() -> None:
    if os.geteuid() != 0:
        raise FleetUnavailable("needs root: network and mount namespaces")
    missing = [n for n in NEEDED if not shutil.which(n)]
    if missing:
        raise FleetUnavailable(f"missing programs: {', '.join(missing)}")
    # The network namespace files are bind mounts: they must stay in a private mount namespace.
    problem = mount_namespace_problem()
    if problem:
        raise FleetUnavailable(problem)


@dataclass
class Host:
    name: str
    index: int
    dockerd: str | None  # the dockerd binary, or None for a host without Docker
    installed: bool = True  # dockercfg on the host's PATH
    extra_path: str = ""  # where this dockerd's containerd lives (Debian 13's tree)
    dir: Path = Path()
    netns: Path = Path()
    pid: int = 0  # PID 1 of the host's namespaces, as this machine sees it
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def addr(self) -> str:
        return f"10.77.0.{10 + self.index}"

    @property
    def daemon_json(self) -> Path:
        return self.dir / "etc-docker" / "daemon.json"

    def run(self, cmd: list[str], timeout: float = 60, check: bool = True, env: dict | None = None):
        """A command inside the host (all its namespaces), as root."""
        enter = ["nsenter", "-t", str(self.pid), "-m", "-u", "-n", "-p", "--"]
        base = {
            "PATH": f"{self.extra_path}/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "DOCKER_CONFIG": f"{self.dir}/docker-client",
            "HOME": f"{self.dir}/root-home",
        }
        return run(enter + cmd, env={**base, **(env or {})}, timeout=timeout, check=check)

    def docker(self, *args: str, check: bool = True, timeout: float = 60):
        return self.run([DOCKER_CLIENT, *args], timeout=timeout, check=check)

    def dockerd_version(self) -> str:
        return self.docker("version", "--format", "{{.Server.Version}}").stdout.strip()

    def push(self) -> tuple[int, str]:
        ref = f"{REGISTRY}/{self.name}/x"
        self.docker("tag", IMAGE, ref)
        out = self.docker("push", ref, check=False, timeout=90)
        return out.returncode, out.stdout + out.stderr


class Fleet:
    def __init__(self, hosts: list[Host]) -> None:
        preflight()
        self.t = Path(tempfile.mkdtemp(prefix="fleet-", dir="/tmp"))
        self.hosts = hosts
        self.fabric = self.t / "ns" / "fabric"
        self.key = self.t / "id_ed25519"
        self._netns: list[Path] = []
        self._procs: list[subprocess.Popen] = []

    # Start and stop ----------------------------------------------------------------------------

    def start(self) -> None:
        (self.t / "ns").mkdir()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        self._netns_file(self.fabric)
        for cmd in (
            "ip link set lo up",
            "ip link add br0 type bridge",
            f"ip addr add {FABRIC_ADDR}/24 dev br0",
            "ip link set br0 up",
        ):
            self.in_fabric(cmd.split())
        self._start_registry()
        for host in self.hosts:
            self._start_host(host)
        for host in self.hosts:
            self._wait_ready(host)

    def stop(self) -> None:
        """Kill each host's PID 1 (the kernel then kills all of that host, and its mounts go with
        its mount namespace), the registry, then the network namespaces; never raises."""
        for host in self.hosts:
            if host.pid:
                _quietly(lambda h=host: os.kill(h.pid, signal.SIGKILL))
            if host.proc is not None:
                _quietly(lambda h=host: h.proc.wait(20))
        for proc in self._procs:
            _quietly(proc.kill)
            _quietly(lambda p=proc: p.wait(20))
        for path in reversed(self._netns):
            _quietly(lambda p=path: run(["umount", str(p)], timeout=20))
        if os.environ.get("DOCKERCFG_KEEP_SANDBOX"):
            print(f"fleet kept in {self.t}", file=sys.stderr)
        else:
            shutil.rmtree(self.t, ignore_errors=True)

    def _netns_file(self, path: Path) -> None:
        path.touch()
        run(["unshare", f"--net={path}", "true"])
        self._netns.append(path)

    def in_fabric(self, cmd: list[str], timeout: float = 30, check: bool = True, **kw):
        return run(["nsenter", f"--net={self.fabric}", *cmd], timeout=timeout, check=check, **kw)

    def _start_registry(self) -> None:
        config = self.t / "registry.yml"
        (self.t / "registry").mkdir()
        config.write_text(REGISTRY_CONFIG.format(t=self.t, addr=FABRIC_ADDR))
        with open(self.t / "registry.log", "ab") as log:
            cmd = ["nsenter", f"--net={self.fabric}", "docker-registry", "serve", str(config)]
            self._procs.append(subprocess.Popen(cmd, stdout=log, stderr=log))
        wait_until(lambda: self._listening(FABRIC_ADDR, 5000), 30, "the registry to listen")

    def _start_host(self, host: Host) -> None:
        h = host.dir = self.t / host.name
        host.netns = self.t / "ns" / host.name
        self._netns_file(host.netns)
        self.in_fabric(["ip", "link", "add", f"v{host.name}", "type", "veth", "peer", "eth0"])
        self.in_fabric(["ip", "link", "set", "eth0", "netns", str(host.netns)])
        self.in_fabric(["ip", "link", "set", f"v{host.name}", "master", "br0", "up"])
        for cmd in (f"ip addr add {host.addr}/24 dev eth0", "ip link set eth0 up"):
            run(["nsenter", f"--net={host.netns}", *cmd.split()])
        self._write_host_files(host)
        dockerd = ""
        if host.dockerd:
            flags = ("--iptables=false --bridge=none --ip-masq=false --storage-driver=vfs "
                     f"--data-root {h}/var-lib-docker")  # fmt: skip
            dockerd = (f"PATH={host.extra_path}/usr/bin:$PATH {host.dockerd} {flags} "
                       f">{h}/dockerd.log 2>&1 &")  # fmt: skip
        wait = "yes" if host.dockerd else ""
        (h / "init.sh").write_text(
            HOST_INIT.format(name=host.name, h=h, dockerd=dockerd, wait=wait)
        )
        cmd = [
            "nsenter", f"--net={host.netns}", "unshare", "--mount", "--propagation", "private",
            "--pid", "--fork", "--mount-proc", "--uts", "sh", str(h / "init.sh"),
        ]  # fmt: skip
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        with open(h / "init.log", "ab") as log:
            host.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        children = Path(f"/proc/{host.proc.pid}/task/{host.proc.pid}/children")
        host.pid = int(wait_until(lambda: _read(children).split()[:1], 10, "the host's PID 1")[0])

    def _write_host_files(self, host: Host) -> None:
        h = host.dir
        for sub in ("etc/sudoers.d", "etc-docker", "var-lib-docker", "local-bin", "docker-client",
                    "root-home", f"home/{USER}/.ssh"):  # fmt: skip
            (h / sub).mkdir(parents=True, exist_ok=True)
        etc = h / "etc"
        passwd = Path("/etc/passwd").read_text().rstrip("\n")
        (etc / "passwd").write_text(f"{passwd}\n{USER}:x:{UID}:{UID}::/home/{USER}:/bin/sh\n")
        group = Path("/etc/group").read_text().rstrip("\n")
        (etc / "group").write_text(f"{group}\n{USER}:x:{UID}:\n")
        shadow = Path("/etc/shadow").read_text().rstrip("\n")
        (etc / "shadow").write_text(f"{shadow}\n{USER}:*:20000:0:99999:7:::\n")
        (etc / "shadow").chmod(0o640)
        hosts = Path("/etc/hosts").read_text().rstrip("\n")
        (etc / "hosts").write_text(
            f"{hosts}\n{FABRIC_ADDR} registry.fleet\n{host.addr} {host.name}\n"
        )
        (etc / "hostname").write_text(f"{host.name}\n")
        rule = etc / "sudoers.d" / USER
        rule.write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)
        home = h / "home" / USER
        (home / ".ssh" / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        for path in (home, home / ".ssh", home / ".ssh" / "authorized_keys"):
            os.chown(path, UID, UID)
        (home / ".ssh").chmod(0o700)
        if host.installed:
            # DOCKERCFG_FLEET_TOOL: another build to put on the hosts (a .deb's, a patched tree's).
            tool = os.environ.get("DOCKERCFG_FLEET_TOOL") or REPO / ".venv" / "bin" / "dockercfg"
            (h / "local-bin" / "dockercfg").symlink_to(tool)
        key = h / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        (h / "sshd_config").write_text(SSHD_CONFIG.format(addr=host.addr, h=h))

    def _wait_ready(self, host: Host) -> None:
        def sshd() -> bool:
            if host.proc is not None and host.proc.poll() is not None:
                log = _read(host.dir / "init.log").strip().splitlines()[-3:]
                raise RuntimeError(f"{host.name} exited {host.proc.returncode}: {' | '.join(log)}")
            return self._listening(host.addr, 22)

        wait_until(sshd, START_TIMEOUT, f"{host.name}'s sshd on {host.addr}:22")
        if host.dockerd:
            ping = lambda: host.docker("version", check=False, timeout=10).returncode == 0  # noqa: E731
            wait_until(ping, START_TIMEOUT, f"{host.name}'s dockerd (see {host.dir}/dockerd.log)")
            tarball = host.dir / "image.tar"
            with tarfile.open(tarball, "w") as tar:
                tar.add("/etc/hostname", arcname="etc/fleet-image")
            host.docker("import", str(tarball), IMAGE)

    def _listening(self, addr: str, port: int) -> bool:
        probe = f"import socket; socket.create_connection(({addr!r}, {port}), timeout=2).close()"
        return self.in_fabric([sys.executable, "-c", probe], check=False).returncode == 0

    # Ansible -----------------------------------------------------------------------------------

    def inventory(self, group_vars: dict, groups: dict[str, list[Host]]) -> dict:
        """Ansible's inventory as a dict (written as JSON): SSH as `fleet`, become through sudo."""
        ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        return {
            "all": {
                "vars": {
                    "ansible_user": USER,
                    "ansible_ssh_private_key_file": str(self.key),
                    "ansible_ssh_common_args": ssh_args,
                    "ansible_become": True,
                    "ansible_become_method": "sudo",
                    **group_vars,
                },
                "children": {
                    name: {"hosts": {h.name: {"ansible_host": h.addr} for h in members}}
                    for name, members in groups.items()
                },
            }
        }


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _quietly(step) -> None:
    try:
        step()
    except (OSError, subprocess.SubprocessError, RuntimeError) as err:
        print(f"fleet teardown: {err}", file=sys.stderr)
