"""The version is written once, in pyproject.toml; every other place that states it must agree.

Also: the D-Bus stack is recommended, not required, by the .deb and the .rpm: without it the tool
drives systemd through systemctl.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit

REPO = Path(__file__).resolve().parents[2]


def _pyproject_version() -> str:
    return str(tomlkit.parse((REPO / "pyproject.toml").read_text())["project"]["version"])


def _stated_versions() -> dict[str, str]:
    changelog = (REPO / "packaging/debian/changelog").read_text().splitlines()[0]
    spec = (REPO / "packaging/rpm/dockercfg.spec").read_text()
    init = (REPO / "dockercfg/__init__.py").read_text()
    found = {
        "debian/changelog": re.match(r"dockercfg \(([^)-]+)(-[^)]*)?\)", changelog).group(1),
        "rpm spec": re.search(r"^Version:\s*(\S+)", spec, re.M).group(1),
        "dockercfg/__init__.py": re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1),
    }
    for galaxy in REPO.glob("packaging/ansible/**/galaxy.yml"):
        found[str(galaxy.relative_to(REPO))] = re.search(
            r"^version:\s*(\S+)", galaxy.read_text(), re.M
        ).group(1)
    return found


def test_every_packaging_file_states_the_pyproject_version():
    version = _pyproject_version()
    stated = _stated_versions()
    assert any("galaxy.yml" in name for name in stated), "the Ansible collection was not found"
    assert {name: v for name, v in stated.items() if v != version} == {}


def test_dbus_stack_is_recommended_not_required():
    control = (REPO / "packaging/debian/control").read_text()
    binary = control.split("\nPackage: dockercfg\n", 1)[1]
    depends = re.search(r"^Depends:(.*?)^\S", binary, re.M | re.S).group(1)
    recommends = re.search(r"^Recommends:(.*?)^\S", binary, re.M | re.S).group(1)
    for name in ("python3-pydbus", "python3-gi"):
        assert name not in depends and name in recommends
    spec = (REPO / "packaging/rpm/dockercfg.spec").read_text()
    assert not re.search(r"^Requires:.*(pydbus|gobject)", spec, re.M)
    assert re.search(r"^Recommends:.*pydbus", spec, re.M)
