"""The end-of-run machine check (tests/fingerprint.py) sees what a test could change, and the
cgroups a crashed run left behind are swept at the next session's start (support.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fingerprint
import pytest
from support import (
    CGROUP_PREFIX,
    cgroup_mounts,
    remove_cgroups,
    require_root,
    suite_cgroups,
    sweep_stale_cgroups,
)


def test_the_fingerprint_sees_a_changed_file_program_owner_and_mode(tmp_path, monkeypatch):
    etc, bin_dir = tmp_path / "etc", tmp_path / "bin"
    (etc / "docker").mkdir(parents=True)
    bin_dir.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (etc / "docker" / "daemon.json").write_text("{}\n")
    monkeypatch.setattr(fingerprint, "ETC", etc)
    monkeypatch.setattr(fingerprint, "LISTED", [bin_dir])
    monkeypatch.setattr(fingerprint, "HASHED", [])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    before = fingerprint.fingerprint()
    assert fingerprint.changes(before, fingerprint.fingerprint()) == []

    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nmallory:x:0:0::/:/bin/sh\n")
    (etc / "docker" / "daemon.json").chmod(0o600)
    (etc / "docker" / "certs.d").mkdir()
    (bin_dir / "dockercfg").write_text("#!/bin/sh\n")
    (tmp_path / "home/.docker").mkdir(parents=True)
    (tmp_path / "home/.docker/config.json").write_text("{}")
    assert fingerprint.changes(before, fingerprint.fingerprint()) == sorted(
        [f"{etc}/passwd", f"{etc}/docker/daemon.json", f"{etc}/docker/certs.d",
         f"{bin_dir}/dockercfg", f"{tmp_path}/home/.docker",
         f"{tmp_path}/home/.docker/config.json"]
    )  # fmt: skip


def test_the_fingerprint_covers_the_machines_mounts_packages_and_cgroups():
    seen = fingerprint.fingerprint()
    assert "/etc/passwd" in seen and "/var/lib/dpkg/status" in seen
    assert "mount /" in seen  # PID 1's table, not this namespace's
    assert any(key.startswith("/usr/bin/") for key in seen)


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture
def cgroup_trees():
    require_root("needs root (makes cgroups)")
    if not cgroup_mounts():
        pytest.fail("no cgroup hierarchy is mounted", pytrace=False)
    made: list[Path] = []

    def make(name: str) -> list[Path]:
        tops = [mount / name for mount in cgroup_mounts()]
        for top in tops:
            (top / "aux").mkdir(parents=True)
            made.append(top)
        return tops

    yield make
    assert remove_cgroups(made) == []


def test_a_crashed_runs_cgroups_are_swept_and_a_live_runs_kept(cgroup_trees):
    stale = cgroup_trees(f"{CGROUP_PREFIX}{dead_pid()}-dcfg-crashed")
    live = cgroup_trees(f"{CGROUP_PREFIX}{os.getpid()}-dcfg-running")
    tracking = next(top for top in stale if top.parent.name in ("unified", "systemd"))
    orphan = subprocess.Popen(["sleep", "600"])  # what the crashed run left running
    (tracking / "aux" / "cgroup.procs").write_text(str(orphan.pid))

    removed = sweep_stale_cgroups()

    assert sorted(removed) == sorted(stale) and not any(top.exists() for top in stale)
    assert orphan.wait(10) == -9
    assert all(top.exists() for top in live) and set(live) <= set(suite_cgroups())


LEAVES_A_TREE = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/integration"]
from hostsetup import CgroupTree
tree = CgroupTree("dcfg-atexit")
print(" ".join(str(top) for top in tree.tops()), flush=True)
"""  # exits without kill_and_remove(): as a session that dies on an error would


def test_a_sandbox_cgroup_is_removed_at_exit_when_its_stop_never_ran():
    require_root("needs root (makes cgroups)")
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", LEAVES_A_TREE, str(tests)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    tops = [Path(top) for top in done.stdout.split()]
    assert tops and all(top.name.startswith(CGROUP_PREFIX) for top in tops), tops
    assert not any(top.exists() for top in tops), "left behind: " + ", ".join(map(str, tops))
