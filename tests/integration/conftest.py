"""Fixtures for the integration tests: one real sandbox per session (see sandbox.py).

When the machine cannot host it (not root, a program missing, no private mount namespace) the
tests are skipped with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import pytest
from hostsetup import SandboxUnavailable, preflight
from sandbox import Sandbox
from support import started_sandbox


@pytest.fixture(scope="session")
def sandbox():
    def make() -> Sandbox:
        preflight()
        return Sandbox()

    yield from started_sandbox(make, SandboxUnavailable, "integration sandbox")


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
