"""verify.round_trip against the real dockerds (20.10 and 26.1): what the daemon's own registry
client says decides `reachable`, separately from `live` (the /info listing)."""

from __future__ import annotations

import json
import time

import pytest
from sandbox import REGISTRY
from tls_registry import Pki, start_registry

from dockercfg.verify import round_trip

pytestmark = pytest.mark.integration

CLOSED = "registry.test:5001"  # listed, but nothing listens there
TLS = "registry.test:5443"


def socket(sb) -> str:
    return str(sb.t / "docker.sock")


def insecure(sb, *names: str) -> None:
    sb.daemon_json.write_text(json.dumps({"insecure-registries": list(names)}) + "\n")
    sb.systemctl("reload", "docker.service")
    deadline = time.monotonic() + 10
    while not set(names) <= set(sb.insecure_live()):
        assert time.monotonic() < deadline, sb.insecure_live()
        time.sleep(0.05)


def test_a_registry_that_is_not_insecure_is_not_reached(sb):
    found = round_trip(socket(sb), REGISTRY, timeout=20)
    assert (found.reachable, found.kind) == (False, "not-https"), found
    assert "server gave HTTP response to HTTPS client" in found.said
    assert f"dockercfg add-insecure {REGISTRY}" in found.hint


def test_once_insecure_the_daemon_reaches_it_and_the_registry_answers(sb):
    insecure(sb, REGISTRY)
    found = round_trip(socket(sb), REGISTRY, timeout=20)
    assert (found.reachable, found.kind, found.hint) == (True, "reached", None), found
    assert "manifest unknown" in found.said


def test_live_but_unreachable_says_what_the_daemon_saw(sb):
    insecure(sb, REGISTRY, CLOSED)
    assert CLOSED in sb.insecure_live()  # live: the config took
    found = round_trip(socket(sb), CLOSED, timeout=20)
    assert (found.reachable, found.kind) == (False, "network"), found
    assert "connection refused" in found.said and f"dockercfg probe {CLOSED}" in found.hint


def test_an_unknown_ca_is_a_tls_failure(sb):
    pki = Pki(sb.t / "pki-round-trip")
    ca = pki.ca()
    chain = pki.chain("chain", pki.server("server"), ca)
    proc = start_registry(sb, "round-trip", 5443, chain, pki.dir / "server.key")
    try:
        deadline = time.monotonic() + 30
        while True:
            found = round_trip(socket(sb), TLS, timeout=20)
            if found.kind != "network" or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # the registry is still starting
        assert (found.reachable, found.kind) == (False, "tls"), found
        assert "x509" in found.said and "trust-ca" in found.hint
        cert_dir = sb.daemon_json.parent / "certs.d" / TLS
        cert_dir.mkdir(parents=True)
        (cert_dir / "ca.crt").write_bytes(ca.read_bytes())  # read on each use: no reload
        found = round_trip(socket(sb), TLS, timeout=20)
        assert (found.reachable, found.kind) == (True, "reached"), found
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_cidr_has_no_host_to_try(sb):
    found = round_trip(socket(sb), "10.1.0.0/16", timeout=5)
    assert (found.reachable, found.kind) == (None, "cidr"), found
    assert "no host to try" in found.said


def test_no_daemon_is_not_known_rather_than_unreachable(sb, tmp_path):
    found = round_trip(str(tmp_path / "none.sock"), REGISTRY, timeout=5)
    assert (found.reachable, found.kind) == (None, "unknown"), found
    assert "does not exist" in found.said
