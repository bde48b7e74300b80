"""Fixtures for the integration tests: one real sandbox per dockerd version (see sandbox.py).

Every test that uses `sandbox`/`sb` runs once on Debian 12's dockerd 20.10 and once on Debian 13's
26.1 (ids `dockerd20.10`, `dockerd26.1`: `-k dockerd26` runs one). When the machine cannot host
a sandbox (not root, a program missing, no private mount namespace, 26.1 not fetched) the tests
are skipped with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from hostsetup import DOCKERDS, SandboxUnavailable
from sandbox import Sandbox, sandbox_for
from support import started_sandbox

# The tool as root remembers `dockerd --version` in /var/cache/dockercfg: keep it off this machine
# for every test in the run, also those that run the tool outside a sandbox.
os.environ.setdefault("DOCKERCFG_CACHE_DIR", tempfile.mkdtemp(prefix="dockercfg-cache-"))


@pytest.fixture(scope="session", params=list(DOCKERDS.values()), ids=list(DOCKERDS))
def sandbox(request):
    yield from started_sandbox(
        lambda: sandbox_for(request.param), SandboxUnavailable, "integration sandbox"
    )


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
