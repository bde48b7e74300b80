"""`dockercfg add-insecure registry.test:5000 --engine all` through the CLI on one host running
dockerd, containerd and podman at once, all real: before, all three fail to pull from the
plain-HTTP registry; after, `docker pull`, `ctr images pull --hosts-dir /etc/containerd/certs.d`
and `podman pull` all work; `remove-insecure --engine all` makes all three fail again. The same
for `trust-ca --engine all` against a real docker-registry serving TLS with a private CA.

The host is the dockerd sandbox (sandbox.py: dockerd under a private systemd manager, a private
/etc/docker and /run, the registry in its network namespace), plus private /etc/containerd and
/etc/containers, and a standalone containerd (its own root, state and socket) run as the
`containerd.service` of that same systemd manager — so the restart dockercfg does after setting
`config_path` is a real one. podman uses vfs storage under the sandbox's directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from engines_lab import CONTAINERD_TOML, IMAGE, oci_layout, podman_argv, with_own_var_lib
from hostsetup import bind, run, umount, wait_until
from sandbox import REPO
from support import unavailable
from tls_registry import Pki, start_registry

pytestmark = pytest.mark.integration

PLAIN = "registry.test:5000"  # the sandbox's own registry ([::1]:5000, plain HTTP)
TLS_PORT = 5453
TLS = f"registry.test:{TLS_PORT}"
CONTAINERD = "/usr/bin/containerd"
UNIT = """\
[Unit]
Description=a standalone containerd for the engines tests

[Service]
ExecStart={containerd} -c /etc/containerd/config.toml
StandardOutput=append:{t}/containerd.log
StandardError=append:{t}/containerd.log
"""
ENGINES_HERE = ("docker", "containerd", "podman")


@pytest.fixture(scope="module")
def host(sandbox):
    for tool in ("podman", "skopeo"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    if not Path(CONTAINERD).exists():
        unavailable(f"{CONTAINERD} is missing")
    for absent in ("/usr/bin/buildkitd", "/usr/local/bin/k3s", "/usr/local/bin/rke2"):
        if Path(absent).exists():  # --engine all would change this machine's own files
            unavailable(f"{absent} exists on this machine: the test would touch its /etc")
    t = sandbox.t / "engines"
    etc = SimpleNamespace(containerd=t / "etc-containerd", containers=t / "etc-containers")
    etc.containerd.mkdir(parents=True)
    shutil.copytree("/etc/containers", etc.containers, symlinks=True)
    (etc.containerd / "config.toml").write_text(CONTAINERD_TOML.format(t=t))
    mounted = []
    procs = []
    unit = sandbox.t / "cfg/systemd/user/containerd.service"
    try:
        for source, target in ((etc.containerd, "/etc/containerd"),
                               (etc.containers, "/etc/containers")):  # fmt: skip
            bind(source, target)
            mounted.append(target)
        unit.write_text(UNIT.format(containerd=CONTAINERD, t=t))
        sandbox.systemctl("daemon-reload")
        sandbox.systemctl("start", "containerd.service")
        socket = Path(f"{t}/containerd/containerd.sock")
        wait_until(socket.exists, 30, "containerd's socket")
        pki = Pki(t / "pki")
        ca = pki.ca()
        cert = pki.server("engines-tls")
        procs.append(
            start_registry(sandbox, "engines-tls", TLS_PORT, cert, cert.with_suffix(".key"))
        )
        layout = oci_layout(t / "oci")
        for registry in (PLAIN, TLS):
            copy = with_own_var_lib(
                ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:1",
                 f"docker://{registry}/{IMAGE}"]
            )  # fmt: skip
            wait_until(lambda c=copy: _in(sandbox, c, check=False).returncode == 0, 30,
                       f"the image pushed to {registry}")  # fmt: skip
        yield SimpleNamespace(sb=sandbox, t=t, socket=str(socket), ca=ca)
    finally:
        sandbox.systemctl("stop", "containerd.service", check=False)
        unit.unlink(missing_ok=True)
        sandbox.systemctl("daemon-reload", check=False)
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        for target in reversed(mounted):
            umount(target)


@pytest.fixture
def lab(host, sb):
    """Each test starts with no engine file of dockercfg's: dockerd reset by `sb`, containerd's
    config.toml back to the lab's own (config_path unset), no hosts.toml, no podman drop-in."""
    (Path("/etc/containerd/config.toml")).write_text(CONTAINERD_TOML.format(t=host.t))
    for directory in ("/etc/containerd/certs.d", "/etc/containers/certs.d"):
        shutil.rmtree(directory, ignore_errors=True)
    Path("/etc/containers/registries.conf.d/50-dockercfg.conf").unlink(missing_ok=True)
    for backups in Path("/etc/containers").rglob(".dockercfg-backups"):
        shutil.rmtree(backups)
    host.sb.systemctl("restart", "containerd.service")
    wait_until(Path(host.socket).exists, 30, "containerd's socket")
    return host


def _in(sb, cmd: list[str], timeout: float = 120, check: bool = True):
    """A client in the sandbox's network; not docker's client settings (podman reads
    DOCKER_CONFIG's config.json for credentials)."""
    env = {k: v for k, v in sb.env.items() if not k.startswith("DOCKER_")}
    return run(["nsenter", f"--net={sb.netns}", *cmd], timeout=timeout, check=check, env=env)


def tool(lab, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a sysadmin runs it, inside the sandbox's network namespace."""
    cmd = ["nsenter", f"--net={lab.sb.netns}", sys.executable, "-m", "dockercfg", *args]
    return run(cmd, env=lab.sb.env, timeout=300, check=False, cwd=REPO)


def docker_pull(lab, ref: str) -> subprocess.CompletedProcess:
    lab.sb.docker("rmi", ref, check=False)
    return lab.sb.docker("pull", ref, check=False, timeout=90)


def ctr_pull(lab, ref: str) -> subprocess.CompletedProcess:
    ctr = ["ctr", "-a", lab.socket]
    _in(lab.sb, [*ctr, "images", "rm", ref], check=False)
    pull = [*ctr, "images", "pull", "--snapshotter", "native", "--hosts-dir",
            "/etc/containerd/certs.d", ref]  # fmt: skip
    return _in(lab.sb, pull, timeout=90, check=False)


def podman_pull(lab, ref: str) -> subprocess.CompletedProcess:
    _in(lab.sb, podman_argv(lab.t, "rmi", "-f", ref), check=False)
    return _in(lab.sb, podman_argv(lab.t, "pull", "-q", ref), timeout=120, check=False)


def pulls(lab, ref: str) -> dict[str, subprocess.CompletedProcess]:
    return {
        "docker": docker_pull(lab, ref),
        "containerd": ctr_pull(lab, ref),
        "podman": podman_pull(lab, ref),
    }


def said(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-600:]}"


def containerd_pid(lab) -> str:
    return lab.sb.systemctl("show", "-p", "MainPID", "--value", "containerd.service").stdout


def test_add_insecure_engine_all_makes_dockerd_containerd_and_podman_pull(lab):
    ref = f"{PLAIN}/{IMAGE}"
    before = pulls(lab, ref)
    assert all(p.returncode != 0 for p in before.values()), {n: said(p) for n, p in before.items()}
    for name, proc in before.items():  # each fails for the reason dockercfg fixes
        assert "HTTP response to HTTPS client" in proc.stderr, (name, said(proc))
    pid = containerd_pid(lab)

    added = tool(lab, "add-insecure", PLAIN, "--engine", "all")
    assert added.returncode == 0, said(added)
    out = added.stdout
    assert "  docker: changed" in out, out
    assert "  containerd: changed (restart: containerd)" in out, out  # config_path was set
    assert "  podman: changed (none: read on every use)" in out, out
    assert "  k3s: skipped: not found on this host" in out, out
    assert containerd_pid(lab) != pid  # the restart was real: a new containerd read config_path
    dump = run([CONTAINERD, "-c", "/etc/containerd/config.toml", "config", "dump"]).stdout
    assert 'config_path = "/etc/containerd/certs.d"' in dump

    after = pulls(lab, ref)
    assert all(p.returncode == 0 for p in after.values()), {n: said(p) for n, p in after.items()}
    lab.sb.assert_registry_usable(f"{PLAIN}/pushed")  # dockerd pushes there too

    again = tool(lab, "--json", "add-insecure", PLAIN, "--engine", "all")
    assert '"changed": false' in again.stdout, said(again)

    removed = tool(lab, "remove-insecure", PLAIN, "--engine", "all")
    assert removed.returncode == 0, said(removed)
    for name in ENGINES_HERE:
        assert f"  {name}: changed" in removed.stdout, removed.stdout
    assert "containerd: changed (none: read on every use)" in removed.stdout  # hosts.toml only
    gone = pulls(lab, ref)
    assert all(p.returncode != 0 for p in gone.values()), {n: said(p) for n, p in gone.items()}


def test_trust_ca_engine_all_makes_all_three_pull_over_tls(lab):
    ref = f"{TLS}/{IMAGE}"
    before = pulls(lab, ref)
    assert all(p.returncode != 0 for p in before.values()), {n: said(p) for n, p in before.items()}
    for name, proc in before.items():
        assert "certificate" in proc.stderr or "x509" in proc.stderr, (name, said(proc))

    # podman's own certs.d alone (not dockerd's, which newer containers/image also read)
    only = tool(lab, "trust-ca", TLS, "--ca", str(lab.ca), "--engine", "podman")
    assert only.returncode == 0 and "  podman: changed" in only.stdout, said(only)
    assert "  docker: skipped: not asked (--engine)" in only.stdout, only.stdout
    assert podman_pull(lab, ref).returncode == 0
    assert docker_pull(lab, ref).returncode != 0 and ctr_pull(lab, ref).returncode != 0

    trusted = tool(lab, "--json", "trust-ca", TLS, "--ca", str(lab.ca), "--engine", "all")
    assert trusted.returncode == 0, said(trusted)
    result = json.loads(trusted.stdout)
    assert result["verified"] is True  # checked against the live registry first
    engines = result["data"]["engines"]
    assert (engines["docker"], engines["containerd"], engines["podman"]) == (
        "changed", "changed", "unchanged"
    )  # fmt: skip
    assert f"/etc/containerd/certs.d/{TLS}/ca.crt" in result["data"]["engine_files"]
    assert Path(f"/etc/containers/certs.d/{TLS}/ca.crt").read_bytes() == lab.ca.read_bytes()
    after = pulls(lab, ref)
    assert all(p.returncode == 0 for p in after.values()), {n: said(p) for n, p in after.items()}

    untrusted = tool(lab, "untrust-ca", TLS, "--engine", "all")
    assert untrusted.returncode == 0, said(untrusted)
    for name in ENGINES_HERE:
        assert f"  {name}: changed" in untrusted.stdout, untrusted.stdout
    gone = pulls(lab, ref)
    assert all(p.returncode != 0 for p in gone.values()), {n: said(p) for n, p in gone.items()}
