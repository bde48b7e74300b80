"""File-level engine tests. BuildKit and k3s/rke2 cannot run here: their tests check the files
against the formats of the projects' documented examples (moby/buildkit docs/buildkitd.toml.md,
k3s "Private Registry Configuration"). containerd and podman files are checked here too; their
real daemons are tested in tests/integration/test_engines_*.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit
from ruamel.yaml import YAML

from dockercfg.engines import ENGINES, find_all
from dockercfg.engines.base import CAS, INSECURE, MIRRORS, RegistryEdit
from dockercfg.engines.buildkit import Buildkit
from dockercfg.engines.containerd import Containerd
from dockercfg.engines.k3s import K3s, Rke2
from dockercfg.engines.podman import Podman

REG = "registry.lab:5000"


def _toml(text: str) -> dict:
    return tomlkit.parse(text).unwrap()


def _write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _apply(engine, root: Path, edits: list[RegistryEdit]):
    """Plan and write the changes by hand (these engines' daemons cannot run here)."""
    found = engine.find(root)
    assert found is not None
    changes = engine.plan(found, edits)
    for c in changes:
        if c.after is None:
            c.path.unlink()
        else:
            c.path.parent.mkdir(parents=True, exist_ok=True)
            c.path.write_bytes(c.after)
    return found, changes


def test_registry_is_explicit_and_find_all_reports_evidence(tmp_path):
    assert set(ENGINES) == {"containerd", "podman", "buildkit", "k3s", "rke2"}
    assert all(kind.name == name for name, kind in ENGINES.items())
    assert find_all(tmp_path) == {}
    _write(tmp_path, "/etc/rancher/k3s/registries.yaml", "")
    _write(tmp_path, "/usr/local/bin/rke2", "")
    found = find_all(tmp_path)
    assert set(found) == {"k3s", "rke2"}
    assert found["k3s"].evidence == ["config /etc/rancher/k3s/registries.yaml"]


BUILDKITD_DOC = """\
debug = true
# root is where all buildkit state is stored.
root = "/var/lib/buildkit"

[registry."docker.io"]
  mirrors = ["yourmirror.local:5000", "core.harbor.domain/proxy.docker.io"]
"""


def test_buildkit_file_level_insecure_mirror_ca_keep_the_documented_layout(tmp_path):
    config = _write(tmp_path, "/etc/buildkit/buildkitd.toml", BUILDKITD_DOC)
    engine = Buildkit()
    found, _ = _apply(
        engine,
        tmp_path,
        [
            RegistryEdit(INSECURE, "add", [REG]),
            RegistryEdit(MIRRORS, "add", ["https://mirror.lab"], for_registry=REG),
            RegistryEdit(CAS, "add", ["PEM\n"], for_registry=REG),
        ],
    )
    text = config.read_text()
    assert text.startswith(BUILDKITD_DOC)  # the admin's bytes and comments are kept
    doc = _toml(text)
    assert doc["registry"][REG] == {
        "http": True,
        "insecure": True,
        "mirrors": ["mirror.lab"],
        "ca": [f"/etc/buildkit/certs/{REG}/ca.crt"],
    }
    assert (tmp_path / f"etc/buildkit/certs/{REG}/ca.crt").read_text() == "PEM\n"
    assert engine.owned(found)[INSECURE] == [REG]
    _apply(
        engine,
        tmp_path,
        [
            RegistryEdit(INSECURE, "remove", [REG]),
            RegistryEdit(MIRRORS, "remove", ["https://mirror.lab"], for_registry=REG),
            RegistryEdit(CAS, "remove", [], for_registry=REG),
        ],
    )
    assert config.read_text() == BUILDKITD_DOC


def test_buildkit_applier_prints_the_buildx_recreate_command(tmp_path):
    from dockercfg.result import Result

    _write(tmp_path, "/etc/buildkit/buildkitd.toml", "")
    engine = Buildkit()
    found = engine.find(tmp_path)
    result = Result(command="t")
    assert engine.applier(found, []).apply("forward", result) == "none"
    assert "--buildkitd-config /etc/buildkit/buildkitd.toml" in result.warnings[0]
    assert "--config /etc/buildkit/buildkitd.toml" in result.warnings[0]


K3S_DOC = """\
# node registries, see the k3s docs
mirrors:
  docker.io:
    endpoint:
      - "https://mycustomreg.com:5000"
configs:
  "mycustomreg:5000":
    auth:
      username: xxxxxx # this is the registry username
      password: xxxxxx
"""


@pytest.mark.parametrize("kind", [K3s, Rke2])
def test_k3s_rke2_file_level_endpoints_and_tls_keep_comments(tmp_path, kind):
    path = f"/etc/rancher/{kind.name}/registries.yaml"
    config = _write(tmp_path, path, K3S_DOC)
    engine = kind()
    found, changes = _apply(
        engine,
        tmp_path,
        [
            RegistryEdit(INSECURE, "add", [REG]),
            RegistryEdit(MIRRORS, "add", ["https://mirror.lab"], for_registry=REG),
        ],
    )
    assert [c.shown for c in changes] == [path]
    text = config.read_text()
    assert "# this is the registry username" in text and "# node registries" in text
    doc = YAML(typ="safe").load(text)
    assert doc["mirrors"][REG]["endpoint"] == [
        "https://mirror.lab",
        f"https://{REG}",
        f"http://{REG}",
    ]
    assert doc["configs"][REG] == {"tls": {"insecure_skip_verify": True}}
    assert doc["mirrors"]["docker.io"]["endpoint"] == ["https://mycustomreg.com:5000"]
    assert engine.owned(found) == {
        INSECURE: [REG],
        MIRRORS: {"docker.io": ["https://mycustomreg.com:5000"], REG: ["https://mirror.lab"]},
    }
    assert engine.applier(found, changes).verb == "restart"
    _apply(
        engine,
        tmp_path,
        [
            RegistryEdit(INSECURE, "remove", [REG]),
            RegistryEdit(MIRRORS, "remove", ["https://mirror.lab"], for_registry=REG),
        ],
    )
    assert YAML(typ="safe").load(config.read_text()) == YAML(typ="safe").load(K3S_DOC)


def test_containerd_2x_config_path_goes_to_the_v3_images_table(tmp_path):
    _write(tmp_path, "/usr/bin/containerd", "")
    engine = Containerd()
    found = engine.find(tmp_path)
    found.version = "2.0.2"
    changes = engine.plan(found, [RegistryEdit(INSECURE, "add", [REG])])
    config = next(c for c in changes if c.shown == "/etc/containerd/config.toml")
    doc = _toml(config.after.decode())
    assert doc["version"] == 3
    images = doc["plugins"]["io.containerd.cri.v1.images"]
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"


def test_containerd_mirrors_come_first_and_docker_hub_uses_its_server(tmp_path):
    _write(
        tmp_path,
        "/etc/containerd/config.toml",
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
        '  config_path = "/etc/containerd/certs.d"\n',
    )
    engine = Containerd()
    _apply(engine, tmp_path, [RegistryEdit(INSECURE, "add", ["docker.io"])])
    found, changes = _apply(
        engine, tmp_path, [RegistryEdit(MIRRORS, "add", ["https://mirror.lab/"])]
    )
    assert [c.shown for c in changes] == ["/etc/containerd/certs.d/docker.io/hosts.toml"]
    text = (tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").read_text()
    doc = _toml(text)
    assert doc["server"] == "https://registry-1.docker.io"
    assert list(doc["host"]) == [
        "https://mirror.lab",
        "https://registry-1.docker.io",
        "http://registry-1.docker.io",
    ]
    assert doc["host"]["https://mirror.lab"]["capabilities"] == ["pull", "resolve"]
    assert engine.owned(found) == {
        INSECURE: ["docker.io"],
        MIRRORS: {"docker.io": ["https://mirror.lab"]},
    }


def test_containerd_deprecated_mirrors_conflict_with_config_path(tmp_path):
    _write(
        tmp_path,
        "/etc/containerd/config.toml",
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
        '  endpoint = ["https://mirror.lab"]\n',
    )
    engine = Containerd()
    found = engine.find(tmp_path)
    changes = engine.plan(found, [RegistryEdit(INSECURE, "add", [REG])])
    problems = engine.problems(found, changes)
    assert [p.code for p in problems] == ["containerd-mirrors-with-config-path"]
    assert problems[0].is_error and "hosts.toml" in problems[0].hint


def test_podman_dropin_is_v2_and_round_trips(tmp_path):
    _write(
        tmp_path,
        "/etc/containers/registries.conf",
        'unqualified-search-registries = ["docker.io"]\n',
    )
    engine = Podman()
    found, changes = _apply(
        engine,
        tmp_path,
        [
            RegistryEdit(INSECURE, "add", [REG]),
            RegistryEdit(MIRRORS, "add", ["http://mirror.lab:5000"], for_registry="docker.io"),
        ],
    )
    assert [c.shown for c in changes] == ["/etc/containers/registries.conf.d/50-dockercfg.conf"]
    doc = _toml(changes[0].after.decode())
    assert doc["registry"] == [
        {"location": REG, "insecure": True},
        {"location": "docker.io", "mirror": [{"location": "mirror.lab:5000", "insecure": True}]},
    ]
    assert engine.owned(found) == {
        INSECURE: [REG],
        MIRRORS: {"docker.io": ["http://mirror.lab:5000"]},
    }


def test_podman_rootless_file_that_replaces_the_system_one_is_reported(tmp_path):
    _write(tmp_path, "/etc/containers/registries.conf", "")
    _write(tmp_path, "/home/alice/.config/containers/registries.conf", "")
    engine = Podman()
    found = engine.find(tmp_path)
    problems = engine.problems(found, engine.plan(found, [RegistryEdit(INSECURE, "add", [REG])]))
    assert [p.code for p in problems] == ["podman-rootless-override"]
    assert problems[0].path == "/home/alice/.config/containers/registries.conf"
