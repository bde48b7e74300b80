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


@pytest.fixture(scope="module", params=list(DOCKERDS.values()), ids=list(DOCKERDS))
def sysv_box(request):
    """Debian's real /etc/init.d/docker driving dockerd (tests/integration/sysv_sandbox.py)."""
    from hostsetup import SandboxUnavailable, dockerd_problem
    from sysv_sandbox import SysvSandbox, sysv_preflight

    def make() -> SysvSandbox:
        sysv_preflight()
        problem = dockerd_problem(request.param[0])
        if problem:
            raise SandboxUnavailable(problem)
        return SysvSandbox(request.param[0])

    yield from started_sandbox(make, SandboxUnavailable, "sysv sandbox")
