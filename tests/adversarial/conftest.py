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

from hostsetup import DOCKERDS  # noqa: E402
from support import started_sandbox  # noqa: E402


@pytest.fixture(scope="module", params=list(DOCKERDS.values()), ids=list(DOCKERDS))
def sandbox(request):
    """One sandbox per dockerd version (tests/integration/conftest.py: sandbox_for)."""
    from hostsetup import SandboxUnavailable
    from sandbox import sandbox_for

    yield from started_sandbox(
        lambda: sandbox_for(request.param), SandboxUnavailable, "integration sandbox"
    )


@pytest.fixture
def sb(sandbox):
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
