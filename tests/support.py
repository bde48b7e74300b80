"""Helpers every test directory shares: the skip-or-fail rule and starting a sandbox.

Tests that cannot run here (not root, a program missing, no mount namespace) are skipped with the
reason locally; under CI=true that is a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root(why: str = "needs root") -> None:
    if os.geteuid() != 0:
        unavailable(why)


@functools.lru_cache(maxsize=1)
def mount_ns_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a mount namespace: {probe.stderr.strip()}"
    return None


def require_mount_ns() -> None:
    problem = mount_ns_problem()
    if problem:
        unavailable(problem)


def started_sandbox(make: Callable[[], Any], unavailable_error: type, label: str) -> Iterator[Any]:
    """Build (`make` runs its preflight), start, yield and stop one sandbox; stop even on error."""
    try:
        box = make()
    except unavailable_error as err:
        unavailable(f"{label} unavailable: {err}")
    started = time.monotonic()
    try:
        box.start()
    except BaseException:
        box.stop()
        raise
    print(f"\n{label} {box.t} up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    try:
        yield box
    finally:
        box.stop()


# Cgroups the suite makes in the shared cgroup tree ---------------------------------------------
# Named CGROUP_PREFIX + the pid of the pytest process that made them + "-" + a name of its own, so
# that one left behind by a run that crashed (SIGKILL, power loss: no finally ran) is found by its
# name, and told apart from those of a run still going (its pid alive), at the next session's start.
CGROUP_PREFIX = "dockercfg-test-"


def suite_cgroup_name(name: str) -> str:
    return f"{CGROUP_PREFIX}{os.getpid()}-{name}"


def cgroup_owner_alive(name: str) -> bool:
    pid = name[len(CGROUP_PREFIX) :].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cgroup_mounts() -> list[Path]:
    """Every cgroup hierarchy mounted at its root (a cgroup namespace's view is not used)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fields[3] == "/" and fstype in ("cgroup", "cgroup2"):
            found.append(Path(fields[4]))
    return found


def suite_cgroups(depth: int = 4) -> list[Path]:
    """The top directory of every cgroup tree the suite made, in every hierarchy."""
    found: list[Path] = []
    for mount in cgroup_mounts():
        for top, subdirs, _files in os.walk(mount):
            level = len(Path(top).relative_to(mount).parts)
            mine = [d for d in subdirs if d.startswith(CGROUP_PREFIX)]
            found += [Path(top) / d for d in mine]
            subdirs[:] = [] if level >= depth else [d for d in subdirs if d not in mine]
    return found


def _tree(tops: Iterable[Path]) -> list[Path]:
    dirs = [Path(d) for top in tops if top.is_dir() for d, _s, _f in os.walk(top)]
    return sorted(dirs, key=lambda d: len(d.parts), reverse=True)  # deepest first


def cgroup_pids(tops: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for directory in _tree(tops):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
    return pids


def remove_cgroups(tops: Iterable[Path], timeout: float = 20) -> list[Path]:
    """SIGKILL every process left in the trees, then rmdir them deepest first; returns what is
    left (nothing, unless a process would not die within `timeout`)."""
    tops = list(tops)
    deadline = time.monotonic() + timeout
    while (pids := cgroup_pids(tops)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    for directory in _tree(tops):
        with contextlib.suppress(OSError):
            directory.rmdir()
    return [top for top in tops if top.exists()]


def sweep_stale_cgroups() -> list[Path]:
    """Remove the cgroups of earlier runs that are gone; returns the ones removed."""
    stale = [top for top in suite_cgroups() if not cgroup_owner_alive(top.name)]
    left = remove_cgroups(stale, timeout=10)
    return [top for top in stale if top not in left]


# The keys of every --json envelope (README, "JSON output").
RESULT_KEYS = frozenset({
    "schema_version", "command", "changed", "target", "file", "backup", "diff", "applied",
    "verified", "problems", "warnings", "error", "data",
})  # fmt: skip
