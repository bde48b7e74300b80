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
from tls_registry import Pki

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


def no_journal(root: Path) -> bool:
    """No journal or history entry was written (trust-ca may create the state directory and
    its lock first: it records the certs.d directories it is about to create there)."""
    state = root / "var/lib/dockercfg"
    return not [p for p in state.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


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


def test_default_is_dockerd_and_the_engines_that_pull_for_kubernetes(tmp_path: Path) -> None:
    root = host(tmp_path)
    plain = one_json(cli(root, *ARGS, "--json", "add-insecure", REG))
    engines = plain["data"]["engines"]
    assert engines["docker"] == "changed"
    assert engines["containerd"].startswith("skipped: found, but only engines that pull for")
    assert engines["podman"].startswith("skipped: found")
    assert not (root / ENGINE_FILES[0]).exists() and not (root / ENGINE_FILES[2]).exists()
    assert plain["warnings"] == [w for w in plain["warnings"] if "containerd" not in w]

    (root / "usr/bin/kubelet").write_bytes(b"")  # a Kubernetes node: kubelet uses the CRI
    text = cli(root, *ARGS, "add-insecure", "node.test:5000")
    assert text.returncode == 0, shown(text)
    assert "  containerd: changed" in text.stdout and "  podman: skipped: found" in text.stdout
    assert (root / "etc/containerd/certs.d/node.test:5000/hosts.toml").exists()
    assert not (root / ENGINE_FILES[2]).exists()
    checked = one_json(cli(root, *ARGS, "--json", "validate"))  # the default: containerd too
    assert checked["data"]["engines"] == ["containerd"], checked
    seen = one_json(cli(root, *ARGS, "--json", "show"))["data"]["engines"]
    assert seen["containerd"]["insecure_registries"] == ["node.test:5000"]

    (root / "etc/containerd/config.toml").write_text(
        'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
    )  # containerd.io's own default: containerd is only dockerd's runtime
    off = one_json(cli(root, *ARGS, "--json", "add-insecure", "off.test:5000"))
    assert off["data"]["engines"]["containerd"].startswith("skipped: found")


def test_trust_ca_and_untrust_ca_take_engine_in_one_transaction(tmp_path: Path) -> None:
    root = host(tmp_path)
    (root / "usr/bin/buildkitd").write_bytes(b"")  # BuildKit cannot run here: file level only
    ca = Pki(tmp_path / "pki").ca()
    before = files(root)
    reg = "tls.test:5443"
    proc = cli(root, *ARGS, "--json", "trust-ca", reg, "--ca", str(ca), "--offline",
               "--engine", "all")  # fmt: skip
    result = one_json(proc)
    assert proc.returncode == 0, shown(proc)
    assert result["changed"] is True and result["data"]["transaction"]
    engines = result["data"]["engines"]
    assert {engines[n] for n in ("docker", "containerd", "podman", "buildkit")} == {"changed"}
    assert engines["k3s"] == "skipped: not found on this host"
    pem = ca.read_bytes()
    for path in (
        f"etc/docker/certs.d/{reg}/ca.crt",
        f"etc/containerd/certs.d/{reg}/ca.crt",
        f"etc/containers/certs.d/{reg}/ca.crt",
        f"etc/buildkit/certs/{reg}/ca.crt",
    ):
        assert (root / path).read_bytes() == pem, path
    hosts = (root / f"etc/containerd/certs.d/{reg}/hosts.toml").read_text()
    assert f'ca = "/etc/containerd/certs.d/{reg}/ca.crt"' in hosts
    buildkitd = (root / "etc/buildkit/buildkitd.toml").read_text()
    assert f'ca = ["/etc/buildkit/certs/{reg}/ca.crt"]' in buildkitd

    text = cli(root, *ARGS, "untrust-ca", reg, "--engine", "all")
    assert text.returncode == 0, shown(text)
    assert "  containerd: changed" in text.stdout and "  buildkit: changed" in text.stdout
    for sub in ("docker/certs.d", "containerd/certs.d", "containers/certs.d", "buildkit/certs"):
        assert not (root / "etc" / sub / reg / "ca.crt").exists(), sub
    assert not (root / f"etc/containerd/certs.d/{reg}/hosts.toml").exists()
    assert files(root)["etc/docker/daemon.json"] == before["etc/docker/daemon.json"]
    again = one_json(cli(root, *ARGS, "--json", "untrust-ca", reg, "--engine", "all"))
    assert again["changed"] is False


def test_trust_ca_refused_by_one_engine_writes_nothing_anywhere(tmp_path: Path) -> None:
    root = host(tmp_path)
    ca = Pki(tmp_path / "pki").ca()
    reg = "tls.test:5443"
    bad = root / f"etc/containerd/certs.d/{reg}/hosts.toml"
    bad.parent.mkdir(parents=True)
    bad.write_text(f'server = "https://{reg}"\nskip_verfy = true\n')  # misspelt: refused
    etc = root / "etc"  # the copied binaries in usr/bin are left out: large, and never written
    before = {str(p): p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    proc = cli(root, *ARGS, "trust-ca", reg, "--ca", str(ca), "--offline", "--engine", "all")
    assert proc.returncode == 1, shown(proc)
    assert proc.stderr.count("\n") == 1 and "skip_verfy" in proc.stderr, shown(proc)
    after = {str(p): p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    assert sorted(after) == sorted(before) and after == before
    assert not (root / f"etc/docker/certs.d/{reg}").exists()
    assert no_journal(root)


def test_show_detect_and_validate_take_engine(tmp_path: Path) -> None:
    root = host(tmp_path)
    assert cli(root, *ARGS, "add-insecure", REG, "--engine", "all").returncode == 0

    view = one_json(cli(root, *ARGS, "--json", "show", "--engine", "all"))
    assert view["data"]["insecure_registries"][0]["value"] == REG  # dockerd's, as before
    engines = view["data"]["engines"]
    assert engines["containerd"]["insecure_registries"] == [REG]
    assert engines["podman"]["insecure_registries"] == [REG]
    only = cli(root, *ARGS, "show", "--engine", "podman")
    assert only.returncode == 0 and only.stdout == f"podman: insecure {REG}\n", shown(only)

    found = one_json(cli(root, *ARGS, "--json", "detect"))["data"]["engines"]
    assert (
        found["containerd"]["found"]
        and "binary /usr/bin/containerd" in (found["containerd"]["evidence"])
    )
    assert found["containerd"]["in_default"] is False and found["k3s"] == {"found": False}
    assert list(one_json(cli(root, *ARGS, "--json", "detect", "--engine", "podman"))["data"][
        "engines"]) == ["podman"]  # fmt: skip

    ok = cli(root, *ARGS, "validate", "--engine", "all")
    assert ok.returncode == 0 and "ok: the files of containerd, podman parse" in ok.stdout

    (root / "etc/containers").mkdir(exist_ok=True)
    (root / "etc/containers/registries.conf").write_text("[registries.insecure]\nregistries = []\n")
    hosts = root / ENGINE_FILES[0]
    hosts.write_text(hosts.read_text() + "skip_verfy = true\n")
    before = files(root)
    bad = cli(root, *ARGS, "validate", "--engine", "containerd,podman")
    assert bad.returncode == 1, shown(bad)
    assert "unknown key 'skip_verfy'" in bad.stdout and "v1 format" in bad.stdout, bad.stdout
    assert bad.stderr == "dockercfg: error: containerd, podman: 2 error(s)\n", bad.stderr
    assert files(root) == before
    (root / "etc/containerd/config.toml").write_text("[plugins\n")
    broken = one_json(cli(root, *ARGS, "--json", "validate", "--engine", "containerd"))
    assert "config.toml:1:" in broken["problems"][0]["message"]


BAD_INPUT = {  # what is wrong -> (file, text, exit code, words of the one line)
    "config.toml does not parse": (
        "etc/containerd/config.toml", "version = 2\n[plugins\n", 3, ("config.toml:2:",)),
    "registries.conf does not parse": (
        "etc/containers/registries.conf", '[[registry]\nlocation = "x"\n', 3,
        ("registries.conf:", "not valid TOML")),
    "v1 registries.conf": (
        "etc/containers/registries.conf", "[registries.insecure]\nregistries = []\n", 1,
        ("v1 format",)),
    "hosts.toml with an unknown key": (
        "etc/containerd/certs.d/tls.test:5443/hosts.toml",
        'server = "https://tls.test:5443"\nskip_verfy = true\n', 1, ("unknown key 'skip_verfy'",)),
    "read-only /etc/containerd": (
        "etc/containerd/config.toml", "version = 2\n", 3, ("read-only file system",)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
@pytest.mark.parametrize("command", ["trust-ca", "add-insecure"])
def test_bad_engine_input_is_one_line_a_distinct_code_and_nothing_written(
    tmp_path: Path, case: str, command: str
) -> None:
    import subprocess

    from support import require_mount_ns

    root = host(tmp_path)
    name, text, code, words = BAD_INPUT[case]
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    args = (
        ["trust-ca", "tls.test:5443", "--ca", str(Pki(tmp_path / "pki").ca()), "--offline"]
        if command == "trust-ca"
        else ["add-insecure", "tls.test:5443"]
    )
    etc = root / "etc"
    before = {str(p): p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    ro = case.startswith("read-only")
    if ro:
        require_mount_ns()
        directory = str(root / "etc/containerd")
        subprocess.run(["mount", "--bind", directory, directory], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
    try:
        proc = cli(root, *ARGS, *args, "--engine", "all")
    finally:
        if ro:
            subprocess.run(["umount", directory], check=True)
    assert proc.returncode == code, shown(proc)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("dockercfg: error: ")
    assert all(w in proc.stderr for w in words), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    after = {  # the lock beside daemon.json is taken before the engines are read
        str(p): p.read_bytes()
        for p in etc.rglob("*")
        if p.is_file() and not p.name.endswith(".dockercfg.lock")
    }
    assert sorted(after) == sorted(before) and after == before
    assert no_journal(root)


def test_a_kubernetes_node_without_docker_is_changed_by_the_default(tmp_path: Path) -> None:
    root = tmp_path / "node"
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/k3s").write_bytes(b"")  # k3s cannot run here: file level only
    yaml = root / "etc/rancher/k3s/registries.yaml"
    proc = cli(root, "add-insecure", REG)  # no --target: detection finds no Docker at all
    assert proc.returncode == 0, shown(proc)
    assert "  docker: skipped: no Docker installation on this host" in proc.stdout, proc.stdout
    assert "  k3s: changed" in proc.stdout and f"http://{REG}" in yaml.read_text()
    assert not (root / "etc/docker").exists()
    assert one_json(cli(root, "--json", "add-insecure", REG))["changed"] is False

    ca = Pki(tmp_path / "pki").ca()
    trusted = cli(root, "trust-ca", "tls.test:5443", "--ca", str(ca), "--offline")
    assert trusted.returncode == 0, shown(trusted)
    assert "ca_file: /etc/rancher/k3s/certs/tls.test:5443/ca.crt" in yaml.read_text()
    assert "/etc/docker" not in trusted.stdout, trusted.stdout
    untrusted = cli(root, "untrust-ca", "tls.test:5443")
    assert untrusted.returncode == 0 and "  k3s: changed" in untrusted.stdout, shown(untrusted)
    assert "ca_file" not in yaml.read_text()

    docker_only = cli(root, "add-insecure", REG, "--engine", "docker")
    assert docker_only.returncode == 3 and "no Docker installation" in docker_only.stderr
    (root / "usr/local/bin/k3s").unlink()
    yaml.unlink()
    nothing = cli(root, "add-insecure", REG)
    assert nothing.returncode == 3 and nothing.stderr.count("\n") == 1, shown(nothing)
