"""What a test run must leave as it found it: a fingerprint of this machine, taken at the start
and the end of the session (tests/conftest.py) and compared.

It covers what a test could change by mistake outside its own temp dirs: every file under /etc
(bytes, mode, owner: users in /etc/passwd, the Docker and engine configuration, apt sources),
the programs and Python packages installed (/usr/bin, /usr/sbin, /usr/local/bin, dist-packages),
dpkg's database, what Docker, systemd --user, pipx or Ansible would keep in the real $HOME, the
machine's mount table (PID 1's, outside the tests' private mount namespace) and the cgroup tree.
Left out, because other programs change them while the tests run: the cgroups of other processes
next to this process's own ones, and those of another test run still going
(support.CGROUP_PREFIX with a live pid other than this one).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from support import CGROUP_PREFIX, cgroup_mounts, cgroup_owner_alive

ETC = Path("/etc")
ETC_VOLATILE = {"/etc/mtab", "/etc/adjtime"}  # the kernel's and the clock's
LISTED = [
    Path("/"),  # a stray /nonexistent made by a tool given HOME=/nonexistent as root
    Path("/var/lib"),  # a /var/lib/docker of a dockerd without its sandbox's data-root
    Path("/usr/bin"),
    Path("/usr/sbin"),
    Path("/usr/local/bin"),
    Path("/usr/lib/python3/dist-packages"),
    *sorted(Path("/usr/local/lib").glob("python3*/dist-packages")),
]
HASHED = [Path("/var/lib/dpkg/status")]
# What Docker, the engines, systemd --user, pipx or Ansible would write into the real $HOME.
HOME_WATCHED = (".docker", ".config/systemd", ".config/containers", ".local/bin",
                ".local/share/pipx", ".local/share/containers", ".ansible")  # fmt: skip


def _file(path: Path) -> str:
    try:
        st = path.lstat()
        if path.is_symlink():
            return f"link {os.readlink(path)}"
        kind = "dir" if path.is_dir() else "file"
        what = f"{kind} {st.st_mode:o} {st.st_uid}:{st.st_gid}"
        if kind == "file":
            what += " " + hashlib.sha256(path.read_bytes()).hexdigest()
        return what
    except OSError as err:
        return f"unreadable: {err.strerror}"


def _etc() -> dict[str, str]:
    seen: dict[str, str] = {}
    for top, dirs, files in os.walk(ETC):
        dirs.sort()
        for name in [*dirs, *files]:
            path = Path(top) / name
            if str(path) not in ETC_VOLATILE:
                seen[str(path)] = _file(path)
    return seen


def _listings() -> dict[str, str]:
    seen: dict[str, str] = {}
    for top in LISTED:
        if top.is_dir():
            for entry in os.scandir(top):
                seen[entry.path] = "link" if entry.is_symlink() else "dir" if entry.is_dir() else ""
    for path in HASHED:
        seen[str(path)] = _file(path)
    home = Path(os.path.expanduser("~"))
    for name in HOME_WATCHED:
        top = home / name
        if top.is_dir():
            for found, _dirs, files in os.walk(top):
                seen.update({str(Path(found) / f): "" for f in files})
                seen[found] = "dir"
        elif top.exists() or top.is_symlink():
            seen[str(top)] = _file(top)
    return seen


def _own_cgroup_parents() -> set[str]:
    """The parents of this process's own cgroups (not the root): whatever started this process
    makes and removes cgroups there."""
    parents = set()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        path = line.split(":", 2)[2]
        if path.strip("/"):
            parents.add(str(Path(path).parent))
    return parents


def _cgroups() -> dict[str, str]:
    seen: dict[str, str] = {}
    others = _own_cgroup_parents() - {"/"}
    for mount in cgroup_mounts():
        for top, dirs, _files in os.walk(mount):
            rel = "/" + str(Path(top).relative_to(mount)).lstrip(".")
            if rel in others:
                dirs[:] = [d for d in dirs if d.startswith(CGROUP_PREFIX)]
            live = [d for d in dirs if _another_run(d)]
            dirs[:] = sorted(d for d in dirs if d not in live)
            seen.update({f"cgroup {Path(top) / d}": "" for d in dirs})
    return seen


def _another_run(name: str) -> bool:
    """A cgroup of another test run that is still going: its pid alive, or, named as checkouts
    before CGROUP_PREFIX named them (the sandbox's temp dir), its temp dir still there."""
    if name.startswith(CGROUP_PREFIX):
        return not name.startswith(f"{CGROUP_PREFIX}{os.getpid()}-") and cgroup_owner_alive(name)
    return name.startswith("dcfg-") and Path("/tmp", name).is_dir()


def _mounts() -> dict[str, str]:
    """PID 1's mount table: the machine's own, which no test's private namespace reaches."""
    try:
        lines = Path("/proc/1/mountinfo").read_text().splitlines()
    except OSError as err:
        return {"/proc/1/mountinfo": f"unreadable: {err.strerror}"}
    seen: dict[str, str] = {}
    for line in lines:
        fields = line.split()
        dash = fields.index("-")
        point = f"mount {fields[4]}"
        seen[point] = seen.get(point, "") + f" {fields[dash + 1]} {fields[dash + 2]} {fields[3]}"
    return seen


def fingerprint() -> dict[str, str]:
    return {**_etc(), **_listings(), **_cgroups(), **_mounts()}


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


if __name__ == "__main__":  # tests/run: the machine seen from outside the tests' namespaces
    import json
    import sys

    if sys.argv[1:2] == ["compare"]:
        with open(sys.argv[2]) as before_file:
            found = changes(json.load(before_file), fingerprint())
        for entry in found:
            print(entry)
        sys.exit(1 if found else 0)
    json.dump(fingerprint(), sys.stdout)
