"""Fixtures for the adversarial suite: private roots, unprivileged users, and the live sandbox.

The live tests reuse tests/integration/sandbox.py (a real dockerd under `systemd --user`, a real
registry, /etc/docker bind-mounted from a temp dir, all in pytest's private mount namespace). The
sandbox here is module-scoped, so it is torn down before tests/integration starts its own: two
sandboxes never stack their mounts over /etc/docker and /run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))  # sandbox.py, hostsetup.py

from adv_support import unavailable  # noqa: E402


@pytest.fixture(scope="module")
def sandbox():
    from hostsetup import SandboxUnavailable, preflight
    from sandbox import Sandbox

    try:
        preflight()
        box = Sandbox()
    except SandboxUnavailable as err:
        unavailable(f"integration sandbox unavailable: {err}")
    started = time.monotonic()
    try:
        box.start()
    except BaseException:
        box.stop()
        raise
    print(f"\nsandbox {box.t} up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    yield box
    box.stop()


@pytest.fixture
def sb(sandbox):
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
