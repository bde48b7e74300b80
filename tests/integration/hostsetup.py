"""Host plumbing for the integration sandbox: preflight checks, mounts, cgroups, bounded waits.

Every mount made here lives in the private mount namespace pytest runs in (tests/run starts it with
`unshare --mount --propagation private`); preflight() refuses to go on anywhere else.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, TypeVar

from support import cgroup_pids, remove_cgroups, suite_cgroup_name

T = TypeVar("T")

SYSTEMD = "/lib/systemd/systemd"
DOCKERD = "/usr/sbin/dockerd"
# Debian 13's dockerd 26.1, unpacked by tests/fetch-debian13 (tests/run calls it); it runs with
# Debian 12's containerd 1.6 and runc. Inside a sandbox it is bind-mounted over DOCKERD, so the
# tool, the unit and /etc/init.d/docker all see one installed dockerd, as on a real host.
TEST_CACHE = Path(os.environ.get("DOCKERCFG_TEST_CACHE", "/var/cache/dockercfg-tests"))
DOCKERD_26 = TEST_CACHE / "trixie/root/usr/sbin/dockerd"
# id -> (binary, daemon.json the sandbox keeps in place, "--storage-driver" value)
DOCKERDS = {
    "dockerd20.10": (DOCKERD, None, "vfs"),
    "dockerd26.1": (str(DOCKERD_26), None, "vfs"),
}
# The containerd image store: a snapshotter name (native), not the graph driver vfs.
CONTAINERD_STORE = {"features": {"containerd-snapshotter": True}}
DOCKERD_26_CONTAINERD = (str(DOCKERD_26), CONTAINERD_STORE, "native")
# Debian's 20.10 client matches the 20.10 daemon; a newer client negotiates down to API 1.41.
DOCKER_CLIENT = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
NEEDED = (
    DOCKERD, DOCKER_CLIENT, "containerd", "runc", "docker-registry", "dbus-daemon", SYSTEMD,
    "systemctl", "mount", "umount", "unshare", "nsenter", "ip", "ldd",
)  # fmt: skip
# (apt packages: docker.io docker-registry dbus systemd util-linux iproute2 libc-bin)


class SandboxUnavailable(Exception):
    """This machine cannot host the sandbox; the message says why (skip, or fail under CI=true)."""


def wait_until(check: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `check()` with exponential backoff until it returns something truthy, or time out."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = check()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.5)


def run(
    cmd: list[str], *, env: dict | None = None, timeout: float = 60, check: bool = True, **kw
) -> subprocess.CompletedProcess:
    """subprocess.run, text, captured, always bounded; `check` raises with stderr in the message."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {detail}")
    return done


# Preflight -------------------------------------------------------------------------------------


def dockerd_problem(binary: str) -> str | None:
    """Why this dockerd cannot be used by a sandbox, or None."""
    if binary == DOCKERD:
        return None
    if not os.access(binary, os.X_OK):
        return f"{binary} is missing: run `tests/fetch-debian13 docker.io containerd`"
    return None


def preflight() -> None:
    if os.geteuid() != 0:
        raise SandboxUnavailable("needs root: it mounts over /etc/docker and runs dockerd")
    missing = [b for b in NEEDED if not shutil.which(b)]
    if missing:
        raise SandboxUnavailable(f"missing programs: {', '.join(missing)}")
    if not Path("/etc/docker").is_dir():
        raise SandboxUnavailable("/etc/docker does not exist (install docker.io) to mount over")
    problem = mount_namespace_problem()
    if problem:
        raise SandboxUnavailable(problem)


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def mount_namespace_problem() -> str | None:
    """Why mounting here could reach the host's view of /etc or /run, or None when it cannot."""
    mine = os.readlink("/proc/self/ns/mnt")
    hint = "run pytest under `unshare --mount --propagation private` (see tests/run)"
    try:
        if os.readlink("/proc/1/ns/mnt") == mine:
            return f"not in a private mount namespace (PID 1 shares it); {hint}"
    except OSError:
        # Some VM inits hide PID 1's namespaces even from root: then an ancestor in another
        # mount namespace proves that one was unshared on the way to us.
        pid, other = os.getppid(), False
        while pid > 1 and not other:
            try:
                other = os.readlink(f"/proc/{pid}/ns/mnt") != mine
                pid = _ppid(pid)
            except OSError:
                break
        if not other:
            return f"cannot show that this mount namespace is private; {hint}"
    shared = [path for path in ("/etc/docker", "/etc/hosts", "/run") if _is_shared(path)]
    if shared:
        return f"the mounts holding {', '.join(shared)} propagate to the host (shared); {hint}"
    return None


def _mountinfo() -> list[list[str]]:
    return [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _is_shared(path: str) -> bool:
    real = os.path.realpath(path)
    best: list[str] = []
    for fields in _mountinfo():
        point = fields[4].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[4] if best else ""):
            best = fields
    optional = best[6 : best.index("-")] if best else []
    return any(tag.startswith("shared:") for tag in optional)


# Mounts ----------------------------------------------------------------------------------------


# -n: without it, libmount records mounts in /run/mount/utab, and an unmount of our /run tmpfs
# would recreate that file in the host's real /run.


def bind(source: Path, target: str) -> None:
    clear_stale_mount(target)
    run(["mount", "-n", "--bind", str(source), target], timeout=10)


def clear_stale_mount(target: str) -> None:
    """An earlier sandbox whose teardown could not unmount `target` (busy) leaves it bound to a
    directory that was deleted since: mount(2) then fails with ENOENT. Detach such leftovers
    (lazily) until the machine's own path shows again; bounded."""
    for _ in range(8):
        try:
            if os.stat(target).st_nlink > 0:
                return
        except OSError:
            return
        if run(["umount", "-n", "--lazy", target], timeout=10, check=False).returncode != 0:
            return


def tmpfs(target: str) -> None:
    clear_stale_mount(target)
    run(["mount", "-n", "-t", "tmpfs", "-o", "mode=755", "tmpfs", target], timeout=10)


def umount(target: str) -> None:
    if run(["umount", "-n", target], timeout=10, check=False).returncode != 0:
        run(["umount", "-n", "--lazy", target], timeout=10, check=False)


# Cgroups ---------------------------------------------------------------------------------------


class CgroupTree:
    """A fresh cgroup for every process the sandbox starts, so they can all be found and killed.

    It also keeps `systemd --user` away from the host's processes: a manager moves *every* process
    of its own cgroup into `init.scope`, in every hierarchy. Started in the root cgroup of a host
    without systemd as PID 1, it would move PID 1 and all other processes.

    The tree lives in the machine's shared cgroup hierarchies, so it is removed on every path:
    kill_and_remove() (the sandbox's stop), at interpreter exit if that never ran, and, after a
    crash that ran neither, by support.sweep_stale_cgroups() at the next session's start (its
    name, support.suite_cgroup_name, says which run made it).
    """

    def __init__(self, name: str) -> None:
        own = {}  # controllers ("" for cgroup v2) -> this process's cgroup path
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, controllers, path = line.split(":", 2)
            own[controllers] = path
        tracking = "name=systemd" if "name=systemd" in own else ""
        if tracking not in own:
            raise SandboxUnavailable("no systemd-usable cgroup hierarchy is mounted")
        # the same path in every hierarchy
        self.path = f"{own[tracking].rstrip('/')}/{suite_cgroup_name(name)}"
        self.mounts: list[Path] = []  # every cgroup hierarchy's mount point
        self.tracking: list[Path] = []  # cgroup v2 and name=systemd: processes are moved there
        for fields in _mountinfo():
            fstype, options = fields[fields.index("-") + 1], fields[-1].split(",")
            if fields[3] != "/" or fstype not in ("cgroup", "cgroup2"):
                continue  # a cgroup namespace's view (root != /) is not used
            self.mounts.append(Path(fields[4]))
            if fstype == "cgroup2" or "name=systemd" in options:
                self.tracking.append(Path(fields[4]))
        if not self.tracking:  # never start systemd --user in a cgroup shared with the host
            raise SandboxUnavailable("no cgroup2 or name=systemd hierarchy mounted at its root")
        self._owner = os.getpid()  # a forked child exiting must not remove the tree
        atexit.register(self._remove_at_exit)
        try:
            for mount in self.tracking:
                for child in ("manager", "aux"):
                    (mount / self.path.lstrip("/") / child).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.kill_and_remove()
            raise SandboxUnavailable(f"cannot create a cgroup for systemd: {err}") from None

    def mover(self, child: str) -> Callable[[], None]:
        """A subprocess preexec_fn that puts the new process into `child` of this tree."""
        procs = [mount / self.path.lstrip("/") / child / "cgroup.procs" for mount in self.tracking]

        def move() -> None:
            for path in procs:
                path.write_text(str(os.getpid()))

        return move

    def tops(self) -> list[Path]:
        return [mount / self.path.lstrip("/") for mount in self.mounts]

    def pids(self) -> set[int]:
        return cgroup_pids(self.tops())

    def kill_and_remove(self, timeout: float = 20) -> None:
        """SIGKILL what is left in the tree (only processes the sandbox started), then rmdir it."""
        atexit.unregister(self._remove_at_exit)
        left = remove_cgroups(self.tops(), timeout)
        if left:
            raise TimeoutError(f"cgroup {self.path} still has processes after {timeout:g}s: {left}")

    def _remove_at_exit(self) -> None:
        if os.getpid() != self._owner:
            return
        left = remove_cgroups(self.tops(), timeout=10)
        if left:
            print(f"cgroup {self.path} left behind: {left}", file=sys.stderr)


# Processes -------------------------------------------------------------------------------------

# Runs inside the network namespace: GET a URL, retrying until a deadline; prints status and body.
HTTP_GET = """\
import sys, time, urllib.request, urllib.error
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
delay, last = 0.01, "no answer"
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            print(r.status); print(r.read().decode()); break
    except urllib.error.HTTPError as e:
        print(e.code); print(e.read().decode()); break
    except OSError as e:
        last = str(e)
    if time.monotonic() > deadline:
        print(0); print(last); break
    time.sleep(delay); delay = min(delay * 2, 0.5)
"""


def terminate(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sleeper_tarball(tarball: Path) -> Path:
    """An image root with /bin/sleep and its shared libraries (ldd), for `docker import`."""
    sleep = os.path.realpath("/bin/sleep")
    files = {"/bin/sleep": sleep}
    for line in run(["ldd", sleep], timeout=10).stdout.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            files[path] = os.path.realpath(path)
    with tarfile.open(tarball, "w") as tar:
        for arcname, source in files.items():
            tar.add(source, arcname=arcname.lstrip("/"))
    return tarball
