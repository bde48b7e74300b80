"""sdist and wheel with `python -m build` (the wheel holds the schemas), and `pipx install` of the
wheel with PyPI's newest typer/click, on which the CLI and gen-docs.py must work too."""

from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from pkgtest import REPO, copy_tree, shown, unavailable

SYSTEM_PYTHON = "/usr/bin/python3"


def run(cmd, *, env=None, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Path:
    """A throwaway venv with build and pipx (from the package index)."""
    venv = tmp_path_factory.mktemp("tools") / "venv"
    proc = run([SYSTEM_PYTHON, "-m", "venv", venv])
    if proc.returncode != 0:
        unavailable(f"python3 -m venv failed: {proc.stderr.strip()}")
    proc = run([venv / "bin/python", "-m", "pip", "install", "-q", "build", "pipx"])
    if proc.returncode != 0:
        unavailable(f"pip install build pipx failed (no package index?): {proc.stderr[-500:]}")
    return venv


@pytest.fixture(scope="module")
def dist(tools: Path, tmp_path_factory) -> Path:
    src = copy_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    proc = run([tools / "bin/python", "-m", "build", "--outdir", out, src])
    assert proc.returncode == 0, shown(proc)
    return out


def test_wheel_contains_the_package_and_the_schemas(dist: Path):
    (wheel,) = dist.glob("dockercfg-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert "dockercfg/schemas/daemon.schema.json" in names, names
    assert "dockercfg/cli.py" in names and "dockercfg/targets/daemon_json.py" in names
    assert "dockercfg = dockercfg.entry:main" in scripts


def test_sdist_contains_the_schemas(dist: Path):
    (sdist,) = dist.glob("dockercfg-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    assert any(n.endswith("/schemas/daemon.schema.json") for n in names), names


def test_pipx_install_with_newest_typer_runs_and_generates_docs(
    tools: Path, dist: Path, tmp_path: Path
):
    (wheel,) = dist.glob("dockercfg-*-py3-none-any.whl")
    env = {
        "PATH": f"{tools / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path / "home"),
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
        "PIPX_DEFAULT_PYTHON": SYSTEM_PYTHON,
        "LANG": "C.UTF-8",
    }
    proc = run([tools / "bin/pipx", "install", wheel], env=env)
    assert proc.returncode == 0, shown(proc)
    dockercfg = tmp_path / "bin/dockercfg"
    proc = run([dockercfg, "--version"], env=env)
    assert proc.returncode == 0 and "dockercfg" in proc.stdout, shown(proc)

    (tmp_path / "root/etc/docker").mkdir(parents=True)
    proc = run(
        [dockercfg, "--root", tmp_path / "root", "add-insecure", "r.lab:5000", "--dry-run",
         "--json"], env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout)["changed"] is True, shown(proc)

    # gen-docs.py on this newer typer/click (the venv pipx made; the checkout's own code)
    python = tmp_path / "pipx/venvs/dockercfg/bin/python"
    versions = run(
        [python, "-c", "import typer, click; print(typer.__version__, click.__version__)"]
    )
    proc = run([python, REPO / "packaging/gen-docs.py", tmp_path / "docs"], env=env)
    assert proc.returncode == 0, shown(proc) + versions.stdout
    page = (tmp_path / "docs/man/dockercfg.1").read_text()
    assert ".SH COMMANDS" in page and "add\\-insecure" in page, versions.stdout
    script = (tmp_path / "docs/completions/dockercfg.bash").read_text()
    bash = (
        f"source {tmp_path / 'docs/completions/dockercfg.bash'}; "
        "COMP_WORDS=(dockercfg add-); COMP_CWORD=1; _dockercfg_completion dockercfg; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = run(["bash", "-c", bash], env={**env, "PATH": f"{tmp_path / 'bin'}:{env['PATH']}"})
    assert proc.stdout.split() == ["add-insecure", "add-mirror"], shown(proc) + script
    print(f"\npipx venv: typer/click {versions.stdout.strip()}")
