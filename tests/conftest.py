"""Makes tests/support.py importable from every test directory, and checks at the end of the run
that no test touched this machine's own Docker configuration, dockercfg's journal or cache."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

WATCHED = (
    Path("/etc/docker"),
    Path("/etc/default/docker"),
    Path("/etc/sysconfig/docker"),
    Path("/etc/containerd"),
    Path("/etc/containers"),
    # dockercfg's journal and version cache: tests/run mounts empty private ones over
    # /var/lib/dockercfg and /var/cache/dockercfg, and compares the machine's own after the run.
)


def _snapshot() -> dict[str, str]:
    """Every file under the watched paths with a hash of its bytes (or of its link target)."""
    seen: dict[str, str] = {}
    for top in WATCHED:
        paths = [top, *sorted(top.rglob("*"))] if top.is_dir() else [top]
        for path in paths:
            try:
                if path.is_symlink():
                    seen[str(path)] = "link:" + str(path.readlink())
                elif path.is_file():
                    seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                elif path.is_dir():
                    seen[str(path)] = "dir"
            except OSError as err:
                seen[str(path)] = f"unreadable: {err.strerror}"
    return seen


def pytest_configure(config: pytest.Config) -> None:
    import skip_guard  # under CI=true, a test that skipped or xfailed fails the run

    if not config.pluginmanager.has_plugin("skip_guard"):
        config.pluginmanager.register(skip_guard, "skip_guard")


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._host_docker_config = _snapshot()
    # Every dockercfg a test starts inherits these: its version cache and its journal live in
    # the run's own temp dir, never in this machine's /var/cache or /var/lib (a sandbox or a
    # test may still set its own).
    scratch = Path(tempfile.mkdtemp(prefix="dockercfg-tests-"))
    os.environ.setdefault("DOCKERCFG_CACHE_DIR", str(scratch / "cache"))
    os.environ.setdefault("DOCKERCFG_STATE_DIR", str(scratch / "state"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = getattr(session.config, "_host_docker_config", None)
    if before is None:
        return
    after = _snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        sys.stderr.write(
            "\nERROR: tests changed this machine's own Docker configuration: "
            + ", ".join(changed)
            + "\n"
        )
        session.exitstatus = 1
