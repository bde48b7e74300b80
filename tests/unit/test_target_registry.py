"""The Target registry: every target detection can choose has one class, and each class gives
what the commands ask of it (no caller branches on the target's name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockercfg import targets
from dockercfg.detect import TARGETS as DETECTABLE
from dockercfg.hostmodel import Host
from dockercfg.services import SignalService
from dockercfg.services.command import desktop
from dockercfg.targets.daemon_json import DaemonJson
from dockercfg.targets.docker_opts import DockerOpts


def host(tmp_path: Path, target: str) -> Host:
    name = "daemon.json" if target in ("daemon-json", "rootless", "snap", "desktop") else "docker"
    return Host(
        target=target,
        config_path=tmp_path / name,
        shown_path=f"/etc/{name}",
        root=tmp_path,
        variable="OPTIONS" if target == "sysconfig" else "DOCKER_OPTS",
    )


def test_every_detectable_target_has_a_class():
    assert set(targets.TARGETS) == set(DETECTABLE) - {"auto"}


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_each_target_reads_plans_renders_and_checks(tmp_path, name):
    h = host(tmp_path, name)
    target = targets.for_host(h)
    holds_flags = name in ("docker-opts", "sysconfig")
    assert target.holds_flags is holds_flags
    assert target.json_shown == ("/etc/docker/daemon.json" if holds_flags else h.shown_path)
    doc = target.read(b"")
    assert isinstance(doc, DockerOpts if holds_flags else DaemonJson)
    assert doc.problems == [] and doc.get_list("insecure-registries") is None
    edited = doc.with_list("insecure-registries", ["registry.lab:5000"])
    assert target.read(edited.render()).get_list("insecure-registries") == ["registry.lab:5000"]
    config, flags, _where = target.settings(edited)
    if holds_flags:
        assert config == {} and flags == ["dockerd", "--insecure-registry", "registry.lab:5000"]
        assert target.file_problems(b"not json", "x") == [] and target.dockerd_problem(b"") is None
    else:
        assert config == {"insecure-registries": ["registry.lab:5000"]}
        assert [p.code for p in target.file_problems(b"{", "x")] == ["syntax"]


def test_fix_is_the_documents_own():
    json_doc = targets.TARGETS["daemon-json"](host(Path("/nonexistent"), "daemon-json")).read(
        b'{"registry-mirror": "https://m.example"}\n'
    )
    fixed = json_doc.fix_common_mistakes()
    assert fixed.value == {"registry-mirrors": ["https://m.example/"]}
    assert fixed.warnings[0].startswith('moved "registry-mirror" (ignored by dockerd)')
    opts = targets.TARGETS["docker-opts"](host(Path("/nonexistent"), "docker-opts"))
    doc = opts.read(b'DOCKER_OPTS="--insecure-registries=a:5000,b:5000"\n')
    assert doc.fix_common_mistakes().flags == [
        "--insecure-registry", "a:5000", "--insecure-registry", "b:5000",
    ]  # fmt: skip


def test_every_service_says_whether_it_restarts():
    signal = SignalService(1)
    assert signal.can_restart is False and signal.can_reload() and signal.restart_by_hand
    old_desktop = desktop(Path("/nonexistent"))  # no `docker desktop` command here
    assert old_desktop.can_restart is False and not old_desktop.can_reload()
    assert "Docker Desktop" in old_desktop.restart_by_hand
