"""Fixtures for the fleet tests: the Ansible venv (tests/run makes it) and a started fleet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "packaging"))  # pkgtest: ansible-playbook's environment

from fleet import Fleet, FleetUnavailable, Host  # noqa: E402
from pkgtest import ANSIBLE_VENV  # noqa: E402
from support import require_mount_ns, started_sandbox, unavailable  # noqa: E402

REPO = HERE.parents[1]
FETCH = REPO / "tests" / "fetch-debian13"


def debian13_root() -> str:
    """Debian 13's docker.io and containerd unpacked (tests/fetch-debian13 caches them)."""
    import subprocess

    done = subprocess.run(
        [str(FETCH), "docker.io", "containerd"], capture_output=True, text=True, timeout=600
    )
    root = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not Path(root, "usr/sbin/dockerd").exists():
        unavailable(f"Debian 13's dockerd is not available: {done.stderr.strip()[-300:]}")
    return root


@pytest.fixture(scope="session")
def ansible_bin() -> Path:
    bin_dir = ANSIBLE_VENV / "bin"
    if not (bin_dir / "ansible-playbook").exists():
        unavailable(f"{ANSIBLE_VENV} has no ansible-core (tests/run installs it)")
    return bin_dir


@pytest.fixture(scope="module")
def fleet():
    """h1, h2: Debian 12's dockerd 20.10; h3, h4: Debian 13's 26.1; h5: no Docker and no
    dockercfg (only sshd and sudo)."""
    require_mount_ns()
    new = debian13_root()
    hosts = [
        Host("h1", 1, "/usr/sbin/dockerd"),
        Host("h2", 2, "/usr/sbin/dockerd"),
        Host("h3", 3, f"{new}/usr/sbin/dockerd", extra_path=new),
        Host("h4", 4, f"{new}/usr/sbin/dockerd", extra_path=new),
        Host("h5", 5, None, installed=False),
    ]
    yield from started_sandbox(lambda: Fleet(hosts), FleetUnavailable, "fleet")
