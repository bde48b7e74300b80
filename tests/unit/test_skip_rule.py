"""One skip rule: a test that cannot run goes through support.unavailable (a skip locally, a
failure under CI=true); no test skips or xfails by itself, and under CI=true the run fails if any
test was skipped anyway."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SKIPPERS = {"skip", "skipif", "importorskip", "xfail", "SkipTest", "skipTest", "skipUnless"}
ALLOWED = {TESTS / "support.py"}  # unavailable() itself


def plain_skips(source: str) -> list[str]:
    """Every use of a skip construct in a module: pytest.skip(...), @pytest.mark.skipif(...),
    pytest.importorskip, xfail, unittest's skips, and names imported from either."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in SKIPPERS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("pytest", "unittest", "_pytest"):
            names = [a.name for a in node.names if a.name in SKIPPERS]
            found += [f"line {node.lineno}: import {name}" for name in names]
    return found


def test_the_scan_finds_every_skip_construct():
    source = (
        "import pytest, unittest\nfrom pytest import skip\n"
        "@pytest.mark.skipif(True, reason='x')\ndef test_a(): pytest.skip('x')\n"
        "@pytest.mark.skip\ndef test_b(): pytest.importorskip('x')\n"
        "@pytest.mark.xfail\ndef test_c(): pytest.xfail('x')\n"
        "@unittest.skip('x')\ndef test_d(): raise unittest.SkipTest('x')\n"
    )
    assert len(plain_skips(source)) == 9, plain_skips(source)
    assert plain_skips("def test(): unavailable('no dockerd')\nx = 'pytest.skip'\n") == []


def test_no_test_skips_by_itself():
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if path not in ALLOWED and (found := plain_skips(path.read_text()))
    }
    assert offenders == {}, "skip through support.unavailable instead: " + repr(offenders)


PLAIN = """\
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("plain")

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False
"""


def guarded_run(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_plain.py").write_text(PLAIN)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(TESTS)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "skip_guard"]
    argv += ["--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_under_ci_a_skipped_or_xfailed_test_fails_the_run(tmp_path: Path):
    done = guarded_run(tmp_path, "true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 test(s) did not run under CI=true" in done.stderr, done.stderr
    assert "skipped test_plain.py::test_skips: Skipped: plain" in done.stderr, done.stderr
    assert "xfail test_plain.py::test_xfails: known" in done.stderr, done.stderr


def test_outside_ci_a_skip_is_only_reported(tmp_path: Path):
    done = guarded_run(tmp_path, "")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in done.stdout, done.stdout
