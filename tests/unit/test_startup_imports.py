"""Start-up stays light: the commands users run most never load the heavy optional modules.

test_cli.py::test_cli_import_stays_light checks `import dockercfg.cli` in a fresh interpreter.
These tests run whole commands through `python -X importtime -m dockercfg`, so whatever click and
typer do while parsing, and whatever the operation imports lazily, is covered too:
- `--help` (top level and per command) loads none of jsonschema, gi, pydbus, distro, cryptography;
- `validate FILE` and `--root` commands load neither the D-Bus stack (gi, pydbus) nor distro:
  they never talk to systemd and never need the distribution's name.
The time each import takes is printed by benchmarks/startup.py, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CACHE_DIR = tempfile.mkdtemp(prefix="dockercfg-cache-")  # dockerd --version answers
HEAVY = ("jsonschema", "gi", "pydbus", "distro", "cryptography")
NO_DBUS_NO_DISTRO = ("gi", "pydbus", "distro")
COMMANDS = ("add-insecure", "remove-insecure", "add-mirror", "remove-mirror", "validate", "show")
VALID = {"insecure-registries": ["registry.internal:5000", "10.20.0.0/16"], "debug": False}


def imported(*args: str, cwd: Path | None = None) -> set[str]:
    """Every module `python -m dockercfg ARGS` imports (from -X importtime); checks exit 0."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "PYTHONPROFILEIMPORTTIME")
    }
    argv = [sys.executable, "-X", "importtime", "-m", "dockercfg", *args]
    env.setdefault("DOCKERCFG_CACHE_DIR", CACHE_DIR)  # the version cache: not /var/cache
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=cwd)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            modules.add(line.rsplit("|", 1)[1].strip())
    # -X importtime really reported: otherwise every "not imported" below would pass vacuously.
    assert "dockercfg.cli" in modules, proc.stderr[-2000:]
    return modules


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The names in `packages` that were imported, as packages or as any of their submodules."""
    return sorted({m.split(".")[0] for m in modules} & set(packages))


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(VALID, indent=2) + "\n")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root/etc/docker").mkdir(parents=True)
    (tmp_path / "root/etc/docker/daemon.json").write_text(json.dumps(VALID, indent=2) + "\n")
    return tmp_path / "root"


def test_top_level_help_imports_no_heavy_module():
    assert loaded(imported("--help"), HEAVY) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_imports_no_heavy_module(command):
    assert loaded(imported(command, "--help"), HEAVY) == []


def test_validate_imports_neither_dbus_nor_distro(valid_file):
    modules = imported("validate", str(valid_file), "--docker-version", "20.10.24")
    assert "dockercfg.validate" in modules  # the check itself ran
    assert loaded(modules, NO_DBUS_NO_DISTRO) == []


def test_dry_run_and_show_on_a_root_import_neither_dbus_nor_distro(root):
    for args in (
        ("add-insecure", "x.test:5000", "--dry-run", "--root", str(root)),
        ("show", "--root", str(root)),
    ):
        assert loaded(imported(*args), NO_DBUS_NO_DISTRO) == [], args
