"""Fixtures for the packaging tests: the Ansible venv, playbook runs, and the integration sandbox.

Tools these tests need (root, dpkg-buildpackage, .venv-ansible with ansible-core) are installed by
tests/run. Missing ones skip the test with the reason, except under CI=true, where that is a
failure. Nothing here touches the real $HOME, /etc or /run: playbooks get a private HOME and
ANSIBLE_LOCAL_TEMP under tmp, and every module call gets a --root prefix under tmp (the sandbox
test's /etc/docker is the sandbox's private mount).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from pkgtest import ANSIBLE_VENV, INTEGRATION, Ansible, unavailable

# The integration suite's sandbox fixtures (a real dockerd under systemd, a registry), reused.
sys.path.insert(0, str(INTEGRATION))
_spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
sandbox = _integration.sandbox
sb = _integration.sb


@pytest.fixture(scope="session")
def ansible_bin() -> Path:
    bin_dir = ANSIBLE_VENV / "bin"
    if not (bin_dir / "ansible-playbook").exists():
        unavailable(f"{ANSIBLE_VENV} has no ansible-core (tests/run installs it)")
    return bin_dir


@pytest.fixture
def ansible(ansible_bin: Path, tmp_path: Path) -> Ansible:
    return Ansible(ansible_bin, tmp_path)
