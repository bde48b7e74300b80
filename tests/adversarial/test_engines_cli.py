"""`--engine` through the CLI under --root (file level; the live pulls are in
tests/integration/test_engines_*.py): one transaction over dockerd's, containerd's and podman's
files — all or none, undone together by `rollback`, and killed at any file, settled together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from adv_support import cli, one_json, shown
from support import unavailable

ARGS = ("--target", "daemon-json")
REG = "lab.test:5000"
ENGINE_FILES = (
    "etc/containerd/certs.d/lab.test:5000/hosts.toml",
    "etc/containerd/config.toml",
    "etc/containers/registries.conf.d/50-dockercfg.conf",
)


def host(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text("{}\n")
    (root / "usr/bin").mkdir(parents=True)
    for binary in ("containerd", "podman"):  # what find() looks for: the real binaries
        real = shutil.which(binary)
        if real is None:
            unavailable(f"{binary} is not installed")
        shutil.copy(real, root / "usr/bin" / binary)
    return root


def files(root: Path) -> dict[str, bytes | None]:
    names = ("etc/docker/daemon.json", *ENGINE_FILES)
    return {n: (root / n).read_bytes() if (root / n).exists() else None for n in names}


def test_engine_all_changes_every_engine_in_one_transaction(tmp_path: Path) -> None:
    root = host(tmp_path)
    proc = cli(root, *ARGS, "--json", "add-insecure", REG, "--engine", "all")
    result = one_json(proc)
    assert proc.returncode == 0, shown(proc)
    assert result["data"]["engines"]["containerd"] == "changed"
    assert result["data"]["engines"]["podman"] == "changed"
    assert result["data"]["engines"]["k3s"].startswith("skipped")
    now = files(root)
    assert json.loads(now["etc/docker/daemon.json"])["insecure-registries"] == [REG]
    assert all(now[n] for n in ENGINE_FILES), now
    assert b'server = "https://lab.test:5000"' in now[ENGINE_FILES[0]]
    assert b"insecure = true" in now[ENGINE_FILES[2]]
    again = one_json(cli(root, *ARGS, "--json", "add-insecure", REG, "--engine", "all"))
    assert again["changed"] is False


def test_rollback_undoes_every_engine_at_once(tmp_path: Path) -> None:
    root = host(tmp_path)
    before = files(root)
    assert (
        cli(root, *ARGS, "add-insecure", REG, "--engine", "docker,containerd,podman").returncode
        == 0
    )
    proc = cli(root, *ARGS, "rollback")
    assert proc.returncode == 0, shown(proc)
    assert files(root) == {**before, "etc/docker/daemon.json": b"{}\n"}


@pytest.mark.parametrize("point", ["tx-written-1", "tx-written-2", "tx-written-3", "write-done"])
def test_killed_between_engines_files_the_next_run_settles_all(tmp_path: Path, point: str) -> None:
    root = host(tmp_path)
    before = files(root)
    killed = cli(
        root, *ARGS, "add-insecure", REG, "--engine", "all", env={"DOCKERCFG_FAULT": point}
    )
    assert killed.returncode == -9, shown(killed)
    assert cli(root, *ARGS, "recover").returncode == 0
    assert files(root) == before


def test_unknown_engine_and_a_mirror_for_another_registry_on_dockerd(tmp_path: Path) -> None:
    root = host(tmp_path)
    bad = cli(root, *ARGS, "add-insecure", REG, "--engine", "lxd")
    assert bad.returncode == 2 and "lxd" in bad.stderr, shown(bad)
    hub_only = cli(root, *ARGS, "add-mirror", "https://m.test", "--for", REG)
    assert hub_only.returncode == 2 and "only for Docker Hub" in hub_only.stderr
    proc = cli(root, *ARGS, "--json", "add-mirror", "https://m.test", "--for", REG,
               "--engine", "containerd")  # fmt: skip
    assert proc.returncode == 0, shown(proc)
    assert b"m.test" in (root / ENGINE_FILES[0]).read_bytes()
    assert json.loads((root / "etc/docker/daemon.json").read_text()) == {}
