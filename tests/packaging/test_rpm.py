"""The RPM spec: rpmlint and rpmspec parse it. It is not built here: Debian has rpmbuild but not
Fedora's pyproject-rpm-macros, so %pyproject_* would stay unexpanded (see README-sections.md)."""

from __future__ import annotations

import subprocess

from pkgtest import REPO, need_programs, shown

SPEC = REPO / "packaging/rpm/dockercfg.spec"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120, check=False)


def test_rpmlint_finds_no_errors():
    need_programs("rpmlint")
    proc = run("rpmlint", str(SPEC))
    assert proc.returncode == 0 and " 0 errors" in proc.stdout, shown(proc)


def test_spec_parses_and_matches_the_package_version():
    need_programs("rpmspec")
    proc = run("rpmspec", "-q", "--srpm", "--qf", "%{name} %{version}\n", str(SPEC))
    assert proc.returncode == 0, shown(proc)
    version = next(
        line.split('"')[1]
        for line in (REPO / "dockercfg/__init__.py").read_text().splitlines()
        if line.startswith("__version__")
    )
    assert proc.stdout.split() == ["dockercfg", version], shown(proc)
