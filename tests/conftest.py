"""Makes tests/support.py importable from every test directory, and checks at the end of the run
that no test changed this machine: its /etc (Docker's and the engines' configuration included),
the installed programs and packages, dpkg's database, its mounts and cgroups (tests/fingerprint.py).
dockercfg's journal and cache (/var/lib/dockercfg, /var/cache/dockercfg) are private tmpfs in the
tests' mount namespace; tests/run compares the machine's own before and after the run.

Under CI=true a test that skipped or xfailed fails the run (tests/skip_guard.py); at the start
of a session as root, the cgroups a crashed earlier run left behind are removed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fingerprint import changes, fingerprint  # noqa: E402
from support import sweep_stale_cgroups  # noqa: E402

# Named apart in the report: the files a dockercfg bug would write.
WATCHED = (
    Path("/etc/docker"),
    Path("/etc/default/docker"),
    Path("/etc/sysconfig/docker"),
    Path("/etc/containerd"),
    Path("/etc/containers"),
)


def pytest_configure(config: pytest.Config) -> None:
    import skip_guard  # under CI=true, a test that skipped or xfailed fails the run

    if not config.pluginmanager.has_plugin("skip_guard"):
        config.pluginmanager.register(skip_guard, "skip_guard")


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() == 0:
        for path in sweep_stale_cgroups():
            sys.stderr.write(f"removed cgroup {path}, left behind by a test run that is gone\n")
    session.config._machine_before = fingerprint()
    # Every dockercfg a test starts inherits these: its version cache and its journal live in
    # the run's own temp dir, never in this machine's /var/cache or /var/lib (a sandbox or a
    # test may still set its own).
    scratch = Path(tempfile.mkdtemp(prefix="dockercfg-tests-"))
    os.environ.setdefault("DOCKERCFG_CACHE_DIR", str(scratch / "cache"))
    os.environ.setdefault("DOCKERCFG_STATE_DIR", str(scratch / "state"))
    # `sudo tests/run` elevates the suite, not the dockercfg runs inside it: a test that means
    # an invoking user sets these itself (or runs the real sudo).
    for name in ("SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND", "PKEXEC_UID", "DOAS_USER"):
        os.environ.pop(name, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = getattr(session.config, "_machine_before", None)
    if before is None:
        return
    changed = changes(before, fingerprint())
    if not changed:
        return
    docker = [c for c in changed if any(c == str(w) or c.startswith(f"{w}/") for w in WATCHED)]
    if docker:
        sys.stderr.write(
            "\nERROR: tests changed this machine's own Docker configuration: "
            + ", ".join(docker)
            + "\n"
        )
    sys.stderr.write(
        f"\nERROR: tests changed this machine ({len(changed)} entries): "
        + ", ".join(changed[:40])
        + (" ..." if len(changed) > 40 else "")
        + "\n"
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
