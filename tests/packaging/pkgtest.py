"""Helpers for the packaging tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path

from support import unavailable

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "packaging" / "ansible"
COLLECTION = COLLECTIONS / "ansible_collections" / "dockercfg" / "docker"
ANSIBLE_VENV = REPO / ".venv-ansible"
VENV_BIN = Path(sys.executable).parent  # has the dockercfg of this checkout
INTEGRATION = REPO / "tests" / "integration"


def need_root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root (apt-get install, /usr/bin)")


def need_programs(*names: str) -> None:
    missing = [n for n in names if not shutil.which(n, path="/usr/sbin:/usr/bin:/sbin:/bin")]
    if missing:
        unavailable(f"missing programs: {', '.join(missing)} (tests/run installs them)")


class Ansible:
    """ansible-playbook with a private HOME and temp dirs, this checkout's collection and CLI."""

    # Interpreter discovery may pick a broken pyenv shim: use the controller's own python.
    PYTHON = 'ansible_python_interpreter="{{ ansible_playbook_python }}"'
    INVENTORY = f"localhost ansible_connection=local {PYTHON}\n"

    def __init__(self, bin_dir: Path, tmp: Path) -> None:
        self.bin_dir = bin_dir
        self.tmp = tmp
        for sub in ("home", "ansible-tmp"):
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        self.control_dir = tempfile.mkdtemp(prefix="dcfg-cp-", dir="/tmp")
        weakref.finalize(self, shutil.rmtree, self.control_dir, True)
        self.inventory = tmp / "inventory.ini"
        self.inventory.write_text(self.INVENTORY)
        self.env = {
            # this checkout's dockercfg first on PATH: the module finds it like an installed one
            "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(tmp / "home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
            # ssh's ControlPath socket: under tmp_path it would pass the 108 bytes a unix socket
            # path may have ("unix_listener: path ... too long"), so a short dir of its own.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir,
            "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-tmp"),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CONFIG": str(tmp / "no-ansible.cfg"),  # ignore any ansible.cfg around
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
        }

    def playbook(
        self,
        text: str,
        *args: str,
        inventory: Path | None = None,
        env: dict | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        path = self.tmp / f"playbook-{len(list(self.tmp.glob('playbook-*')))}.yml"
        path.write_text(text)
        cmd = [str(self.bin_dir / "ansible-playbook"), "-i", str(inventory or self.inventory)]
        return subprocess.run(
            [*cmd, str(path), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    hosts: dict[str, dict[str, int]] = {}
    lines = output.split("PLAY RECAP", 1)[-1].splitlines()[1:]
    for line in lines:
        if ":" not in line:
            continue
        host, _, counts = line.partition(":")
        pairs = (item.split("=") for item in counts.split() if "=" in item)
        hosts[host.strip()] = {key: int(value) for key, value in pairs}
    return hosts


def shown(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def read_json(path: Path):
    return json.loads(path.read_text())


def copy_tree(dest: Path) -> Path:
    """The checkout's files (tracked, and untracked but not ignored) copied to dest."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = REPO / name.decode()
        if source.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name.decode())
    return dest


# Installing packages without touching this machine ----------------------------------------------

OVERLAY_SCRIPT = """\
set -e
t=$1
mount -t tmpfs -o mode=0755 tmpfs "$t"
for d in usr etc var; do
  mkdir -p "$t/$d/upper" "$t/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$t/$d/upper,workdir=$t/$d/work" "/$d"
done
echo ready
exec sleep infinity
"""


class OverlayRoot:
    """A private mount namespace in which /usr, /etc and /var are overlays whose writes land in
    a tmpfs of its own: apt-get installs there for real (dpkg's database, the maintainer scripts,
    triggers, apt's logs), and this machine's own /usr, /etc and /var never see it. A process
    holds the namespace; run() enters it with nsenter, close() ends it and every write with it."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", OVERLAY_SCRIPT, "sh",
             str(tmp)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        ready = self.holder.stdout.readline().strip()
        if ready != "ready":
            self.holder.kill()
            _out, err = self.holder.communicate(timeout=10)
            raise RuntimeError(f"cannot make the overlay namespace: {err.strip()}")

    def run(self, cmd, *, env=None, timeout: float = 300, text: bool = True):
        """`cmd` inside the namespace; never raises on its exit status."""
        enter = ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--"]
        return subprocess.run([*enter, *map(str, cmd)], env=env, capture_output=True, text=text,
                              timeout=timeout, check=False)  # fmt: skip

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path]).returncode == 0

    def read_bytes(self, path: str) -> bytes:
        done = self.run(["cat", path], text=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(10)
