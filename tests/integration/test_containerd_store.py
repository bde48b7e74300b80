"""The systemd story on dockerd 26.1 with the containerd image store
(`"features": {"containerd-snapshotter": true}`, snapshotter `native`): plain HTTP through
add-insecure, TLS with a self-signed CA through trust-ca, each proven by a push and the round
trip. (26.1 uses insecure-registries with this store; the "listed yet unused" case of newer
dockerds is in tests/unit/test_round_trip.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hostsetup import DOCKERD_26_CONTAINERD, SandboxUnavailable
from sandbox import REGISTRY, REPO, sandbox_for
from support import started_sandbox
from tls_registry import Pki, start_registry

from dockercfg.verify import round_trip

pytestmark = pytest.mark.integration

TLS = "registry.test:5443"
HTTP_ERROR = "server gave HTTP response to HTTPS client"


@pytest.fixture(scope="module")
def cstore():
    yield from started_sandbox(
        lambda: sandbox_for(DOCKERD_26_CONTAINERD), SandboxUnavailable, "containerd-store sandbox"
    )


@pytest.fixture
def cs(cstore):
    cstore.reset()  # keeps the features file (base_config)
    return cstore


def tool_json(sb, *args: str) -> dict:
    cmd = ["nsenter", f"--net={sb.netns}", sys.executable, "-m", "dockercfg", *args, "--json"]
    proc = subprocess.run(cmd, env=sb.env, capture_output=True, text=True, timeout=180,
                          cwd=REPO, stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_the_daemon_uses_the_containerd_image_store(cs):
    out = cs.docker("info", "--format", "{{.Driver}} {{json .DriverStatus}}").stdout
    assert out.split(" ", 1)[0] == "native", out
    assert ["driver-type", "io.containerd.snapshotter.v1"] in json.loads(out.split(" ", 1)[1])


def test_add_insecure_over_plain_http_keeps_the_feature_and_push_works(cs):
    code, out = cs.push()
    assert code != 0 and HTTP_ERROR in out, out
    pid = cs.dockerd_pid()

    result = tool_json(cs, "add-insecure", REGISTRY)

    assert result["changed"] is True and result["verified"] is True, result
    assert result["applied"] == "reload" and cs.dockerd_pid() == pid
    assert json.loads(cs.daemon_json.read_text()) == {
        "features": {"containerd-snapshotter": True},
        "insecure-registries": [REGISTRY],
    }
    cs.assert_registry_usable()
    found = round_trip(str(cs.t / "docker.sock"), REGISTRY, timeout=20)
    assert (found.reachable, found.kind) == (True, "reached"), found


def test_trust_ca_over_tls_with_a_self_signed_ca_and_push_works(cs):
    pki = Pki(cs.t / "pki-store")
    ca = pki.ca()
    chain = pki.chain("chain", pki.server("server"), ca)
    proc = start_registry(cs, "store-tls", 5443, chain, pki.dir / "server.key")
    try:
        ref = f"{TLS}/x"
        deadline = time.monotonic() + 30
        while True:
            code, out = cs.push(ref)
            if "connection refused" not in out or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # the registry is still starting
        assert code != 0 and "x509" in out, out

        result = tool_json(cs, "trust-ca", TLS, "--ca", str(ca))

        assert result["changed"] is True, result
        code, out = cs.push(ref)
        assert code == 0, out
        code, out = cs.pull(ref)
        assert code == 0, out
        found = round_trip(str(cs.t / "docker.sock"), TLS, timeout=20)
        assert (found.reachable, found.kind) == (True, "reached"), found
    finally:
        proc.terminate()
        proc.wait(10)
