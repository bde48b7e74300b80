"""probe, trust-ca and untrust-ca against the real sandbox dockerd and real registries.

Besides the sandbox's plain-HTTP registry (registry.test:5000), a module fixture starts real
docker-registry processes serving TLS inside the sandbox's network namespace, each with
certificates made here with openssl: a private CA's chain (5443, sending its CA too, as many
servers do), the same demanding a client certificate (5446), and one per thing that goes wrong
with a certificate (CERT_CASES: expired, not yet valid, for another host, self-signed, signed by
a CA it does not send), and the machine's real sshd on 2222 (real_sshd.py). The tool
runs in that namespace too, so only its loopback is used. Like every sandbox test, the story runs
once per dockerd version (conftest.py).
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hostsetup import run, wait_until
from real_sshd import start_sshd
from sandbox import REGISTRY, REPO
from support import RESULT_KEYS
from tls_registry import PORT_OPEN, Pki, start_registry

pytestmark = pytest.mark.integration

TLS_REGISTRY = "registry.test:5443"
MTLS_REGISTRY = "registry.test:5446"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
HTTP_ERROR = "server gave HTTP response to HTTPS client"
RELOAD_SIGNAL = "Got signal to reload configuration"
CERTS_D = Path("/etc/docker/certs.d")


# port, what probe reports, what the recommendation says; dockerd must fail the push saying what
# probe predicted ("docker_says").
CERT_CASES = {
    "expired": (5445, "expired", "renew the registry's certificate"),
    "not-yet-valid": (5448, "not-yet-valid", "check the clocks"),
    "wrong-host": (5449, "hostname-mismatch", "use a name the certificate is for"),
    "self-signed": (5447, "self-signed", "compare SHA-256"),
    "unknown-ca": (5450, "unknown-ca", "ask the registry's administrator for the CA"),
}


@pytest.fixture(scope="module")
def tls(sandbox):
    pki = Pki(sandbox.t / "pki")
    ns = SimpleNamespace(pki=pki, ca=pki.ca(), other_ca=pki.ca("other", cn="some other CA"))
    ns.old_ca = pki.ca("old", cn="an expired CA", days=(-800, -400))
    server = pki.server("server")
    ns.chain = pki.chain("server-chain", server, ns.ca)
    ns.client = pki.client()
    served = {  # the certificate each CERT_CASES registry serves (its key beside it)
        "expired": pki.server("expired", days=(-400, -30)),
        "not-yet-valid": pki.server("future", days=(10, 40)),
        "wrong-host": pki.server("elsewhere", names=("DNS:other.test", "IP:192.0.2.7")),
        "self-signed": pki.server("self", issuer=None),
        "unknown-ca": pki.server("unsent-ca", issuer="other"),  # the leaf alone, no CA sent
    }
    key = pki.dir / "server.key"
    procs = [
        start_registry(sandbox, "tls", 5443, ns.chain, key),
        start_registry(sandbox, "mtls", 5446, ns.chain, key, client_ca=ns.ca),
    ]
    for case, cert in served.items():
        procs.append(start_registry(sandbox, case, CERT_CASES[case][0], cert,
                                    cert.with_suffix(".key")))  # fmt: skip
    procs.append(start_sshd(sandbox, 2222))
    try:
        for port in (2222, 5443, 5446, *(spec[0] for spec in CERT_CASES.values())):
            sandbox.in_netns([sys.executable, "-c", PORT_OPEN, str(port)], timeout=40)
        yield ns
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def tool(sb, *args: str):
    """`dockercfg ARGS` inside the sandbox's network namespace; stdin is not a terminal."""
    cmd = ["nsenter", f"--net={sb.netns}", sys.executable, "-m", "dockercfg", *args]
    return run(cmd, env=sb.env, timeout=120, check=False, cwd=REPO, stdin=subprocess.DEVNULL)


def shown(proc) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def tool_json(sb, *args: str, code: int = 0) -> dict:
    proc = tool(sb, *args, "--json")
    assert proc.returncode == code, shown(proc)
    result = json.loads(proc.stdout)  # exactly one object, or this fails
    assert result.keys() >= RESULT_KEYS and result["command"] == args[0], shown(proc)
    assert (result["error"] is None) == (code == 0), shown(proc)
    return result


def one_line_error(proc, code: int) -> str:
    assert proc.returncode == code, shown(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, shown(proc)
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("dockercfg: "), shown(proc)
    return lines[0]


def fingerprint(pem: Path) -> str:
    out = run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"])
    return out.stdout.strip().split("=", 1)[1]


def der(pem: Path) -> bytes:
    cmd = ["openssl", "x509", "-in", str(pem), "-outform", "DER"]
    return subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout


def reloads(sb) -> int:
    return sb.dockerd_log().count(RELOAD_SIGNAL)


def file_state(path: Path) -> tuple | None:
    if not path.exists():
        return None
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns, stat.S_IMODE(info.st_mode)


# 1. probe tells the two real registries apart -----------------------------------------------


def test_probe_plain_http_registry(sb, tls):
    data = tool_json(sb, "probe", REGISTRY)["data"]

    assert data["addresses"] == ["::1"] and data["tcp"][0]["open"], data
    assert data["scheme"] == "http" and data["tls"]["status"] == "no-tls", data
    assert data["api"]["registry"] and data["api"]["api_version"] == "registry/2.0", data
    # dockerd 20.10 has only 127.0.0.0/8 built in: registry.test (::1) is secure
    assert data["daemon"]["insecure"] is False and data["daemon"]["source"] == "the running dockerd"
    assert data["works_today"] is False and data["docker_says"] == HTTP_ERROR, data
    assert data["recommendation"]["command"] == f"dockercfg add-insecure {REGISTRY}", data
    code, out = sb.push()  # and dockerd agrees
    assert code != 0 and HTTP_ERROR in out, out


def test_probe_tls_registry_with_a_private_ca(sb, tls):
    data = tool_json(sb, "probe", TLS_REGISTRY)["data"]

    assert data["scheme"] == "https" and data["tls"]["status"] == "unknown-ca", data
    leaf, top = data["tls"]["chain"][0], data["tls"]["chain"][-1]
    assert leaf["subject"] == "CN=registry.test" and leaf["names"] == ["DNS:registry.test"]
    assert leaf["sha256"] == fingerprint(tls.pki.dir / "server.pem"), leaf
    assert top["subject"] == "CN=dockercfg test CA" and top["sha256"] == fingerprint(tls.ca)
    assert data["api"]["status"] == 200 and data["api"]["api_version"] == "registry/2.0"
    assert data["daemon"]["insecure"] is False and data["works_today"] is False, data
    assert data["docker_says"] == UNKNOWN_AUTHORITY
    assert data["recommendation"]["command"] == f"dockercfg trust-ca {TLS_REGISTRY} --from-server"
    code, out = sb.push(f"{TLS_REGISTRY}/x")
    assert code != 0 and UNKNOWN_AUTHORITY in out, out

    text = tool(sb, "probe", TLS_REGISTRY)
    assert text.returncode == 0, shown(text)
    assert f"recommendation: dockercfg trust-ca {TLS_REGISTRY} --from-server" in text.stdout


@pytest.mark.parametrize("case", list(CERT_CASES))
def test_probe_says_what_dockerd_says_about_each_bad_certificate(sb, tls, case):
    port, status, words = CERT_CASES[case]
    registry = f"registry.test:{port}"

    data = tool_json(sb, "probe", registry)["data"]

    assert data["scheme"] == "https" and data["tls"]["status"] == status, data
    assert data["api"]["api_version"] == "registry/2.0", data  # a real docker-registry answered
    assert data["works_today"] is False and words in data["recommendation"]["reason"], data
    trusting_helps = status in ("self-signed", "unknown-ca")
    assert (data["recommendation"]["command"] is not None) == trusting_helps, data
    if case == "wrong-host":
        wanted = "x509: certificate is valid for other.test, not registry.test"  # Go: DNS SANs only
        assert data["docker_says"] == wanted, data
    code, out = sb.push(f"{registry}/x")  # the real dockerd fails, in the words probe predicted
    assert code != 0 and data["docker_says"] in out, (data["docker_says"], out)


def test_a_self_signed_registry_is_trusted_from_the_server(sb, tls):
    registry = "registry.test:5447"
    result = tool_json(sb, "trust-ca", registry, "--from-server", "--yes")

    assert result["changed"] is True and result["verified"] is True, result
    assert der(CERTS_D / registry / "ca.crt") == der(tls.pki.dir / "self.pem")
    code, out = sb.push(f"{registry}/x")
    assert code == 0, out
    assert tool_json(sb, "probe", registry)["data"]["tls"]["status"] == "ok"
    assert tool_json(sb, "untrust-ca", registry)["changed"] is True
    code, out = sb.push(f"{registry}/x")
    assert code != 0 and UNKNOWN_AUTHORITY in out, out


def test_a_registry_that_does_not_send_its_ca(sb, tls):
    registry = "registry.test:5450"
    leaf_only = tool(sb, "trust-ca", registry, "--from-server", "--yes")  # what it can, said so
    assert leaf_only.returncode == 0, shown(leaf_only)
    assert "does not send its root CA" in leaf_only.stderr, shown(leaf_only)
    assert "not a CA" in leaf_only.stderr, shown(leaf_only)
    assert der(CERTS_D / registry / "ca.crt") == der(tls.pki.dir / "unsent-ca.pem")
    assert tool_json(sb, "untrust-ca", registry)["changed"] is True

    result = tool_json(sb, "trust-ca", registry, "--ca", str(tls.other_ca))  # the real fix

    assert result["verified"] is True and result["data"]["written"] == ["ca.crt"], result
    assert der(CERTS_D / registry / "ca.crt") == der(tls.other_ca)
    code, out = sb.push(f"{registry}/x")
    assert code == 0, out
    assert tool_json(sb, "untrust-ca", registry)["changed"] is True


# 2. The story: trust-ca, and the push works with no reload and no restart ------------------


def test_trust_ca_lets_docker_push_with_no_reload_and_no_restart(sb, tls):
    container = sb.run_container()
    started, pid, signals = sb.started_at(container), sb.dockerd_pid(), reloads(sb)
    code, out = sb.push(f"{TLS_REGISTRY}/x")
    assert code != 0 and UNKNOWN_AUTHORITY in out, out

    result = tool_json(sb, "trust-ca", TLS_REGISTRY, "--ca", str(tls.ca))

    ca_crt = CERTS_D / TLS_REGISTRY / "ca.crt"
    assert result["changed"] is True and result["verified"] is True, result
    assert result["file"] == str(ca_crt) and result["applied"] is None, result
    assert result["data"]["reload_needed"] is False and result["data"]["written"] == ["ca.crt"]
    assert stat.S_IMODE(ca_crt.stat().st_mode) == 0o644
    assert der(ca_crt) == der(tls.ca)
    code, out = sb.push(f"{TLS_REGISTRY}/x")
    assert code == 0, out
    code, out = sb.pull(f"{TLS_REGISTRY}/x")
    assert code == 0, out
    assert sb.dockerd_pid() == pid and reloads(sb) == signals
    assert sb.running(container) and sb.started_at(container) == started

    data = tool_json(sb, "probe", TLS_REGISTRY)["data"]
    assert data["tls"]["status"] == "ok" and data["works_today"] is True, data
    assert data["recommendation"] is None, data

    before = file_state(ca_crt)
    again = tool_json(sb, "trust-ca", TLS_REGISTRY, "--ca", str(tls.ca))
    assert again["changed"] is False and file_state(ca_crt) == before, again

    removed = tool_json(sb, "untrust-ca", TLS_REGISTRY)
    assert removed["changed"] is True and Path(removed["backup"]).is_file(), removed
    assert not ca_crt.exists()
    code, out = sb.push(f"{TLS_REGISTRY}/x")  # read on every connection: untrusted at once
    assert code != 0 and UNKNOWN_AUTHORITY in out, out
    assert sb.dockerd_pid() == pid and sb.started_at(container) == started
    assert tool_json(sb, "untrust-ca", TLS_REGISTRY)["changed"] is False


def test_from_server_shows_the_fingerprint_and_wants_yes(sb, tls):
    proc = tool(sb, "trust-ca", TLS_REGISTRY, "--from-server")

    line = one_line_error(proc, 2)
    assert fingerprint(tls.ca) in line and "--yes" in line, line
    assert not CERTS_D.exists()

    result = tool_json(sb, "trust-ca", TLS_REGISTRY, "--from-server", "--yes")

    assert result["changed"] is True and result["verified"] is True, result
    assert [c["sha256"] for c in result["data"]["ca"]] == [fingerprint(tls.ca)]  # the root
    assert der(CERTS_D / TLS_REGISTRY / "ca.crt") == der(tls.ca)
    code, out = sb.push(f"{TLS_REGISTRY}/y")
    assert code == 0, out


def test_client_certificate_for_mutual_tls(sb, tls):
    key = tls.pki.dir / "client.key"
    proc = tool(sb, "trust-ca", MTLS_REGISTRY, "--ca", str(tls.ca))
    assert "client certificate" in one_line_error(proc, 3), shown(proc)
    assert not CERTS_D.exists()
    code, out = sb.push(f"{MTLS_REGISTRY}/x")
    assert code != 0, out

    result = tool_json(sb, "trust-ca", MTLS_REGISTRY, "--ca", str(tls.ca),
                       "--client-cert", str(tls.client), "--client-key", str(key))  # fmt: skip

    directory = CERTS_D / MTLS_REGISTRY
    assert sorted(result["data"]["written"]) == ["ca.crt", "client.cert", "client.key"], result
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir() if p.is_file()}
    assert modes == {"ca.crt": 0o644, "client.cert": 0o644, "client.key": 0o600}, modes
    code, out = sb.push(f"{MTLS_REGISTRY}/x")
    assert code == 0, out


# 3. Bad input: a clear line, the documented exit code, nothing written ----------------------

BAD = {
    "expired CA file": (1, "expired", ["trust-ca", TLS_REGISTRY, "--ca", "{old_ca}"]),
    "private key as --ca": (1, "private key", ["trust-ca", TLS_REGISTRY, "--ca", "{key}"]),
    "not PEM": (1, "not a certificate", ["trust-ca", TLS_REGISTRY, "--ca", "{garbage}"]),
    "a CA that does not sign it": (
        1,
        "does not verify",
        ["trust-ca", TLS_REGISTRY, "--ca", "{other_ca}"],
    ),  # fmt: skip
    "expired server certificate": (
        1,
        "expired",
        ["trust-ca", "registry.test:5445", "--ca", "{ca}"],
    ),
    "server certificate not yet valid": (
        1,
        "not valid before",
        ["trust-ca", "registry.test:5448", "--ca", "{ca}"],
    ),
    "server certificate for another host": (
        1,
        "not registry.test",
        ["trust-ca", "registry.test:5449", "--ca", "{ca}"],
    ),
    "unreachable port, probe": (3, "connection refused", ["probe", "registry.test:5999"]),
    "unreachable port, trust": (
        3,
        "connection refused",
        ["trust-ca", "registry.test:5999", "--ca", "{ca}"],
    ),  # fmt: skip
    "unknown name": (3, "cannot resolve", ["probe", "nosuch.test:5000"]),
    "SSH banner, probe": (3, "SSH", ["probe", "registry.test:2222"]),
    "SSH banner, trust": (3, "SSH", ["trust-ca", "registry.test:2222", "--ca", "{ca}"]),
    "plain HTTP, trust": (3, "add-insecure", ["trust-ca", REGISTRY, "--ca", "{ca}"]),
    "a URL, not a registry": (2, "HOST[:PORT]", ["probe", "https://registry.test:5443"]),
    "no CA given": (2, "--ca FILE", ["trust-ca", TLS_REGISTRY]),
    "missing --ca file": (2, "no such file", ["trust-ca", TLS_REGISTRY, "--ca", "{missing}"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_and_nothing_is_written(sb, tls, case):
    code, word, template = BAD[case]
    garbage = sb.t / "garbage.pem"
    garbage.write_bytes(b"this is not a certificate\n\x00\x01\x02")
    values = {"old_ca": tls.old_ca, "key": tls.pki.dir / "ca.key", "garbage": garbage,
              "other_ca": tls.other_ca, "ca": tls.ca, "missing": sb.t / "missing.pem"}  # fmt: skip
    args = [arg.format(**values) for arg in template]
    etc_before = sorted(p.name for p in Path("/etc/docker").iterdir())

    started = time.monotonic()
    proc = tool(sb, *args)
    elapsed = time.monotonic() - started

    line = one_line_error(proc, code)
    assert word in line, line
    assert elapsed < 20, f"took {elapsed:.1f}s"
    assert sorted(p.name for p in Path("/etc/docker").iterdir()) == etc_before
    assert not CERTS_D.exists()
    result = tool_json(sb, *args, code=code)
    assert word in result["error"] and result["changed"] is False, result
    wait_until(lambda: not CERTS_D.exists(), 1, "nothing written")
