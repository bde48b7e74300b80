"""A real dockerd under a real systemd manager, a real registry, and a private /etc/docker.

Layout (all under a temp dir T, plus mounts that exist only in pytest's private mount namespace):
- /etc/docker is a bind mount of T/etc-docker, /run a tmpfs holding /run/systemd/system (so the
  tool sees a systemd host, and not the host's /run/systemd/private or system bus), /etc/hosts a
  copy that adds `::1 registry.test`;
- a private network namespace (T/netns) for the registry and dockerd: nothing reaches the network
  and parallel sandboxes do not fight over [::1]:5000;
- dbus-daemon on T/xdg/bus and `systemd --user` joined to it. The tool gets
  DBUS_SYSTEM_BUS_ADDRESS=that bus, so this manager is "the" systemd it talks to;
- docker.service, a user unit: Type=notify dockerd on T/docker.sock, ExecReload=kill -HUP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from hostsetup import (
    DOCKER_CLIENT,
    DOCKERD,
    HTTP_GET,
    SYSTEMD,
    CgroupTree,
    SandboxUnavailable,
    bind,
    dockerd_problem,
    preflight,
    run,
    sleeper_tarball,
    terminate,
    tmpfs,
    umount,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "registry.test:5000"
IMAGE = "sleeper:1"
DEFAULT_RELOAD = "/bin/kill -s HUP $MAINPID"
START_TIMEOUT = 60

UNIT = """\
[Unit]
Description=dockerd for the dockercfg integration tests
StartLimitIntervalSec=0

[Service]
Type=notify
Environment=HOME={t}/home
{env_file}
ExecStart={dockerd} {flags}
ExecReload={reload}
KillMode=process
Delegate=yes
TimeoutStartSec={timeout}
TimeoutStopSec=30
StandardOutput=append:{t}/dockerd.log
StandardError=append:{t}/dockerd.log
"""

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {t}/registry
http:
  addr: "[::1]:5000"
"""


class Sandbox:
    def __init__(
        self, dockerd: str = DOCKERD, base_config: dict | None = None, storage: str = "vfs"
    ) -> None:
        """`dockerd`: the binary, bind-mounted over /usr/sbin/dockerd for the sandbox's life;
        `base_config`: a daemon.json that reset() puts back (the containerd image store)."""
        self.binary, self.storage = dockerd, storage
        self.base_config = json.dumps(base_config, indent=2) + "\n" if base_config else None
        self.t = Path(tempfile.mkdtemp(prefix="dcfg-", dir="/tmp"))  # short: socket paths
        try:
            self.cgroup = CgroupTree(self.t.name)
        except BaseException:
            shutil.rmtree(self.t)
            raise
        self.daemon_json = Path("/etc/docker/daemon.json")
        self.netns = self.t / "netns"
        self.bus = f"unix:path={self.t}/xdg/bus"
        self.unit_path = self.t / "cfg/systemd/user/docker.service"
        base = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.t / "home"),
        }
        # The tool's environment: this manager is the system's systemd, this dockerd the daemon.
        self.env = {
            **base,
            "DBUS_SYSTEM_BUS_ADDRESS": self.bus,
            "DOCKER_HOST": f"unix://{self.t}/docker.sock",
            "DOCKER_CONFIG": str(self.t / "docker-client"),
            "DOCKERCFG_CACHE_DIR": str(self.t / "dockercfg-cache"),  # not the host's /var/cache
            "DOCKERCFG_STATE_DIR": str(self.t / "dockercfg-state"),  # not the host's /var/lib
        }
        self.user_env = {
            **base,
            "XDG_RUNTIME_DIR": str(self.t / "xdg"),
            "XDG_CONFIG_HOME": str(self.t / "cfg"),
            "XDG_DATA_HOME": str(self.t / "share"),
            "XDG_STATE_HOME": str(self.t / "state"),
            "XDG_CACHE_HOME": str(self.t / "cache"),
            "DBUS_SESSION_BUS_ADDRESS": self.bus,
            "SYSTEMD_LOG_TARGET": "console",
        }
        self._mounts: list[str] = []
        self._procs: list[subprocess.Popen] = []
        self._dbus_pid: int | None = None
        self.unit_text = ""

    # Start and stop ----------------------------------------------------------------------------

    def start(self) -> None:
        for sub in ("xdg", "cfg/systemd/user"):
            (self.t / sub).mkdir(parents=True, exist_ok=True)
        (self.t / "xdg").chmod(0o700)
        self.isolate()
        Path("/run/systemd/system").mkdir(parents=True)
        # As on a real host, the unit is in a system unit directory too, where commands that do
        # not ask systemd (validate, show) read it: the user manager's files, linked.
        units = self.unit_path.parent
        (units / "docker.service.d").mkdir(exist_ok=True)
        os.symlink(self.unit_path, "/run/systemd/system/docker.service")
        os.symlink(units / "docker.service.d", "/run/systemd/system/docker.service.d")
        self._start_manager()
        self.write_unit()
        self.systemctl("daemon-reload")
        self.systemctl("start", "docker.service", timeout=START_TIMEOUT + 10)
        self.ready()

    def isolate(self) -> None:
        """Shared by the sandboxes: an empty /run (tmpfs); private /etc/docker, /etc/default and
        /etc/hosts; the network namespace with the registry in it."""
        t = self.t
        for sub in ("etc-docker", "home", "data", "exec", "registry"):
            (t / sub).mkdir(parents=True, exist_ok=True)
        if self.binary != DOCKERD:
            self._mount(DOCKERD, lambda: bind(Path(self.binary), DOCKERD))
        self._mount("/run", lambda: tmpfs("/run"))
        self._mount("/etc/docker", lambda: bind(t / "etc-docker", "/etc/docker"))
        if self.base_config:
            self.daemon_json.write_text(self.base_config)
        shutil.copytree("/etc/default", t / "etc-default", symlinks=True)
        if not (t / "etc-default/docker").exists():
            (t / "etc-default/docker").write_bytes(b"")
        self.default_docker = (t / "etc-default/docker").read_bytes()
        self._mount("/etc/default", lambda: bind(t / "etc-default", "/etc/default"))
        hosts = Path("/etc/hosts").read_text().rstrip("\n")
        (t / "hosts").write_text(f"{hosts}\n::1 registry.test\n")
        self._mount("/etc/hosts", lambda: bind(t / "hosts", "/etc/hosts"))
        self.netns.touch()
        self._mount(str(self.netns), lambda: run(["unshare", f"--net={self.netns}", "true"]))
        self.in_netns(["ip", "link", "set", "lo", "up"])
        self._start_registry()

    def ready(self) -> None:
        """Shared: once dockerd is started, wait for it, import the image, check the registry."""
        self.wait_for_docker()
        self._make_image()
        status, body = self.http_get("/v2/", timeout=30)
        assert status == 200, f"registry on [::1]:5000 is not answering: {status} {body}"

    def stop_docker(self) -> None:
        self.systemctl("stop", "docker.service", timeout=40)

    def stop(self) -> None:
        """Stop everything in reverse order; each step is bounded and never raises."""
        steps = [lambda: self.remove_containers(), lambda: self.stop_docker()]
        steps += [lambda p=p: terminate(p) for p in reversed(self._procs)]
        steps += [lambda: os.kill(self._dbus_pid, signal.SIGTERM) if self._dbus_pid else None]
        steps += [lambda: self.cgroup.kill_and_remove()]
        steps += [lambda m=m: umount(m) for m in reversed(self._mounts)]
        for step in steps:
            try:
                step()
            except Exception as err:  # teardown goes on; the error is only reported
                print(f"sandbox teardown: {err}", file=sys.stderr)
        if os.environ.get("DOCKERCFG_KEEP_SANDBOX"):
            print(f"sandbox kept in {self.t}", file=sys.stderr)
        else:
            shutil.rmtree(self.t, ignore_errors=True)

    def _mount(self, target: str, do) -> None:
        do()
        self._mounts.append(target)

    def _start_registry(self) -> None:
        config = self.t / "registry.yml"
        config.write_text(REGISTRY_CONFIG.format(t=self.t))
        log = open(self.t / "registry.log", "ab")  # noqa: SIM115 - the child keeps it
        cmd = ["nsenter", f"--net={self.netns}", "docker-registry", "serve", str(config)]
        self._procs.append(
            subprocess.Popen(cmd, stdout=log, stderr=log, env=self.user_env,
                             preexec_fn=self.cgroup.mover("aux"))
        )  # fmt: skip
        log.close()

    def _start_manager(self) -> None:
        dbus = run(
            ["dbus-daemon", "--session", f"--address={self.bus}", "--fork", "--print-pid"],
            env=self.user_env, timeout=20, preexec_fn=self.cgroup.mover("aux"),
        )  # fmt: skip
        self._dbus_pid = int(dbus.stdout.split()[0])
        log = open(self.t / "systemd.log", "ab")  # noqa: SIM115 - the child keeps it
        self._procs.append(
            subprocess.Popen(
                ["nsenter", f"--net={self.netns}", SYSTEMD, "--user"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.user_env,
                preexec_fn=self.cgroup.mover("manager"),
            )
        )  # fmt: skip
        log.close()

        def running() -> bool:
            state = self.systemctl("is-system-running", check=False, timeout=10).stdout.strip()
            return state in ("running", "degraded")

        wait_until(running, 30, "systemd --user to be running")

    # The unit ----------------------------------------------------------------------------------

    def write_unit(
        self, extra_flags: tuple = (), exec_reload: str = DEFAULT_RELOAD, debian: bool = False
    ) -> bool:
        """Write docker.service; True when its text changed. `debian`: like Debian's unit, pass
        $DOCKER_OPTS from /etc/default/docker (a private copy)."""
        t = self.t
        flags = [
            f"-H unix://{t}/docker.sock", f"--data-root {t}/data", f"--exec-root {t}/exec",
            f"--pidfile {t}/docker.pid", "--iptables=false", "--bridge=none",
            f"--storage-driver={self.storage}", "--exec-opt native.cgroupdriver=cgroupfs",
            f"--cgroup-parent {self.cgroup.path}/containers", *extra_flags,
            *(["$DOCKER_OPTS"] if debian else []),
        ]  # fmt: skip
        env_file = "EnvironmentFile=-/etc/default/docker" if debian else ""
        text = UNIT.format(t=t, dockerd=DOCKERD, flags=" ".join(flags), reload=exec_reload,
                           timeout=START_TIMEOUT, env_file=env_file)  # fmt: skip
        if text == self.unit_text:
            return False
        self.unit_path.write_text(text)
        self.unit_text = text
        return True

    def set_unit(
        self, extra_flags=(), exec_reload: str = DEFAULT_RELOAD, debian: bool = False
    ) -> None:
        """Run a differently configured dockerd: rewrite the unit, daemon-reload, restart."""
        self.write_unit(tuple(extra_flags), exec_reload, debian)
        self.systemctl("daemon-reload")
        self.restart_docker()

    def restart_docker(self) -> None:
        self.systemctl("restart", "docker.service", timeout=START_TIMEOUT + 10)
        self.wait_for_docker()

    def reset(self) -> None:
        """Default unit, no daemon.json (nor backups), no containers, a dockerd that has neither."""
        if not self.ping():  # an earlier test left it stopped: containers need a daemon
            self.clear_etc()
            self.write_unit() and self.systemctl("daemon-reload")
            self.systemctl("reset-failed", "docker.service", check=False)
            self.restart_docker()
        self.remove_containers()
        changed = self.clear_etc()
        if self.write_unit():
            self.systemctl("daemon-reload")
            changed = True
        if changed or not self.ping():
            self.restart_docker()

    def clear_etc(self) -> bool:
        """Empty /etc/docker (but key.json), put back the baseline /etc/default/docker; True when
        anything changed."""
        changed = False
        for entry in Path("/etc/docker").iterdir():
            if entry.name != "key.json" and not (
                entry == self.daemon_json and self.base_config == entry.read_text()
            ):
                changed = True
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if self.base_config and not self.daemon_json.exists():
            self.daemon_json.write_text(self.base_config)
        if Path("/etc/default/docker").read_bytes() != self.default_docker:
            Path("/etc/default/docker").write_bytes(self.default_docker)
            changed = True
        return changed

    # Clients -----------------------------------------------------------------------------------

    def systemctl(self, *args: str, check: bool = True, timeout: float = 30):
        return run(["systemctl", "--user", *args], env=self.user_env, timeout=timeout, check=check)

    def docker(self, *args: str, check: bool = True, timeout: float = 60):
        return run([DOCKER_CLIENT, *args], env=self.env, timeout=timeout, check=check)

    def run_tool(
        self, *args: str, env: dict | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """`python -m dockercfg ARGS` as root against the sandbox; never raises on exit status."""
        cmd = [sys.executable, "-m", "dockercfg", *args]
        return run(cmd, env={**self.env, **(env or {})}, timeout=timeout, check=False, cwd=REPO)

    def in_netns(self, cmd: list[str], timeout: float = 30, check: bool = True):
        return run(["nsenter", f"--net={self.netns}", *cmd], timeout=timeout, check=check)

    def http_get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        """GET http://[::1]:5000{path} from inside the network namespace: (status, body)."""
        url = f"http://[::1]:5000{path}"
        out = self.in_netns([sys.executable, "-c", HTTP_GET, url, str(timeout)], timeout + 15)
        status, _, body = out.stdout.partition("\n")
        return int(status), body.strip()

    # Daemon state ------------------------------------------------------------------------------

    def ping(self) -> bool:
        return self.docker("version", "--format", "{{.Server.Version}}", check=False,
                           timeout=10).returncode == 0  # fmt: skip

    def wait_for_docker(self) -> None:
        wait_until(self.ping, START_TIMEOUT, "dockerd to answer /_ping")

    def dockerd_pid(self) -> int:
        return int(self.systemctl("show", "-p", "MainPID", "--value", "docker.service").stdout)

    def registry_config(self) -> dict:
        """The live daemon's /info RegistryConfig."""
        return json.loads(self.docker("info", "--format", "{{json .RegistryConfig}}").stdout)

    def mirrors_live(self) -> list[str]:
        return self.registry_config().get("Mirrors") or []  # 26.1: null when there are none

    def insecure_live(self) -> list[str]:
        return sorted(self.registry_config()["IndexConfigs"].keys() - {"docker.io"})

    def dockerd_log(self) -> str:
        return (self.t / "dockerd.log").read_text(errors="replace")

    # Images, containers, registry --------------------------------------------------------------

    def _make_image(self) -> None:
        self.docker("import", str(sleeper_tarball(self.t / "sleeper.tar")), IMAGE)

    def run_container(self) -> str:
        out = self.docker("run", "-d", "--network", "none", IMAGE, "/bin/sleep", "1000")
        return out.stdout.strip()

    def started_at(self, container: str) -> str:
        return self.docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip()

    def running(self, container: str) -> bool:
        out = self.docker("inspect", "--format", "{{.State.Running}}", container, check=False)
        return out.stdout.strip() == "true"

    def remove_containers(self) -> None:
        ids = self.docker("ps", "-aq", timeout=20).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=60)

    def push(self, ref: str = f"{REGISTRY}/x") -> tuple[int, str]:
        """Tag the test image as `ref` and push it: (exit status, output)."""
        self.docker("tag", IMAGE, ref)
        out = self.docker("push", ref, check=False, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def pull(self, ref: str = f"{REGISTRY}/x") -> tuple[int, str]:
        self.docker("rmi", ref, check=False)
        out = self.docker("pull", ref, check=False, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def assert_registry_usable(self, ref: str = f"{REGISTRY}/x") -> None:
        """Push works, the registry's catalog lists the image, and pulling it back works."""
        code, out = self.push(ref)
        assert code == 0, out
        status, body = self.http_get("/v2/_catalog")
        assert status == 200 and ref.rsplit("/", 1)[1] in json.loads(body)["repositories"], body
        code, out = self.pull(ref)
        assert code == 0, out


def sandbox_for(spec: tuple) -> Sandbox:
    """A Sandbox for one hostsetup.DOCKERDS entry (binary, daemon.json kept in place, storage
    driver); SandboxUnavailable when this machine cannot run it."""
    binary, base_config, storage = spec
    preflight()
    problem = dockerd_problem(binary)
    if problem:
        raise SandboxUnavailable(problem)
    return Sandbox(binary, base_config, storage)
