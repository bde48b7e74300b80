"""The .deb, built with dpkg-buildpackage and installed for real with apt-get, as root; then the
installed /usr/bin/dockercfg on Debian's own python3 libraries, and its removal.

The install runs in a private mount namespace with overlays over /usr, /etc and /var
(pkgtest.OverlayRoot): apt-get, dpkg and the maintainer scripts run for real, and this machine's
own /usr, /etc and dpkg database stay as they were (the tests check it)."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from pkgtest import REPO, OverlayRoot, need_programs, need_root, shown

CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
BIN = "/usr/bin/dockercfg"
VERSION = next(
    line.split('"')[1]
    for line in (REPO / "dockercfg/__init__.py").read_text().splitlines()
    if line.startswith("__version__")
)
FILES = [
    BIN,
    "/usr/share/man/man1/dockercfg.1.gz",
    "/usr/share/bash-completion/completions/dockercfg",
    "/usr/share/zsh/vendor-completions/_dockercfg",
    "/usr/share/fish/vendor_completions.d/dockercfg.fish",
    "/usr/lib/python3/dist-packages/dockercfg/schemas/daemon.schema.json",
]


def run(cmd, *, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    need_programs("dpkg-buildpackage", "dh", "pybuild", "git")
    out = tmp_path_factory.mktemp("deb")
    proc = run([str(REPO / "packaging/build-deb"), str(out)], timeout=600)
    assert proc.returncode == 0, shown(proc)
    return out / f"dockercfg_{VERSION}_all.deb"


def dpkg_status() -> str:
    return hashlib.sha256(Path("/var/lib/dpkg/status").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def root(deb: Path, tmp_path_factory):
    """The namespace with the .deb installed; removed again (and checked) at the end."""
    need_root()
    need_programs("unshare", "nsenter", "apt-get")
    status = dpkg_status()
    root = OverlayRoot(tmp_path_factory.mktemp("overlay"))
    apt = {**CLEAN_ENV, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        installing = ["apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb)]
        proc = root.run(installing, env=apt, timeout=600)
        assert proc.returncode == 0, shown(proc)
        root.status_before = status
        yield root
        proc = root.run(["apt-get", "remove", "-y", "-q", "dockercfg"], env=apt, timeout=300)
        assert proc.returncode == 0, shown(proc)
        left = [path for path in FILES if root.exists(path)]
        assert left == [], f"apt-get remove left {left}"
        state = root.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "dockercfg"]).stdout
        assert state in ("", "not-installed", "config-files"), state
    finally:
        root.close()
    assert dpkg_status() == status, "this machine's dpkg database changed"


@pytest.fixture(scope="module")
def installed(root: OverlayRoot) -> Path:
    return Path(BIN)


def in_root(root: OverlayRoot, cmd, *, env=None) -> subprocess.CompletedProcess:
    return root.run(cmd, env={**CLEAN_ENV, **(env or {})})


def test_deb_depends_on_debians_own_python_libraries(deb: Path):
    fields = run(["dpkg-deb", "-f", str(deb), "Depends", "Architecture", "Version"]).stdout
    needed = ("python3-typer", "python3-jsonschema", "python3-distro", "python3-cryptography")
    for package in needed:
        assert package in fields, fields
    # The D-Bus path and the other engines' formats are optional: recommended, not required.
    recommends = run(["dpkg-deb", "-f", str(deb), "Recommends"]).stdout
    for package in ("python3-pydbus", "python3-gi", "python3-tomlkit", "python3-ruamel.yaml"):
        assert package in recommends and package not in fields, (fields, recommends)
    assert "Architecture: all" in fields and f"Version: {VERSION}" in fields
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    for path in FILES:
        assert f".{path}" in listing, listing


def test_installed_version(root: OverlayRoot, installed: Path):
    proc = in_root(root, [installed, "--version"])
    assert proc.returncode == 0 and proc.stdout.strip() == f"dockercfg {VERSION}", shown(proc)
    for path in FILES:
        assert root.exists(path), path
    # the system python, not a venv
    assert root.read_bytes(BIN).decode().splitlines()[0] == "#!/usr/bin/python3"


def test_the_install_stays_in_its_namespace(root: OverlayRoot):
    assert root.exists(BIN) and not Path(FILES[-1]).exists()
    assert dpkg_status() == root.status_before, "this machine's dpkg database changed"
    inside = root.run(["dpkg-query", "-W", "-f=${Version}", "dockercfg"])
    assert inside.stdout == VERSION, shown(inside)


def test_installed_validate(root: OverlayRoot, installed: Path, tmp_path: Path):
    good = tmp_path / "good.json"
    good.write_text('{"insecure-registries": ["registry.lab:5000"]}\n')
    proc = in_root(root, [installed, "validate", good, "--json"])
    assert proc.returncode == 0, shown(proc)
    assert json.loads(proc.stdout)["error"] is None

    bad = tmp_path / "bad.json"
    bad.write_text('{"registry-mirror": ["https://m.lab"]}\n')
    proc = in_root(root, [installed, "validate", bad])
    assert proc.returncode == 1, shown(proc)
    assert "registry-mirrors" in proc.stdout + proc.stderr, shown(proc)


def test_installed_add_insecure_dry_run(root: OverlayRoot, installed: Path, tmp_path: Path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    cmd = [str(installed), "--root", str(tmp_path), "add-insecure", "registry.lab:5000"]
    proc = in_root(root, [*cmd, "--dry-run", "--json"])
    assert proc.returncode == 0, shown(proc)
    result = json.loads(proc.stdout)
    assert result["changed"] is True and '"registry.lab:5000"' in result["diff"]
    assert not (tmp_path / "etc/docker/daemon.json").exists()


def test_installed_man_page_is_the_clis_help(root: OverlayRoot, installed: Path):
    page = gzip.decompress(root.read_bytes(FILES[1])).decode()
    assert page.startswith(".TH DOCKERCFG 1")
    help_text = in_root(root, [installed, "--help"]).stdout
    for command in ("add-insecure", "remove-mirror", "validate", "rollback"):
        assert command in help_text and f'.SS "{command.replace("-", chr(92) + "-")}"' in page
    if root.exists("/usr/bin/man"):
        rendered = in_root(root, ["man", "-l", FILES[1]], env={"MANWIDTH": "100"})
        assert rendered.returncode == 0 and "add-insecure" in rendered.stdout, shown(rendered)


def test_installed_bash_completion_completes(root: OverlayRoot, installed: Path):
    script = (
        f"source {FILES[2]}; COMP_WORDS=(dockercfg add-); COMP_CWORD=1; "
        '_dockercfg_completion dockercfg; printf "%s\\n" "${COMPREPLY[@]}"; '
        "COMPREPLY=(); COMP_WORDS=(dockercfg add-insecure --dr); COMP_CWORD=2; "
        '_dockercfg_completion dockercfg; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = in_root(root, ["bash", "-c", script])
    assert proc.returncode == 0, shown(proc)
    assert proc.stdout.split() == ["add-insecure", "add-mirror", "--dry-run"], shown(proc)
