"""Helpers every test directory shares: the skip-or-fail rule and starting a sandbox.

Tests that cannot run here (not root, a program missing, no mount namespace) are skipped with the
reason locally; under CI=true that is a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root(why: str = "needs root") -> None:
    if os.geteuid() != 0:
        unavailable(why)


@functools.lru_cache(maxsize=1)
def mount_ns_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a mount namespace: {probe.stderr.strip()}"
    return None


def require_mount_ns() -> None:
    problem = mount_ns_problem()
    if problem:
        unavailable(problem)


def started_sandbox(make: Callable[[], Any], unavailable_error: type, label: str) -> Iterator[Any]:
    """Build (`make` runs its preflight), start, yield and stop one sandbox; stop even on error."""
    try:
        box = make()
    except unavailable_error as err:
        unavailable(f"{label} unavailable: {err}")
    started = time.monotonic()
    try:
        box.start()
    except BaseException:
        box.stop()
        raise
    print(f"\n{label} {box.t} up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    yield box
    box.stop()


# The keys of every --json envelope (README, "JSON output").
RESULT_KEYS = frozenset({
    "schema_version", "command", "changed", "target", "file", "backup", "diff", "applied",
    "verified", "problems", "warnings", "error", "data",
})  # fmt: skip
