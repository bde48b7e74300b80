"""Which processes named dockerd are "the daemon" dockercfg configures: only those that see the
files it edits (the same mount and PID namespaces and root), and never a `dockerd --validate`
run such as dockercfg's own. The processes are real (python3 run through a link named dockerd,
so that no daemon starts); the namespaces are made with unshare."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import require_root, unavailable

from dockercfg.hostfacts import LIVE, dockerd_processes

SLEEP = ("-c", "import time; time.sleep(100)")


@pytest.fixture
def fake_dockerd(tmp_path):
    binary = tmp_path / "dockerd"
    binary.symlink_to(os.path.realpath(sys.executable))  # a binary, not a wrapper script
    procs: list[subprocess.Popen] = []

    def start(*argv: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        proc = subprocess.Popen([*prefix, str(binary), *argv])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def pids_of(start_pid: int, timeout: float = 5.0) -> list[int]:
    """The pids dockerd_processes finds, once `start_pid` (or its exec'd child) is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(f"/proc/{start_pid}/comm").read_text().strip() == "dockerd":
            break
        time.sleep(0.02)
    return [p.pid for p in dockerd_processes(LIVE)]


def test_a_dockerd_in_our_namespace_is_found_one_in_another_is_not(fake_dockerd):
    require_root("unshare makes a mount namespace")
    if shutil.which("unshare") is None:
        unavailable("unshare is not installed")
    ours = fake_dockerd(*SLEEP)
    theirs = fake_dockerd(*SLEEP, prefix=("unshare", "--mount", "--propagation", "private"))
    time.sleep(0.3)
    found = pids_of(ours.pid)
    assert ours.pid in found
    assert theirs.pid not in found  # unshare execs the binary: the pid is the same process
    assert Path(f"/proc/{theirs.pid}/comm").read_text().strip() == "dockerd"


def test_a_validate_run_is_not_a_daemon(fake_dockerd):
    daemon = fake_dockerd(*SLEEP)
    validate = fake_dockerd(*SLEEP, "--validate")
    found = pids_of(validate.pid)
    assert validate.poll() is None and daemon.pid in found and validate.pid not in found
