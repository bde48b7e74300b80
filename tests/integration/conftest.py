"""Fixtures for the integration tests: one real sandbox per session (see sandbox.py).

When the machine cannot host it (not root, a program missing, no private mount namespace) the
tests are skipped with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from hostsetup import SandboxUnavailable, preflight
from sandbox import Sandbox


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"integration sandbox unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"integration sandbox unavailable: {reason}")


@pytest.fixture(scope="session")
def sandbox():
    try:
        preflight()
        box = Sandbox()
    except SandboxUnavailable as err:
        _unavailable(str(err))
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
def sb(sandbox: Sandbox) -> Sandbox:
    """The sandbox, reset: default docker.service, no daemon.json, no containers."""
    sandbox.reset()
    return sandbox
