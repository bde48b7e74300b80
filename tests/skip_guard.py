"""Under CI=true a skipped, xfailed or xpassed test fails the run.

tests/support.py `unavailable` already fails under CI instead of skipping; this plugin catches
whatever still skips (a plain pytest.skip, a skip mark, a module-level skip, an xfail), so CI never
passes by not running a test. tests/conftest.py registers it; `pytest -p skip_guard` loads it
alone (tests/unit/test_skip_rule.py checks it that way).
"""

from __future__ import annotations

import os
import sys

import pytest

_escaped: list[str] = []


def _record(report) -> None:
    if report.skipped or hasattr(report, "wasxfail"):
        kind = "xfail" if hasattr(report, "wasxfail") else "skipped"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        _escaped.append(f"{kind} {report.nodeid}: {getattr(report, 'wasxfail', '') or reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.skipped:
        _record(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true" or not _escaped:
        return
    sys.stderr.write(
        f"\nERROR: {len(_escaped)} test(s) did not run under CI=true (a test that cannot run here"
        " must fail, through support.unavailable):\n  " + "\n  ".join(_escaped) + "\n"
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
