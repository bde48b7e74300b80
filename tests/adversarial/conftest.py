"""Fixtures for the adversarial suite: private roots, unprivileged users, and the live sandbox.

The live tests reuse tests/integration/sandbox.py (a real dockerd under `systemd --user`, a real
registry, /etc/docker bind-mounted from a temp dir, all in pytest's private mount namespace). The
sandbox here is module-scoped, so it is torn down before tests/integration starts its own: two
sandboxes never stack their mounts over /etc/docker and /run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))  # sandbox.py, hostsetup.py

from support import started_sandbox  # noqa: E402


@pytest.fixture(scope="module")
def sandbox():
    from hostsetup import SandboxUnavailable, preflight
    from sandbox import Sandbox

    def make() -> Sandbox:
        preflight()
        return Sandbox()

    yield from started_sandbox(make, SandboxUnavailable, "integration sandbox")


@pytest.fixture
def sb(sandbox):
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
