"""Bad input for the engines: one clear line, a distinct exit code, and nothing written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support import require_mount_ns

from dockercfg.engines.base import INSECURE, RegistryEdit
from dockercfg.engines.containerd import Containerd
from dockercfg.engines.podman import Podman
from dockercfg.errors import EXIT_ENVIRONMENT, EXIT_INVALID, DockercfgError

ADD = [RegistryEdit(INSECURE, "add", ["registry.lab:5000"])]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(engine, root: Path, code: int, *words: str) -> str:
    before = _tree(root)
    found = engine.find(root)
    assert found is not None
    with pytest.raises(DockercfgError) as caught:
        changes = engine.plan(found, ADD)
        engine.problems(found, changes)
    err = caught.value
    assert err.exit_code == code, err.message
    assert "\n" not in err.message and all(w in err.message for w in words), err.message
    assert _tree(root) == before
    return err.message


def _write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def test_containerd_config_that_does_not_parse_names_file_line_column(tmp_path):
    _write(tmp_path, "/etc/containerd/config.toml", 'version = 2\n[plugins\nx = "y"\n')
    message = _refused(Containerd(), tmp_path, EXIT_ENVIRONMENT, "/etc/containerd/config.toml:")
    assert message.startswith("/etc/containerd/config.toml:2:")


def test_hosts_toml_with_an_unknown_key_is_refused(tmp_path):
    _write(tmp_path, "/etc/containerd/config.toml", "version = 2\n")
    _write(
        tmp_path,
        "/etc/containerd/certs.d/registry.lab:5000/hosts.toml",
        'server = "https://registry.lab:5000"\nskip_verfy = true\n',
    )
    _refused(Containerd(), tmp_path, EXIT_INVALID, "unknown key 'skip_verfy'", "hosts.toml")


def test_registries_conf_that_does_not_parse(tmp_path):
    _write(tmp_path, "/etc/containers/registries.conf", '[[registry]\nlocation = "x"\n')
    message = _refused(Podman(), tmp_path, EXIT_ENVIRONMENT, "/etc/containers/registries.conf:")
    # tomlkit 0.11 (Debian 12) points at 2:1, newer ones at the end of the broken header (1:12).
    assert re.search(r"registries\.conf:(2:1|1:12): not valid TOML", message), message


def test_v1_registries_conf_is_never_mixed_with_a_v2_dropin(tmp_path):
    _write(
        tmp_path,
        "/etc/containers/registries.conf",
        "[registries.search]\nregistries = ['docker.io']\n[registries.insecure]\nregistries = []\n",
    )
    _refused(Podman(), tmp_path, EXIT_INVALID, "v1 format", "registries.conf")


def test_read_only_etc_containerd_refused_before_anything_is_written(tmp_path):
    require_mount_ns()
    _write(tmp_path, "/etc/containerd/config.toml", "version = 2\n")
    etc = tmp_path / "etc/containerd"
    subprocess.run(["mount", "--bind", str(etc), str(etc)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(etc)], check=True)
        _refused(Containerd(), tmp_path, EXIT_ENVIRONMENT, "read-only file system", "certs.d")
    finally:
        subprocess.run(["umount", str(etc)], check=True)
