"""probe and the live checks of trust-ca, against real servers on 127.0.0.1.

The registries are the machine's docker-registry (certkit.RealRegistry) serving certificates from
the `openssl` CLI; tls_registry.FakeServer stands in only for what cannot run here (Harbor, and
the SSH banner and silent port, which need no registry). Only loopback is used: name-resolution
failures and slow resolvers are simulated, never looked up.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from certkit import REPO, Pki, RealRegistry
from support import unavailable
from tls_registry import FakeServer  # noqa: E402 - certkit puts tests/integration on sys.path

from dockercfg import netprobe as net
from dockercfg import probe, x509
from dockercfg import registryhttp as rhttp
from dockercfg.errors import EnvironmentProblem, UsageError

LOCAL = ("DNS:localhost", "IP:127.0.0.1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    if shutil.which("openssl") is None:
        unavailable("needs the openssl CLI")
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.ca()
    pki.ca("other", cn="some other CA")
    pki.server("server", names=LOCAL)
    pki.chain("chain", pki.dir / "server.pem", pki.dir / "ca.pem")
    pki.server("self", issuer=None, names=LOCAL)
    pki.server("expired", names=LOCAL, days=(-400, -30))
    pki.server("elsewhere", names=("DNS:registry.test",))
    return pki


def tls_server(pki: Pki, cert: str, mode: str = "registry", key: str | None = None):
    """The real docker-registry with these certificates; FakeServer only for what cannot run
    here (Harbor)."""
    paths = pki.dir / f"{cert}.pem", pki.dir / f"{key or cert}.key"
    if mode == "registry":
        return RealRegistry(pki.dir, *paths)
    return FakeServer(mode, cert=paths[0], key=paths[1])


def endpoint(server: FakeServer) -> net.Endpoint:
    return net.parse_endpoint(f"127.0.0.1:{server.port}")


def address() -> tuple:
    return net.resolve("127.0.0.1")[0]


def certificate(path: Path) -> x509.Certificate:
    return x509.parse_der(ssl.PEM_cert_to_DER_cert(path.read_text()))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the with block ends


# Arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name, host, port",
    [
        ("registry.test:5443", "registry.test:5443", "registry.test", 5443),
        ("registry.test", "registry.test", "registry.test", None),
        ("10.1.2.3:5000", "10.1.2.3:5000", "10.1.2.3", 5000),
        ("[::1]:5000", "[::1]:5000", "::1", 5000),
        ("::1", "[::1]", "::1", None),
        (" registry.test:5443 ", "registry.test:5443", "registry.test", 5443),
    ],
)
def test_parse_endpoint(text, name, host, port):
    ep = net.parse_endpoint(text)
    assert (ep.name, ep.host, ep.port) == (name, host, port)
    assert ep.tls_port == (port or 443) and ep.http_port == (port or 80)


@pytest.mark.parametrize(
    "text", ["https://r.test", "r.test/x", "10.0.0.0/8", "-r.test", "r.test:0", "r:99999", ""]
)
def test_parse_endpoint_refuses(text):
    with pytest.raises(UsageError):
        net.parse_endpoint(text)


def test_www_authenticate():
    value = 'Bearer realm="https://auth.test/token",service="registry.test",scope=repository:x:pull'
    assert net.parse_www_authenticate(value) == {
        "scheme": "Bearer",
        "realm": "https://auth.test/token",
        "service": "registry.test",
        "scope": "repository:x:pull",
    }
    assert net.parse_www_authenticate('Basic realm="Registry Realm"')["realm"] == "Registry Realm"
    assert net.parse_www_authenticate("") is None and net.parse_www_authenticate(None) is None


# The daemon's judgement (moby's isSecureIndex) ---------------------------------------------


@pytest.mark.parametrize(
    "registry, addresses, entries, insecure",
    [
        ("myreg:5000", ["10.0.0.5"], ["myreg:5000"], True),
        ("myreg:5000", ["10.0.0.5"], ["myreg"], False),  # names must match exactly
        ("myreg", ["10.0.0.5"], ["myreg:5000"], False),
        ("myreg:5000", ["10.0.0.5"], ["10.0.0.0/8"], True),
        ("myreg:5000", ["192.168.1.1", "10.0.0.5"], ["10.0.0.0/8"], True),  # any address
        ("[::1]:5000", ["::1"], ["127.0.0.0/8"], False),  # dockerd < 28
        ("[::1]:5000", ["::1"], ["127.0.0.0/8", "::1/128"], True),  # dockerd >= 28
        ("x:1", ["::ffff:10.1.1.1"], ["10.0.0.0/8"], True),  # Go unmaps IPv4-mapped addresses
        ("x:1", ["fe80::1%lo"], ["fe80::/10"], True),
        ("x:1", ["10.0.0.5"], [], False),
    ],
)
def test_insecure_judgement(registry, addresses, entries, insecure):
    verdict = probe.insecure_judgement(net.parse_endpoint(registry), addresses, entries)
    assert verdict["insecure"] is insecure, verdict
    assert verdict["reason"]


@pytest.fixture
def full_chain() -> None:
    if sys.version_info < (3, 10):
        unavailable("the chain beyond the leaf needs ssl's get_unverified_chain (Python 3.10+)")


# TLS ---------------------------------------------------------------------------------------


def test_chain_and_verdicts(pki, full_chain):
    system = net.client_context(verify=True, system=True)
    ca = (pki.dir / "ca.pem").read_text()
    with tls_server(pki, "chain", key="server") as server:
        ep = endpoint(server)
        report = net.inspect_tls(ep, address(), system)
        assert report.status == "unknown-ca" and report.version in ("TLSv1.2", "TLSv1.3")
        assert [c.subject for c in report.chain] == ["CN=localhost", "CN=dockercfg test CA"]
        trusting = net.client_context(verify=True, cadata=ca)
        assert net.inspect_tls(ep, address(), trusting).status == "ok"
        other = net.client_context(verify=True, cadata=(pki.dir / "other.pem").read_text())
        assert net.inspect_tls(ep, address(), other).status == "unknown-ca"
    with tls_server(pki, "self") as server:
        report = net.inspect_tls(endpoint(server), address(), system)
        assert report.status == "self-signed" and report.chain[0].self_issued, report.detail
    with tls_server(pki, "expired") as server:
        report = net.inspect_tls(endpoint(server), address(), net.client_context(verify=True,
                                 cadata=ca))  # fmt: skip
        assert report.status == "expired" and "expired on" in report.detail
    with tls_server(pki, "elsewhere") as server:
        report = net.inspect_tls(endpoint(server), address(), net.client_context(verify=True,
                                 cadata=ca))  # fmt: skip
        assert report.status == "hostname-mismatch"
        assert report.detail == "the certificate is for DNS:registry.test, not 127.0.0.1"


def test_expired_and_self_signed_reports_expired_first(pki, tmp_path):
    """OpenSSL stops at "self-signed"; trusting it would not help, so "expired" wins."""
    old = Pki(tmp_path)
    old.server("old", issuer=None, names=LOCAL, days=(-400, -30))
    with RealRegistry(tmp_path, tmp_path / "old.pem", tmp_path / "old.key") as server:
        report = net.inspect_tls(endpoint(server), address(), net.client_context(verify=True))
    assert report.status == "expired", report.detail


def test_plain_http_banner_and_silence(monkeypatch, tmp_path):
    monkeypatch.setattr(net, "TLS_TIMEOUT", 0.5)
    monkeypatch.setattr(net, "HTTP_TIMEOUT", 0.5)
    with RealRegistry(tmp_path) as server:
        ep = endpoint(server)
        assert net.inspect_tls(ep, address(), net.client_context(verify=False)).status == "no-tls"
        api = rhttp.inspect_api(ep, server.port, lambda: rhttp.plain_socket(address(), server.port))
        assert api == {"status": 200, "api_version": "registry/2.0", "auth": None,
                       "registry": True, "product": None}  # fmt: skip
    with FakeServer("banner") as server, pytest.raises(rhttp.NotHttp, match="an SSH server"):
        rhttp.plain_socket(address(), server.port)
    with FakeServer("silent") as server:
        started = time.monotonic()
        report = net.inspect_tls(endpoint(server), address(), net.client_context(verify=False))
        assert report.status == "no-tls" and "no answer within 0.5s" in report.detail
        assert time.monotonic() - started < 3


def test_harbor_is_named(pki):
    with tls_server(pki, "server", mode="harbor") as server:
        ep = endpoint(server)
        ctx = net.client_context(verify=False)
        api = rhttp.inspect_api(ep, server.port, lambda: net.handshake(ep, address(), ctx))
    assert api["status"] == 401 and api["product"] == "Harbor v2.10.0"
    assert api["auth"]["realm"] == "https://auth.test/service/token"


def test_resolution_failures_are_bounded(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(EnvironmentProblem, match="cannot resolve r.test: Name or service"):
        net.resolve("r.test")

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(5))
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem, match="no answer within 0.2s"):
        net.resolve("r.test", timeout=0.2)
    assert time.monotonic() - started < 1


def test_every_address_is_tried_at_once():
    port = closed_port()
    addresses = net.resolve("127.0.0.1") + net.resolve("127.0.0.2")
    results = net.reachability(addresses, port)
    assert [r["error"] for r in results] == ["connection refused"] * 2
    with pytest.raises(EnvironmentProblem, match="connection refused"):
        net.first_open(net.parse_endpoint(f"127.0.0.1:{port}"), addresses, port)


# Recommendations -------------------------------------------------------------------------------


def report(status: str, pki=None, self_issued: bool = True) -> net.TlsReport:
    chain = []
    if pki is not None:
        name = "self" if self_issued else "server"
        chain = [certificate(pki.dir / f"{name}.pem")]
    return net.TlsReport(status, f"detail of {status}", "TLSv1.3", chain)


@pytest.mark.parametrize(
    "scheme, status, entry, works, command",
    [
        ("http", "no-tls", None, False, "dockercfg add-insecure r.test:5000"),
        ("http", "no-tls", "r.test:5000", True, None),
        ("https", "ok", None, True, None),
        ("https", "ok", "r.test:5000", True, None),
        ("https", "self-signed", None, False, "dockercfg trust-ca r.test:5000 --from-server"),
        ("https", "unknown-ca", "r.test:5000", True, "dockercfg trust-ca r.test:5000 --ca CA.pem"),
        ("https", "unknown-ca", "10.0.0.0/8", True, "dockercfg trust-ca r.test:5000 --ca CA.pem"),
        ("https", "unknown-ca", "127.0.0.0/8", True, None),  # loopback: never verified
        ("https", "expired", None, False, None),
        ("https", "hostname-mismatch", None, False, None),
    ],
)
def test_recommend(pki, scheme, status, entry, works, command):
    ep = net.parse_endpoint("r.test:5000")
    tls = report(status, pki, self_issued=status != "unknown-ca")
    api = {"status": 200, "api_version": "registry/2.0", "auth": None, "registry": True}
    daemon = {"insecure": entry is not None, "entry": entry}
    got_works, says, advice, notes = probe.recommend(ep, scheme, tls, api, daemon)
    assert got_works is works
    assert (says is None) is works
    assert (advice["command"] if advice else None) == command
    if entry == "r.test:5000" and status == "unknown-ca":
        assert "it will after `dockercfg remove-insecure r.test:5000`" in advice["reason"]
    if entry == "10.0.0.0/8":
        assert "it will once 10.0.0.0/8 is out of insecure-registries" in advice["reason"]
    if entry == "127.0.0.0/8":
        assert "always treats 127.0.0.0/8 as insecure" in notes[-1]
    if status == "hostname-mismatch":
        assert says == "x509: certificate is valid for localhost, not r.test"  # as Go: DNS only


def test_recommend_client_certificate():
    ep = net.parse_endpoint("r.test:5000")
    api = {"registry": None, "error": "tlsv13 alert certificate required"}
    works, _says, advice, notes = probe.recommend(ep, "https", report("ok"), api,
                                                  {"insecure": False})  # fmt: skip
    assert not works and advice["command"].endswith("--client-cert FILE --client-key FILE")


# The commands end to end (subprocess, on a --root: no live daemon is asked) ----------------


def tool(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    cmd = [sys.executable, "-m", "dockercfg", *args, "--root", str(root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def test_probe_command_json_and_text(pki, root):
    with tls_server(pki, "chain", key="server") as server:
        name = f"127.0.0.1:{server.port}"
        proc = tool(root, "probe", name, "--json")
        text = tool(root, "probe", name)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    data = result["data"]
    assert result["command"] == "probe" and result["changed"] is False
    assert data["tls"]["status"] == "unknown-ca" and data["scheme"] == "https"
    assert data["daemon"]["insecure"] is True  # 127.0.0.0/8 is built in
    assert "127.0.0.0/8" in data["daemon"]["reason"]
    assert data["works_today"] is True and data["recommendation"] is None
    assert "always treats 127.0.0.0/8 as insecure" in data["notes"][-1]
    assert text.returncode == 0 and "recommendation: nothing to do" in text.stdout
    assert "SHA-256:" in text.stdout and "tls: TLSv1.3, unknown-ca" in text.stdout


@pytest.mark.parametrize(
    "mode, words",
    [("banner", "SSH"), ("silent", "neither TLS"), ("web", "not a registry"), (None, "refused")],
)
def test_probe_command_failures(root, mode, words):
    started = time.monotonic()
    if mode is None:
        proc = tool(root, "probe", f"127.0.0.1:{closed_port()}")
    else:
        with FakeServer(mode) as server:
            proc = tool(root, "probe", f"127.0.0.1:{server.port}")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert time.monotonic() - started < 15


def test_trust_ca_checks_the_live_server(pki, root, full_chain):
    def directory(port: int) -> Path:
        return root / "etc/docker/certs.d" / f"127.0.0.1:{port}"

    with tls_server(pki, "chain", key="server") as server:
        name = f"127.0.0.1:{server.port}"
        wrong = tool(root, "trust-ca", name, "--ca", str(pki.dir / "other.pem"))
        assert wrong.returncode == 1 and "does not verify" in wrong.stderr, wrong.stderr
        assert not (root / "etc/docker/certs.d").exists()

        asked = tool(root, "trust-ca", name, "--from-server")
        fingerprint = certificate(pki.dir / "ca.pem").sha256
        assert asked.returncode == 2 and fingerprint in asked.stderr, asked.stderr
        assert not (root / "etc/docker/certs.d").exists()

        done = tool(root, "trust-ca", name, "--from-server", "--yes", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["verified"] is True and result["data"]["server"]["status"] == "ok"
        assert "127.0.0.0/8), so it neither checks" in result["warnings"][-1]
        assert "it never will: 127.0.0.0/8 is insecure by design" in result["warnings"][-1]
        assert (directory(server.port) / "ca.crt").read_bytes() == (pki.dir / "ca.pem").read_bytes()

        # already trusted: no question asked, nothing written
        again = tool(root, "trust-ca", name, "--from-server", "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False

    with tls_server(pki, "expired") as server:
        proc = tool(root, "trust-ca", f"127.0.0.1:{server.port}", "--ca", str(pki.dir / "ca.pem"))
        assert proc.returncode == 1 and "expired" in proc.stderr, proc.stderr
        assert not directory(server.port).exists()

    with RealRegistry(pki.dir) as server:
        proc = tool(root, "trust-ca", f"127.0.0.1:{server.port}", "--ca", str(pki.dir / "ca.pem"))
        assert proc.returncode == 3 and "add-insecure" in proc.stderr, proc.stderr

    port = closed_port()
    proc = tool(root, "trust-ca", f"127.0.0.1:{port}", "--ca", str(pki.dir / "ca.pem"))
    assert proc.returncode == 3 and "--offline" in proc.stderr, proc.stderr
    assert not directory(port).exists()


def test_from_server_asks_a_person(pki, root):
    from dockercfg.detect import Options
    from dockercfg.trust import trust_ca

    opts = Options(root=root)
    asked = []
    with tls_server(pki, "self") as server:
        name = f"127.0.0.1:{server.port}"
        with pytest.raises(UsageError, match="not confirmed"):
            trust_ca(opts, name, from_server=True, confirm=lambda q: asked.append(q) or False)
        assert not (root / "etc/docker/certs.d").exists()
        result = trust_ca(opts, name, from_server=True, confirm=lambda q: asked.append(q) or True)
    fingerprint = certificate(pki.dir / "self.pem").sha256
    assert len(asked) == 2 and fingerprint in asked[0] and asked[0].endswith(f"for {name}?")
    assert result.changed and result.verified
    written = root / "etc/docker/certs.d" / name / "ca.crt"
    assert written.read_bytes() == (pki.dir / "self.pem").read_bytes()
